package plexauth

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-plexauth/caddy-plexauth/internal/plextv"
	"github.com/caddy-plexauth/caddy-plexauth/internal/signin"
)

// The sign-in limits (internal/signin) as the endpoints use them: who a
// request counts against, the calls to plex.tv they guard, and the answer
// to a refusal: 429 with Retry-After, a page or the popup's JSON saying how
// long to wait, a metric, and a log that sums refusals up instead of
// writing a line each.

// signinLimits is the state of all the limits for one client identifier at
// one plex.tv. It lives in limitsPool, so a config reload keeps the budgets
// (and a flood does not get a fresh start from one).
type signinLimits struct {
	*signin.Limits
	pins     signin.Checks[*plextv.Pin]
	refusals signin.RefusalLog
}

var limitsPool = caddy.NewUsagePool()

func newSigninLimits(now time.Time) *signinLimits {
	return &signinLimits{Limits: signin.New(now, maxStateTTL)}
}

// Destruct implements caddy.Destructor.
func (l *signinLimits) Destruct() error {
	l.refusals.Stop()
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
// as signin.Client counts it (IPv6 by its /64).
func clientKey(r *http.Request) netip.Addr {
	s, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
	if s == "" {
		s, _, _ = net.SplitHostPort(r.RemoteAddr)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	return signin.Client(a)
}

// createPin asks plex.tv for a pin on behalf of r's client, which will
// replace the browser's earlier pin replaced (zero if none). The pin's
// state should live ttl. A refusal by the limits is a *signin.Refusal.
func (h *PlexAuth) createPin(r *http.Request, replaced signin.PinRef) (pin *plextv.Pin, ttl time.Duration, err error) {
	client := clientKey(r)
	if err := h.limits.AllowCreate(client, replaced, time.Now()); err != nil {
		h.limits.refusals.Note(refusalLogger{h.logger}, err, client)
		countSignIn(signInRateLimited)
		return nil, 0, err
	}
	pin, err = h.plex.CreatePin(r.Context())
	now := time.Now()
	var made signin.PinRef
	if pin != nil {
		ttl = pinStateTTL(pin)
		made = signin.PinRef{ID: pin.ID, Code: pin.Code}
	}
	h.limits.Created(client, made, now.Add(ttl), replaced, now)
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
// the answer to someone else's asking. A refusal by the limits is a
// *signin.Refusal.
func (h *PlexAuth) checkPin(r *http.Request, id int64) (*plextv.Pin, error) {
	client := clientKey(r)
	pin, err := h.limits.pins.Check(r.Context(), id,
		func(now time.Time) error {
			if err := h.limits.AllowCheck(client, now); err != nil {
				return err // not a nil *signin.Refusal in a non-nil error
			}
			return nil
		},
		func(ctx context.Context) (*plextv.Pin, error) { return h.plex.CheckPin(ctx, id) })
	if le := asRefusal(err); le != nil {
		h.limits.refusals.Note(refusalLogger{h.logger}, le, client)
		countSignIn(signInRateLimited)
	}
	return pin, err
}

// tooMany answers a call refused by the limits: 429, Retry-After, and the
// given page saying how long to wait.
func (h *PlexAuth) tooMany(w http.ResponseWriter, r *http.Request, e *signin.Refusal, d pageData) {
	w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter()))
	d.Title = "Too many sign-in attempts"
	d.RetryAfter = e.RetryAfter()
	h.render(w, r, http.StatusTooManyRequests, "limited", d)
}

// tooManyJSON is tooMany for the login page's script.
func tooManyJSON(w http.ResponseWriter, e *signin.Refusal) {
	w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter()))
	writeFlowJSON(w, http.StatusTooManyRequests, flowAnswer{Status: "limited", Message: refusalMessage(e), RetryAfter: e.RetryAfter()})
}

// refusalMessage says a refusal for people.
func refusalMessage(e *signin.Refusal) string {
	n := e.RetryAfter()
	unit := " seconds."
	if n == 1 {
		unit = " second."
	}
	return "Too many sign-in attempts, try again in " + strconv.Itoa(n) + unit
}

// asRefusal is the *signin.Refusal in err, or nil.
func asRefusal(err error) *signin.Refusal {
	var le *signin.Refusal
	if errors.As(err, &le) {
		return le
	}
	return nil
}

// refusalLogger writes the lines of the refusal log (signin.RefusalLog
// decides when): they name the local limit, never plex.tv.
type refusalLogger struct{ logger *zap.Logger }

func (l refusalLogger) Refused(e *signin.Refusal, client netip.Addr) {
	l.logger.Warn("sign-in refused by a local rate limit, not by plex.tv; further refusals are summed up every 10s",
		zap.String("during", string(e.Call)),
		zap.Bool("all_clients", e.Shared),
		zap.Bool("sign_ins_in_progress", e.InProgress),
		zap.String("client_ip", signin.ClientString(client)),
		zap.Int("retry_after", e.RetryAfter()))
}

func (l refusalLogger) Summary(s signin.Summary) {
	l.logger.Warn("sign-ins refused by local rate limits, not by plex.tv",
		zap.Int("refused", s.Creates+s.Checks),
		zap.Int("pin_creations", s.Creates),
		zap.Int("pin_checks", s.Checks),
		zap.Int("over_all_clients_budget", s.Shared),
		zap.Int("sign_ins_in_progress", s.InProgress),
		zap.String("last_client_ip", signin.ClientString(s.Last)),
		zap.Duration("over", signin.SummaryEvery))
}

// Interface guards
var (
	_ caddy.Destructor = (*signinLimits)(nil)
	_ signin.Reporter  = refusalLogger{}
)
