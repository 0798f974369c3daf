package plexauth

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-plexauth/caddy-plexauth/internal/plextv"
)

// Every sign-in costs calls to plex.tv: one pin creation at {prefix}/start,
// then a check of the pin each time {prefix}/poll or {prefix}/callback is
// asked. plex.tv answers 429 to a client identifier that pushes (Ombi saw
// it for two pins polled once a second, Ombi issue #5233), and then nobody
// signs in. So the calls browsers cause are limited here, before plex.tv:
//
//   - per client (Caddy's client_ip, which honours trusted_proxies; an IPv6
//     client counts by its /64, which one household gets whole), with
//     separate budgets for creations and checks, so one client cannot use
//     up what everyone shares;
//   - for all clients together, per client identifier, as the last bound on
//     what plex.tv sees from this installation; that budget is shared
//     fairly: a client that took from it lately yields to one that has not
//     (fairness below), so many addresses hammering cannot starve a
//     newcomer;
//   - per pin: checks of one pin are coalesced, at most one plex.tv call a
//     second whoever asks, and those who ask meanwhile share its answer;
//   - per client again, at most maxOpenPins sign-ins in progress at once,
//     and a pin known to have ended is answered here, without plex.tv or any
//     budget (pinledger.go).
//
// A call refused by any of these still costs the client its own token:
// otherwise hammering past the shared budget would cost nothing. A request
// over a limit gets 429 with Retry-After; the log sums refusals up instead
// of writing a line each.

// limit is a token bucket's shape: burst calls at once, refilled at rate a
// second.
type limit struct {
	rate  float64
	burst float64
}

var (
	// A person signs in with one pin; ten allow for retries and for a few
	// people behind one address.
	clientCreates = limit{rate: 6.0 / 60, burst: 10}
	// A waiting sign-in is checked about once a second (the popup polls
	// every second, the waiting page reloads every two).
	clientChecks = limit{rate: 2, burst: 30}
	// What all clients together may ask of plex.tv.
	sharedCreates = limit{rate: 5, burst: 50}
	sharedChecks  = limit{rate: 10, burst: 50}

	// How the shared budgets are shared. A client's own budget lets it ask
	// for a creation about every 10 s and a check every 0.5 s once its
	// burst is spent, so the horizons are several of those intervals: a
	// client hammering at its own rate always finds most of the reserve
	// closed to it, while one that has not taken for the horizon (a person
	// starting a sign-in, or polling the pin they just approved) may take
	// the last token. The reserves leave room above them for a client alone
	// to spend its own burst at once from a bucket others have dipped
	// into: fairness must not cost anyone anything while no one competes.
	createFairness = fairness{reserve: 30, horizon: time.Minute}
	checkFairness  = fairness{reserve: 15, horizon: 10 * time.Second}
)

// fairness shares a bucket among clients: a client that last took from it
// age ago may take only while more than 1 + reserve×(1 − age/horizon)
// tokens are left, so under contention the refill goes to whoever has gone
// longest without, and a client new to the bucket (or back after the
// horizon) is served next. It only ever refuses: what the bucket lets
// through stays within its rate × time + burst.
type fairness struct {
	reserve float64
	horizon time.Duration
}

// floor is what a client that took age ago must leave in the bucket.
func (f fairness) floor(age time.Duration) float64 {
	if age >= f.horizon || f.horizon <= 0 {
		return 0
	}
	return f.reserve * (1 - float64(age)/float64(f.horizon))
}

// never is the age of a client that has not taken from a bucket.
const never = time.Duration(1<<63 - 1)

const (
	// maxClients bounds each per-client table (tens of bytes an entry).
	maxClients = 1 << 14
	// pinCheckEvery is how often plex.tv is asked about one pin at most.
	pinCheckEvery = time.Second
	// refusalLogEvery is how often refusals are summed up in the log.
	refusalLogEvery = 10 * time.Second
)

// limitError is a sign-in call refused here, before plex.tv.
type limitError struct {
	during     string        // "creating pin" or "checking pin"
	shared     bool          // the budget all clients share ran out, not this client's own
	inProgress bool          // the client has maxOpenPins sign-ins in progress
	wait       time.Duration // until the refused call would be allowed
}

