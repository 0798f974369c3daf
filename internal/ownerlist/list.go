// Package ownerlist keeps, for a block with owner_token, the owner's list:
// who the configured servers are shared with, read from plex.tv with the
// owner's token (GET /api/users, as Overseerr's server/api/plextv.ts,
// Tautulli and python-plexapi's MyPlexAccount.users() read it), compiled
// into an access.List and kept sealed in Caddy's storage. One list per
// block, shared by every session: it is read at start, every revalidate,
// and on demand when someone not on it signs in; every request is decided
// from the list in memory, so a friend the owner removes loses access at
// the next read without a call to plex.tv per session.
package ownerlist

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"

	"github.com/caddy-plexauth/caddy-plexauth/internal/access"
	"github.com/caddy-plexauth/caddy-plexauth/internal/plextv"
)

// OnDemandEvery bounds the reads sign-ins cause: someone not on the list
// (an invitation just accepted, or a stranger) makes the list be read
// again at most once in this time per block.
const OnDemandEvery = 30 * time.Second

// Config is what a block's list is read and kept with.
type Config struct {
	Plex    *plextv.Client    // the plex.tv client the block uses
	Token   string            // owner_token, expanded; never logged or stored
	Servers []string          // the block's servers: the list is of those, and the token's account must own them all
	Every   time.Duration     // revalidate: how often the list is read
	Storage certmagic.Storage // Caddy's storage: the last good list, sealed under the token (store.go)
	Log     *zap.Logger       // reads, failures and problems; never the token
	// StoreTimeout bounds each call to Storage; MaxBackoff caps the wait
	// between reads while plex.tv fails.
	StoreTimeout, MaxBackoff time.Duration
}

