package plexauth

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-plexauth/caddy-plexauth/internal/access"
	"github.com/caddy-plexauth/caddy-plexauth/internal/pages"
	"github.com/caddy-plexauth/caddy-plexauth/internal/placeholderfacts"
	"github.com/caddy-plexauth/caddy-plexauth/internal/session"
)

// Defaults.
const (
	defaultProduct    = "Caddy"
	defaultSessionTTL = 168 * time.Hour
	defaultCookieName = "plex_auth_session"
	defaultPrefix     = "/_plexauth"
	defaultPlexTVURL  = "https://plex.tv"
	defaultPlexAppURL = "https://app.plex.tv/auth"
	defaultTimeout    = 10 * time.Second
	defaultRevalidate = 10 * time.Minute
	defaultCacheTTL   = time.Minute
)

// Provision fills defaults, loads the secret and client identifier from
// Caddy's storage and takes a reference to the shared session cache.
func (h *PlexAuth) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	h.audit = newAuditLogger(h.logger)
	if err := registerMetrics(ctx.GetMetricsRegistry()); err != nil {
		return fmt.Errorf("plex_auth: metrics: %v", err)
	}
	if h.Product == "" {
		h.Product = defaultProduct
	}
	if h.SessionTTL == 0 {
		h.SessionTTL = caddy.Duration(defaultSessionTTL)
	}
	if h.CookieName == "" {
		h.CookieName = defaultCookieName
	}
	h.stateCookie = h.CookieName + "_state"

	if h.Prefix == "" {
		h.Prefix = defaultPrefix
	}
	h.setPrefix(h.Prefix)
	if h.PlexTVURL == "" {
		h.PlexTVURL = defaultPlexTVURL
	}
	h.PlexTVURL = strings.TrimRight(h.PlexTVURL, "/")
	if h.PlexAppURL == "" {
		h.PlexAppURL = defaultPlexAppURL
	}
	if h.Timeout == 0 {
		h.Timeout = caddy.Duration(defaultTimeout)
	}
	// A server may be a placeholder ({env.PLEX_SERVER}), which the
	// Caddyfile leaves to here; Validate then checks what it expanded to.
	repl := caddy.NewReplacer()
	for i, id := range h.Servers {
		h.Servers[i] = strings.TrimSpace(repl.ReplaceAll(id, ""))
	}
	tiers := h.AllowTiers
	if len(tiers) == 0 {
		tiers = []string{access.TierOwner, access.TierHome, access.TierFriend}
	}
	h.allowTiers = make(map[string]bool, len(tiers))
	for _, t := range tiers {
		h.allowTiers[strings.ToLower(t)] = true
	}
	var err error
	if h.allowUsers, err = access.NewAllowList(h.AllowUsers); err != nil {
		return fmt.Errorf("plex_auth: %v", err)
	}

	if h.Revalidate == 0 {
		h.Revalidate = caddy.Duration(defaultRevalidate)
	}
	h.revalidate = time.Duration(h.Revalidate)
	if h.CacheTTL == 0 {
		h.CacheTTL = caddy.Duration(defaultCacheTTL)
	}
	h.cacheTTL = time.Duration(h.CacheTTL)

	secrets, clientID, err := loadOrCreateIdentity(ctx, ctx.Storage())
	if err != nil {
		return fmt.Errorf("plex_auth: %v", err)
	}
	if len(h.Secrets) > 0 {
		if secrets, err = configuredSecrets(h.Secrets); err != nil {
			return fmt.Errorf("plex_auth: secret: %v", err)
		}
	}
	if h.ClientID == "" {
		h.ClientID = clientID
	}
	if h.stateSealer, err = newSealer("state", secrets); err != nil {
		return fmt.Errorf("plex_auth: %v", err)
	}
	if h.sessionSealer, err = newSealer("session", secrets); err != nil {
		return fmt.Errorf("plex_auth: %v", err)
	}

	h.plex = newPlexClient(h.PlexTVURL, h.Product, h.ClientID, time.Duration(h.Timeout))
	if err := h.provisionLimits(); err != nil {
		return fmt.Errorf("plex_auth: %v", err)
	}
	if u, err := url.Parse(h.PlexAppURL); err == nil {
		h.appOrigin = u.Scheme + "://" + u.Host
	}
	if h.pages, err = pages.Load(h.LoginTemplate, h.LoginLogo); err != nil {
		return fmt.Errorf("plex_auth: %v", err)
	}

	var newStore func() (session.Store, error)
	switch h.Store {
	case "memory":
		h.poolKey = sessionPoolKey + "|memory"
		newStore = func() (session.Store, error) { return nil, nil }
	case "", "caddy":
		st := ctx.Storage()
		// Keyed by the storage itself: a reload that changes the `storage`
		// global option gets a cache writing to the new storage.
		h.poolKey = sessionPoolKey + "|caddy|" + storageName(st)
		newStore = func() (session.Store, error) { return session.NewCaddyStore(st), nil }
	case "redis":
		redisURL := caddy.NewReplacer().ReplaceAll(h.StoreURL, "")
		h.poolKey = sessionPoolKey + "|redis|" + redisURL
		newStore = func() (session.Store, error) { return session.NewRedisStore(redisURL, session.StoreTimeout) }
	default:
		return fmt.Errorf("plex_auth: store: unknown kind %q (want caddy, redis or memory)", h.Store)
	}
	logger := h.logger
	v, _, err := sessionPool.LoadOrNew(h.poolKey, func() (caddy.Destructor, error) {
		st, err := newStore()
		if err != nil {
			return nil, err
		}
		return &pooledSessions{cache: newSessionCache(st, logger)}, nil
	})
	if err != nil {
		return fmt.Errorf("plex_auth: %v", err)
	}
	pooled := v.(*pooledSessions)
	h.sessions, h.rechecks = pooled.cache, &pooled.rechecks
	h.sessions.NoteSessionTTL(time.Duration(h.SessionTTL))
	// Only a handler that would have opened the same cookie to the same
	// session (same cookie name, secret and store) may take it over.
	// The name is a digest of the three: short, so the request's vars map
	// hashes little, and it spells out neither the secret nor a Redis URL.
	fp := sha256.New()
	for _, part := range append([][]byte{[]byte(h.CookieName), []byte(h.poolKey)}, secrets...) {
		fp.Write([]byte(strconv.Itoa(len(part)) + ":"))
		fp.Write(part)
	}
	h.sessionVar = fmt.Sprintf("plex_auth.session.%x", fp.Sum(nil)[:12])
	if err := h.provisionOwner(ctx); err != nil {
		return fmt.Errorf("plex_auth: %v", err)
	}
	h.keepVerdicts()
	if err := h.provisionAppSignIn(); err != nil {
		return fmt.Errorf("plex_auth: %v", err)
	}
	if err := h.provisionOIDC(ctx); err != nil {
		return fmt.Errorf("plex_auth: %v", err)
	}
	h.placeholderFacts = placeholderfacts.Learn(ctx)
	h.server = knownServer(h.placeholderFacts)
	for i, f := range h.placeholderFacts {
		if h.server != nil && f.Server == h.server {
			// First, where factsFor finds it at once.
			h.placeholderFacts[0], h.placeholderFacts[i] = h.placeholderFacts[i], h.placeholderFacts[0]
		}
	}
	for _, f := range h.placeholderFacts {
		if f.MapWrites && f.PlexAuths > 0 {
			h.logger.Info("a map handler writes {http.auth.user.*}: on this server plex_auth sets its placeholders on every signed-in request instead of answering them when asked",
				zap.String("server", f.Name))
		}
	}
	h.logStart()
	return nil
}