func (e *limitError) Error() string {
	if e.inProgress {
		return "local sign-in limit: this client has " + strconv.Itoa(maxOpenPins) + " sign-ins in progress"
	}
	scope := "this client's"
	if e.shared {
		scope = "all clients'"
	}
	return "local sign-in limit: " + scope + " budget for " + e.during + " is spent"
}

// retryAfter is the wait in whole seconds, at least one.
func (e *limitError) retryAfter() int {
	s := int((e.wait + time.Second - 1) / time.Second)
	return max(s, 1)
}

// message says it for people.
func (e *limitError) message() string {
	n := e.retryAfter()
	unit := " seconds."
	if n == 1 {
		unit = " second."
	}
	return "Too many sign-in attempts, try again in " + strconv.Itoa(n) + unit
}

// bucket is a token bucket. The zero value is empty; newBucket is full.
type bucket struct {
	tokens float64
	last   time.Time
}

func newBucket(l limit, now time.Time) bucket { return bucket{tokens: l.burst, last: now} }

func (b *bucket) refill(l limit, now time.Time) {
	if now.After(b.last) {
		b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
		b.last = now
	}
}

// take spends a token, or says how long until there is one.
func (b *bucket) take(l limit, now time.Time) (bool, time.Duration) {
	b.refill(l, now)
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

// full tells whether the bucket has refilled: it then says nothing a new
// bucket would not.
func (b *bucket) full(l limit, now time.Time) bool {
	return b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst
}

// sharedBucket is one bucket for everyone, shared by f.
type sharedBucket struct {
	l  limit
	f  fairness
	mu sync.Mutex
	b  bucket
}

func newSharedBucket(l limit, f fairness, now time.Time) *sharedBucket {
	return &sharedBucket{l: l, f: f, b: newBucket(l, now)}
}

// take spends a token for a client that last took one age ago (never if
// it has not), or says how long until it could.
func (s *sharedBucket) take(now time.Time, age time.Duration) (bool, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.refill(s.l, now)
	need := 1 + s.f.floor(age)
	if s.b.tokens >= need {
		s.b.tokens--
		return true, 0
	}
	return false, time.Duration((need - s.b.tokens) / s.l.rate * float64(time.Second))
}

// clientEntry is a client's own bucket and when it last took from the
// shared one.
type clientEntry struct {
	bucket
	shared time.Time // zero: never
}

// clientBuckets is a bucket per client, at most max of them.
type clientBuckets struct {
	l   limit
	max int
	mu  sync.Mutex
	m   map[netip.Addr]clientEntry
}

func newClientBuckets(l limit, max int) *clientBuckets {
	return &clientBuckets{l: l, max: max, m: make(map[netip.Addr]clientEntry)}
}

// take spends a token of client's own budget.
func (c *clientBuckets) take(client netip.Addr, now time.Time) (bool, time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[client]
	if !ok {
		if len(c.m) >= c.max {
			c.shrink(now)
		}
		e = clientEntry{bucket: newBucket(c.l, now)}
	}
	allowed, wait := e.take(c.l, now)
	c.m[client] = e
	return allowed, wait
}

// sharedAge is how long ago client last took from the shared budget, or
// never.
func (c *clientBuckets) sharedAge(client netip.Addr, now time.Time) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[client]; ok && !e.shared.IsZero() {
		return max(now.Sub(e.shared), 0)
	}
	return never
}

// tookShared notes that client took from the shared budget at now.
func (c *clientBuckets) tookShared(client netip.Addr, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[client]; ok {
		e.shared = now
		c.m[client] = e
	}
}

