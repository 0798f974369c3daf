package plexauth

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/caddy-plexauth/caddy-plexauth/internal/appsignin"
	"github.com/caddy-plexauth/caddy-plexauth/internal/session"
)

// AppSignIn is the app_sign_in option: the application behind this block
// has a "Sign in with Plex" of its own, and plex_auth signs each admitted
// user into it with the user's Plex token, server-side, so that nobody
// signs in twice.
//
// On an admitted request that does not present the application session
// plex_auth made for this plex_auth session, plex_auth signs the user in
// (one call for all the concurrent requests of a browser), puts the
// application's session cookie in this request's Cookie header and sets
// it in the browser (HttpOnly, SameSite=Lax, Secure over https; the
// application's path and lifetime). The cookie value is remembered in the
// session, sealed in the store like the rest of it; a browser presenting
// any other value for that cookie gets the remembered one instead, so the
// application never sees the browser signed in as anyone but the Plex
// account signed in here. An application that refuses (a Plex user it
// has not imported, one without access) or cannot be reached gets the
// request without any session cookie of its own, shows its own page, and
// is not asked again for that session for a few minutes; its 429 pauses
// sign-ins to it for everyone for its Retry-After. Ending the plex_auth
// session (logout, a re-check, the admin API) ends the application
// session too.
//
// The application receives the user's Plex token, as it would at its own
// Plex sign-in: this is why the option is per block and off by default.
type AppSignIn struct {
	// Kind is overseerr (Overseerr, Seerr, Jellyseerr) or tautulli.
	Kind string `json:"kind"`
	// URL is where plex_auth calls the application itself (usually the
	// upstream's address, with the application's HTTP root as its path),
	// never the browser's.
	URL string `json:"url"`
	// APIKey is Tautulli's API key, which lets the sign-in skip the CSRF
	// check of Tautulli 2.17.1 on without fetching its login page first.
	// Placeholders such as {env.TAUTULLI_API_KEY} are expanded. Overseerr
	// takes none.
	APIKey string `json:"api_key,omitempty"`
}

// AppSession is an application session app_sign_in made for a plex_auth
// session. It is kept in the session (Session.Apps), sealed in the store
// like the token, so that every instance and a restart know it.
type AppSession = session.AppSession

// parseAppSignIn reads `app_sign_in <kind> <app URL> [api key]`; the
// dispenser is on the option's name.
func parseAppSignIn(d *caddyfile.Dispenser) (*AppSignIn, error) {
	args := d.RemainingArgs()
	if len(args) < 2 || len(args) > 3 {
		return nil, d.Errf("app_sign_in takes a kind (overseerr or tautulli), the application's URL and, for tautulli, an optional API key")
	}
	a := &AppSignIn{Kind: args[0], URL: args[1]}
	if len(args) == 3 {
		a.APIKey = args[2]
	}
	if err := a.check(); err != nil {
		return nil, d.Errf("app_sign_in: %v", err)
	}
	return a, nil
}

// check is what Validate and the Caddyfile say of a bad app_sign_in.
func (a *AppSignIn) check() error {
	key := a.APIKey
	if strings.HasPrefix(key, "{") && strings.HasSuffix(key, "}") {
		key = "k" // a placeholder: expanded at provision
	}
	_, err := appsignin.New(a.Kind, a.URL, key, time.Second)
	return err
}

// provisionAppSignIn builds this block's application client.
func (h *PlexAuth) provisionAppSignIn() error {
	if h.AppSignIn == nil {
		return nil
	}
	key := caddy.NewReplacer().ReplaceAll(h.AppSignIn.APIKey, "")
	app, err := appsignin.New(h.AppSignIn.Kind, h.AppSignIn.URL, key, time.Duration(h.Timeout))
	if err != nil {
		return fmt.Errorf("app_sign_in: %v", err)
	}
	h.app = appsignin.NewBlock(app, appsignin.Config{
		Sessions: h.sessions, CacheTTL: h.cacheTTL, Timeout: time.Duration(h.Timeout), Logger: h.logger,
		Secure: isHTTPS, Record: h.recordAppSignIn,
	})
	for _, r := range appsignin.Results {
		appSignIns.WithLabelValues(string(app.Kind()), r)
	}
	return nil
}

// appSignIns counts app_sign_in's sign-in calls by application kind and
// result (caddy_plex_auth_app_sign_ins_total{app,result}); metrics.go
// registers it.
var appSignIns = prometheus.NewCounterVec(prometheus.CounterOpts{
	Namespace: "caddy", Subsystem: "plex_auth", Name: "app_sign_ins_total",
	Help: "Sign-ins of users into the application behind a block with app_sign_in, by application kind (overseerr, tautulli) and result: ok, refused (the application answered without signing the user in), error (it could not be asked).",
}, []string{"app", "result"})

// recordAppSignIn counts and audits one sign-in call of app_sign_in.
func (h *PlexAuth) recordAppSignIn(r *http.Request, s *Session, result string) {
	kind := h.AppSignIn.Kind
	appSignIns.WithLabelValues(kind, result).Inc()
	h.audit.Info("signed in to app", auditFields(s, originOf(r), zap.String("app", kind), zap.String("result", result))...)
}

// endApps ends the application sessions of s (appsignin.EndSessions) for
// a sign-out at this block ({prefix}/logout or the OpenID Connect
// end_session), whose response also expires the application's cookie when
// this block signs into it.
func (h *PlexAuth) endApps(w http.ResponseWriter, r *http.Request, s *Session) {
	appsignin.EndSessions(s, time.Duration(h.Timeout), h.logger)
	if h.app != nil {
		h.app.ExpireCookie(w, r, s)
	}
}

// validateAppSignIn rejects an app_sign_in that cannot work.
func (h *PlexAuth) validateAppSignIn() error {
	if h.AppSignIn == nil {
		return nil
	}
	if err := h.AppSignIn.check(); err != nil {
		return errors.New("plex_auth: app_sign_in: " + err.Error())
	}
	return nil
}