// logStart says, once per block, what this handler will do: an operator
// reading the log at start sees the rules, the store and the timings
// without reading the config back.
func (h *PlexAuth) logStart() {
	storeName, storeState := "memory", "n/a"
	if st := h.sessions.Store(); st != nil {
		storeName, storeState = st.Describe(), "reachable"
		if r, ok := st.(*session.RedisStore); ok {
			// One ping: unreachable is a warning, not a failed start;
			// signed-in users are served from memory meanwhile.
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			err := r.Ping(ctx)
			cancel()
			if err != nil {
				storeState = "unreachable"
				h.logger.Warn("session store unreachable at start; new sign-ins fail until it answers",
					zap.String("store", storeName), zap.String("error", redactedError(err)))
			}
		}
	}
	mode, from := h.accessMode()
	h.logger.Info("plex_auth ready",
		zap.String("admits", h.describeRules()),
		zap.String("access_mode", mode),
		zap.String("access_from", from),
		zap.String("store", storeName),
		zap.String("store_state", storeState),
		zap.String("prefix", h.Prefix),
		zap.String("revalidate", time.Duration(h.Revalidate).String()),
		zap.String("session_ttl", time.Duration(h.SessionTTL).String()),
		zap.String("cache_ttl", h.cacheTTL.String()))
}

// redactedError is err's message without anything that looks like a URL's
// credentials.
func redactedError(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "@"); i >= 0 {
		if j := strings.LastIndex(msg[:i], "//"); j >= 0 {
			msg = msg[:j+2] + "…" + msg[i:]
		}
	}
	return msg
}

// Cleanup stops the owner's list's reads and drops this handler's
// references to the sign-in limits and the session cache.
func (h *PlexAuth) Cleanup() error {
	if h.owner != nil {
		h.owner.Stop()
	}
	if h.plex != nil {
		h.plex.CloseIdleConnections()
	}
	h.cleanupLimits()
	if h.sessions != nil {
		_, err := sessionPool.Delete(h.poolKey)
		return err
	}
	return nil
}

// storageName identifies a Caddy storage for the session pool's key.
func storageName(st any) string {
	if s, ok := st.(fmt.Stringer); ok {
		return fmt.Sprintf("%T:%s", st, s.String())
	}
	return fmt.Sprintf("%T:%p", st, st)
}

// setPrefix sets the prefix (without a trailing '/') and what ServeHTTP
// compares request paths with: the prefix and a '/', and the prefix's
// second byte, the first after its '/' (left as it was for a prefix of
// fewer than two bytes, which Validate refuses).
func (h *PlexAuth) setPrefix(p string) {
	h.Prefix = strings.TrimRight(p, "/")
	h.prefixSlash = h.Prefix + "/"
	if len(h.Prefix) > 1 {
		h.prefixByte = h.Prefix[1]
	}
}