// shrink makes room in a full table: first by forgetting clients whose
// bucket has refilled, which loses nothing; then, when the table is full of
// clients that are spending (only many addresses at once do that), by
// forgetting any of them, one sixteenth of the table at a time so the sweep
// stays rare. A client forgotten that way starts afresh, as it could from a
// new address anyway; the shared budget still bounds them all.
func (c *clientBuckets) shrink(now time.Time) {
	for k, e := range c.m {
		if e.full(c.l, now) {
			delete(c.m, k)
		}
	}
	for k := range c.m {
		if len(c.m) <= c.max-c.max/16-1 {
			break
		}
		delete(c.m, k)
	}
}

func (c *clientBuckets) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// pinCall is one plex.tv check of a pin; done closes when pin and err are set.
type pinCall struct {
	started  time.Time
	finished bool
	done     chan struct{}
	pin      *plextv.Pin
	err      error
}

// pinChecks coalesces the checks of each pin.
type pinChecks struct {
	mu    sync.Mutex
	calls map[int64]*pinCall
	swept time.Time
}

// check answers what plex.tv says of pin id, asking it at most once per
// pinCheckEvery: an asker finding a call in flight waits for it, one
// finding a call finished less than pinCheckEvery after it started gets its
// answer. allow is asked only when a call is to be made; its refusal is
// this asker's alone. The call runs detached from the asker's context
// (call bounds it with its own timeout), so an asker going away does not
// fail the others.
func (p *pinChecks) check(ctx context.Context, id int64, allow func(now time.Time) error, call func(context.Context) (*plextv.Pin, error)) (*plextv.Pin, error) {
	now := time.Now()
	p.mu.Lock()
	c := p.calls[id]
	if c != nil && c.finished && now.Sub(c.started) < pinCheckEvery {
		p.mu.Unlock()
		return c.pin, c.err
	}
	if c != nil && !c.finished {
		p.mu.Unlock()
		select {
		case <-c.done:
			return c.pin, c.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if err := allow(now); err != nil {
		p.mu.Unlock()
		return nil, err
	}
	p.sweep(now)
	c = &pinCall{started: now, done: make(chan struct{})}
	p.calls[id] = c
	p.mu.Unlock()

	// Finished even if call panics, so no one waits on it for ever.
	var pin *plextv.Pin
	err := errors.New("pin check did not finish")
	defer func() {
		p.mu.Lock()
		c.pin, c.err, c.finished = pin, err, true
		p.mu.Unlock()
		close(c.done)
	}()
	pin, err = call(context.WithoutCancel(ctx))
	return pin, err
}

// sweep drops answers too old to share, at most once per pinCheckEvery.
// The table holds only pins asked about in the last second or so, and
// each new entry passed the shared check budget.
func (p *pinChecks) sweep(now time.Time) {
	if now.Sub(p.swept) < pinCheckEvery {
		return
	}
	p.swept = now
	for id, c := range p.calls {
		if c.finished && now.Sub(c.started) >= pinCheckEvery {
			delete(p.calls, id)
		}
	}
}

// refusalLog writes the first refusal of a quiet spell at once and sums up
// the ones after it in one line per refusalLogEvery while they last: a
// flood of refusals would otherwise be a flood of log lines.
type refusalLog struct {
	mu         sync.Mutex
	timer      *time.Timer
	logger     *zap.Logger
	creates    int
	checks     int
	shared     int
	inProgress int
	last       netip.Addr
}

func (l *refusalLog) note(logger *zap.Logger, e *limitError, client netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.logger = logger
	if l.timer == nil {
		logger.Warn("sign-in refused by a local rate limit, not by plex.tv; further refusals are summed up every 10s",
			zap.String("during", e.during),
			zap.Bool("all_clients", e.shared),
			zap.Bool("sign_ins_in_progress", e.inProgress),
			zap.String("client_ip", addrString(client)),
			zap.Int("retry_after", e.retryAfter()))
		l.timer = time.AfterFunc(refusalLogEvery, l.flush)
		return
	}
	if e.during == duringCreate {
		l.creates++
	} else {
		l.checks++
	}
	if e.shared {
		l.shared++
	}
	if e.inProgress {
		l.inProgress++
	}
	l.last = client
}

// flush writes the summary of the last refusalLogEvery, if anything was
// refused in it, and then waits for the next.
func (l *refusalLog) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.timer == nil:
		return // stopped
	case l.creates+l.checks == 0:
		l.timer = nil // quiet: the next refusal is logged at once
		return
	}
	l.summary()
	l.timer.Reset(refusalLogEvery)
}