// List is one block's view of the owner's side. Its methods may be
// called from any number of goroutines.
type List struct {
	plex         *plextv.Client
	token        string
	servers      []string
	every        time.Duration // revalidate
	log          *zap.Logger
	store        *ownerStore
	storeTimeout time.Duration
	maxBackoff   time.Duration

	view atomic.Pointer[access.OwnerView] // what decisions read; never nil

	mu           sync.Mutex
	lastOnDemand time.Time

	// readMu makes reads of plex.tv one at a time; it guards the fields
	// below.
	readMu  sync.Mutex
	ownerID int64 // the token's account, once known to own every configured server
	reads   int   // successful reads
	fails   int   // failed reads in a row
	retryAt time.Time

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

// New starts a block's owner's list: the last one stored is used at once,
// and a goroutine reads plex.tv in the background (until Stop), so that
// Caddy starts whether plex.tv answers or not. It fails only when there is
// no storage.
func New(ctx context.Context, c Config) (*List, error) {
	plex, token, servers, every, st, log := c.Plex, c.Token, c.Servers, c.Every, c.Storage, c.Log
	store, err := newOwnerStore(st, token, plex.BaseURL(), servers)
	if err != nil {
		return nil, err
	}
	o := &List{
		plex: plex, token: token, servers: slices.Clone(servers), every: every, log: log, store: store,
		storeTimeout: c.StoreTimeout, maxBackoff: c.MaxBackoff,
		done: make(chan struct{}),
	}
	o.view.Store(&access.OwnerView{})
	lctx, cancel := context.WithTimeout(ctx, o.storeTimeout)
	list, read, err := store.load(lctx)
	cancel()
	switch {
	case err != nil:
		log.Warn("the stored owner's list could not be read; waiting for plex.tv", zap.Error(err))
	case list != nil:
		o.view.Store(&access.OwnerView{List: list})
		home, friends, _ := list.Counts()
		log.Info("owner's list loaded from storage", zap.Time("read_at", read),
			zap.Int("home", home), zap.Int("friends", friends))
	}
	o.ctx, o.cancel = context.WithCancel(context.WithoutCancel(ctx))
	go o.run()
	return o, nil
}

// Current is what decisions read: never nil on a List, nil on a nil List
// (a block without owner_token).
func (o *List) Current() *access.OwnerView {
	if o == nil {
		return nil
	}
	return o.view.Load()
}

// Stop ends the background reads and waits for them.
func (o *List) Stop() {
	o.cancel()
	<-o.done
}

func (o *List) run() {
	defer close(o.done)
	for {
		o.refresh(nil)
		if o.ctx.Err() != nil || o.view.Load().Problem != access.OwnerOK {
			return // a problem waits for a reload: no more calls with this token
		}
		t := time.NewTimer(o.nextRead())
		select {
		case <-o.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (o *List) nextRead() time.Duration {
	o.readMu.Lock()
	defer o.readMu.Unlock()
	if o.fails > 0 {
		return time.Until(o.retryAt)
	}
	return o.every
}

// ReadOnDemand reads the list again for a sign-in, unless satisfied holds
// of the current view (before or after waiting for a read in progress), the
// last read on demand was less than OnDemandEvery ago, or plex.tv is being
// left alone after failures. It returns once the read is done.
func (o *List) ReadOnDemand(satisfied func(*access.OwnerView) bool) {
	if satisfied(o.view.Load()) {
		return
	}
	now := time.Now()
	o.mu.Lock()
	if !o.lastOnDemand.IsZero() && now.Sub(o.lastOnDemand) < OnDemandEvery {
		o.mu.Unlock()
		return
	}
	o.lastOnDemand = now
	o.mu.Unlock()
	o.refresh(satisfied)
}

// refresh reads the owner's side once, unless a problem stopped the reads,
// a backoff is running, or skip holds of the view once it is this read's
// turn.
func (o *List) refresh(skip func(*access.OwnerView) bool) {
	o.readMu.Lock()
	defer o.readMu.Unlock()
	v := o.view.Load()
	if v.Problem != access.OwnerOK || (skip != nil && skip(v)) || time.Now().Before(o.retryAt) || o.ctx.Err() != nil {
		return
	}
	ctx, cancel := context.WithTimeout(o.ctx, 3*o.plex.Timeout())
	err := o.read(ctx)
	cancel()
	if o.ctx.Err() != nil {
		return // shutting down: nothing to report
	}
	o.settle(err)
}

// read checks, the first time, that the token's account owns every
// configured server, then reads and stores the list. readMu must be held.
func (o *List) read(ctx context.Context) error {
	if o.ownerID == 0 {
		acct, err := o.plex.User(ctx, o.token)
		if err != nil {
			return err
		}
		devices, err := o.plex.Resources(ctx, o.token)
		if err != nil {
			return err
		}
		if err := checkOwned(acct, devices, o.servers); err != nil {
			return err
		}
		o.ownerID = acct.ID
	}
	users, err := o.plex.Users(ctx, o.token)
	if err != nil {
		return err
	}
	list := compileAccessList(o.ownerID, users, o.servers)
	o.view.Store(&access.OwnerView{List: list})
	o.reads++
	level := zap.DebugLevel
	if o.reads == 1 {
		level = zap.InfoLevel
	}
	if c := o.log.Check(level, "owner's list read"); c != nil {
		home, friends, pending := list.Counts()
		c.Write(zap.Int("home", home), zap.Int("friends", friends), zap.Int("pending", pending))
	}
	sctx, cancel := context.WithTimeout(o.ctx, o.storeTimeout)
	defer cancel()
	if err := o.store.save(sctx, list); err != nil {
		o.log.Warn("storing the owner's list failed; a restart during a plex.tv outage would use an older one", zap.Error(err))
	}
	return nil
}

// settle records how a read ended. readMu must be held.
func (o *List) settle(err error) {
	var notOwned *notOwnedError
	switch {
	case err == nil:
		if o.fails > 0 {
			o.log.Info("plex.tv reachable again; owner's list read", zap.Int("failed_reads", o.fails))
		}
		o.fails, o.retryAt = 0, time.Time{}
	case errors.As(err, &notOwned):
		o.setProblem(access.OwnerNotOwned)
		o.log.Error("owner_token's account does not own every configured server: this site admits nobody and its sign-in answers 503 until the configuration is fixed and reloaded",
			zap.Strings("not_owned", notOwned.missing), zap.Strings("owned_by_token_account", notOwned.owned),
			zap.String("token_account", notOwned.account))
	case errors.Is(err, plextv.ErrTokenRejected):
		o.setProblem(access.OwnerTokenRejected)
		o.log.Error("plex.tv rejected owner_token: signed-in users are decided from the last owner's list read, new sign-ins answer 503 until a reload with a working token")
	default:
		o.fails++
		retryAfter := plextv.RetryAfter(err)
		base := o.every
		known := o.view.Load().List != nil
		if !known {
			// Nobody can be admitted until a list is known: try sooner.
			base = min(base, OnDemandEvery)
		}
		o.retryAt = time.Now().Add(backoffWait(base, o.maxBackoff, o.fails, retryAfter))
		if o.fails == 1 {
			o.log.Warn("reading the owner's list from plex.tv failed: decisions keep the last list read, reads back off",
				zap.Error(err), zap.Bool("list_known", known))
		}
	}
}

func (o *List) setProblem(p access.OwnerProblem) {
	o.view.Store(&access.OwnerView{List: o.view.Load().List, Problem: p})
}

// backoffWait is how long to leave plex.tv alone after fails failures in a
// row, as the re-checks do (internal/recheck): base, doubled per
// failure up to maxBackoff, with jitter so instances sharing an outage do
// not probe in step, or plex.tv's Retry-After when longer.
func backoffWait(base, maxBackoff time.Duration, fails int, retryAfter time.Duration) time.Duration {
	wait := base
	for i := 1; i < fails && wait < maxBackoff; i++ {
		wait *= 2
	}
	wait = min(wait, maxBackoff)
	wait += time.Duration(rand.Int64N(int64(wait)/10 + 1))
	return max(wait, retryAfter)
}

// Fixed is a List that holds v and never reads plex.tv: decisions from a
// known list, for tests of the rules. Stop returns at once.
func Fixed(v access.OwnerView) *List {
	o := &List{done: make(chan struct{}), cancel: func() {}}
	close(o.done)
	o.view.Store(&v)
	return o
}

// notOwnedError: configured servers the token's account does not own.
type notOwnedError struct {
	account string   // the token's account, by username
	missing []string // configured servers it does not own
	owned   []string // the servers it owns, "machineIdentifier (name)"
}

func (e *notOwnedError) Error() string {
	return "owner_token's account does not own every configured server"
}

// checkOwned checks that the owner's resources list every configured server
// as a server the account owns.
func checkOwned(acct *plextv.Account, devices []plextv.Device, servers []string) error {
	owned := map[string]bool{}
	var names []string
	for _, d := range devices {
		if d.Owned && d.ClientIdentifier != "" && d.ProvidesServer() {
			owned[d.ClientIdentifier] = true
			names = append(names, d.ClientIdentifier+" ("+d.Name+")")
		}
	}
	var missing []string
	for _, s := range servers {
		if !owned[s] {
			missing = append(missing, s)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if names == nil {
		names = []string{}
	}
	return &notOwnedError{account: acct.Username, missing: missing, owned: names}
}