func (l *refusalLog) summary() {
	l.logger.Warn("sign-ins refused by local rate limits, not by plex.tv",
		zap.Int("refused", l.creates+l.checks),
		zap.Int("pin_creations", l.creates),
		zap.Int("pin_checks", l.checks),
		zap.Int("over_all_clients_budget", l.shared),
		zap.Int("sign_ins_in_progress", l.inProgress),
		zap.String("last_client_ip", addrString(l.last)),
		zap.Duration("over", refusalLogEvery))
	l.creates, l.checks, l.shared, l.inProgress = 0, 0, 0, 0
}

// stop writes what is left to sum up and stops the timer.
func (l *refusalLog) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.timer == nil {
		return
	}
	l.timer.Stop()
	l.timer = nil
	if l.creates+l.checks > 0 {
		l.summary()
	}
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	if a.Is6() {
		return netip.PrefixFrom(a, 64).String()
	}
	return a.String()
}

const (
	duringCreate = "creating pin"
	duringCheck  = "checking pin"
)

// signinLimits is the state of all the limits for one client identifier at
// one plex.tv. It lives in limitsPool, so a config reload keeps the budgets
// (and a flood does not get a fresh start from one).
type signinLimits struct {
	createClients *clientBuckets
	checkClients  *clientBuckets
	createShared  *sharedBucket
	checkShared   *sharedBucket
	pins          pinChecks
	ledger        pinLedger
	refusals      refusalLog
}

var limitsPool = caddy.NewUsagePool()

func newSigninLimits(now time.Time) *signinLimits {
	return &signinLimits{
		createClients: newClientBuckets(clientCreates, maxClients),
		checkClients:  newClientBuckets(clientChecks, maxClients),
		createShared:  newSharedBucket(sharedCreates, createFairness, now),
		checkShared:   newSharedBucket(sharedChecks, checkFairness, now),
		pins:          pinChecks{calls: make(map[int64]*pinCall)},
		ledger:        newPinLedger(),
	}
}

// Destruct implements caddy.Destructor.
func (l *signinLimits) Destruct() error {
	l.refusals.stop()
	return nil
}

// allow spends one call of client's budget and of the shared one. A
// refusal by the shared budget costs the client its own token all the
// same.
func (l *signinLimits) allow(during string, client netip.Addr, now time.Time) *limitError {
	own, shared := l.createClients, l.createShared
	if during == duringCheck {
		own, shared = l.checkClients, l.checkShared
	}
	if ok, wait := own.take(client, now); !ok {
		return &limitError{during: during, wait: wait}
	}
	if ok, wait := shared.take(now, own.sharedAge(client, now)); !ok {
		return &limitError{during: during, shared: true, wait: wait}
	}
	own.tookShared(client, now)
	return nil
}

// allowCreate is allow for a new pin, which client may have only while it
// has fewer than maxOpenPins sign-ins in progress. replaced is the pin of
// the browser's earlier sign-in (zero if none), which the new one replaces
// and which so does not count. On nil, the caller must call created once
// plex.tv has answered. The own budget is spent first, so that refusals
// for pins in progress are not free either; the shared budget last, so
// that they cost plex.tv's budget nothing.
func (l *signinLimits) allowCreate(client netip.Addr, replaced pinRef, now time.Time) *limitError {
	if ok, wait := l.createClients.take(client, now); !ok {
		return &limitError{during: duringCreate, wait: wait}
	}
	if err := l.ledger.begin(client, replaced, now); err != nil {
		return err
	}
	if ok, wait := l.createShared.take(now, l.createClients.sharedAge(client, now)); !ok {
		l.ledger.cancel(client)
		return &limitError{during: duringCreate, shared: true, wait: wait}
	}
	l.createClients.tookShared(client, now)
	return nil
}

// limitsKey names the limits of a handler: plex.tv counts by client
// identifier, so blocks sharing one share the limits.
func limitsKey(plexTV, clientID string) string {
	return "plexauth-limits|" + plexTV + "|" + clientID
}

func (h *PlexAuth) provisionLimits() error {
	h.limitsKey = limitsKey(h.PlexTVURL, h.ClientID)
	v, _, err := limitsPool.LoadOrNew(h.limitsKey, func() (caddy.Destructor, error) {
		return newSigninLimits(time.Now()), nil
	})
	if err != nil {
		return err
	}
	h.limits = v.(*signinLimits)
	return nil
}

func (h *PlexAuth) cleanupLimits() {
	if h.limits != nil {
		_, _ = limitsPool.Delete(h.limitsKey)
	}
}

// clientKey is who the limits count r against: Caddy's client IP (the
// client_ip variable, which honours the trusted_proxies server option),
// IPv6 by its /64.
func clientKey(r *http.Request) netip.Addr {
	s, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
	if s == "" {
		s, _, _ = net.SplitHostPort(r.RemoteAddr)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}

// createPin asks plex.tv for a pin on behalf of r's client, which will
// replace the browser's earlier pin replaced (zero if none). The pin's
// state should live ttl.
func (h *PlexAuth) createPin(r *http.Request, replaced pinRef) (pin *plextv.Pin, ttl time.Duration, err error) {
	client := clientKey(r)
	if err := h.limits.allowCreate(client, replaced, time.Now()); err != nil {
		h.limits.refusals.note(h.logger, err, client)
		countSignIn(signInRateLimited)
		return nil, 0, err
	}
	pin, err = h.plex.CreatePin(r.Context())
	now := time.Now()
	if pin != nil {
		ttl = pinStateTTL(pin)
	}
	h.limits.ledger.created(client, pin, now.Add(ttl), replaced, now)
	return pin, ttl, err
}

// pinStateTTL is how long the sign-in of pin stays open: as long as
// plex.tv keeps the pin, at most maxStateTTL.
func pinStateTTL(pin *plextv.Pin) time.Duration {
	ttl := time.Duration(pin.ExpiresIn) * time.Second
	if ttl <= 0 || ttl > maxStateTTL {
		ttl = maxStateTTL
	}
	return ttl
}

// checkPin asks plex.tv about pin id on behalf of r's client, or shares
// the answer to someone else's asking.
func (h *PlexAuth) checkPin(r *http.Request, id int64) (*plextv.Pin, error) {
	client := clientKey(r)
	pin, err := h.limits.pins.check(r.Context(), id,
		func(now time.Time) error {
			if err := h.limits.allow(duringCheck, client, now); err != nil {
				return err // not a nil *limitError in a non-nil error
			}
			return nil
		},
		func(ctx context.Context) (*plextv.Pin, error) { return h.plex.CheckPin(ctx, id) })
	if le := asLimit(err); le != nil {
		h.limits.refusals.note(h.logger, le, client)
		countSignIn(signInRateLimited)
	}
	return pin, err
}

// tooMany answers a call refused by the limits: 429, Retry-After, and the
// given page saying how long to wait.
func (h *PlexAuth) tooMany(w http.ResponseWriter, r *http.Request, e *limitError, d pageData) {
	w.Header().Set("Retry-After", strconv.Itoa(e.retryAfter()))
	d.Title = "Too many sign-in attempts"
	d.RetryAfter = e.retryAfter()
	h.render(w, r, http.StatusTooManyRequests, "limited", d)
}

// tooManyJSON is tooMany for the login page's script.
func tooManyJSON(w http.ResponseWriter, e *limitError) {
	w.Header().Set("Retry-After", strconv.Itoa(e.retryAfter()))
	writeFlowJSON(w, http.StatusTooManyRequests, flowAnswer{Status: "limited", Message: e.message(), RetryAfter: e.retryAfter()})
}

// asLimit is the *limitError in err, or nil.
func asLimit(err error) *limitError {
	var le *limitError
	if errors.As(err, &le) {
		return le
	}
	return nil
}
