package plexauth

import (
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/caddy-plexauth/caddy-plexauth/internal/session"
)

// Prometheus metrics, served with Caddy's own at the admin endpoint's
// /metrics. The names are a contract with dashboards; docs/operating.md lists them.
//
// The collectors live for the whole process and are registered in each
// config's registry: Caddy gives every config load a fresh registry
// (NewContextWithCause in caddy's context.go), so a collector made per
// config would reset every counter on `caddy reload`, and one registered
// only at the first load would vanish from /metrics at the second. Every
// plex_auth block of a config registers the same collectors; the second
// registration is an AlreadyRegisteredError and is ignored, as Caddy's
// reverse_proxy does for its upstreams_healthy gauge
// (modules/caddyhttp/reverseproxy/metrics.go).

// Sign-in results (caddy_plex_auth_sign_ins_total{result}).
const (
	signInOK          = "ok"           // a session was created
	signInDenied      = "denied"       // the rules refused the account
	signInExpired     = "expired"      // the pin expired, or plex.tv refused its token
	signInError       = "error"        // plex.tv or the session store failed, or the login state was forged
	signInRateLimited = "rate_limited" // a sign-in call refused by the local limits (internal/signin)
)

// Re-check results (caddy_plex_auth_rechecks_total{result}).
const (
	recheckOK    = "ok"    // plex.tv answered; the session goes on with what it said
	recheckEnded = "ended" // plex.tv no longer accepts the token; the session ended
	recheckError = "error" // plex.tv could not be asked; the session goes on, re-checks back off
)

// The endpoint label of plex.tv calls is the client's name for the call
// (plextv.EndpointPins and the others).

// codeNoAnswer is the code label of a plex.tv call that got no answer
// (unreachable, timed out, connection reset).
const codeNoAnswer = "none"

var metrics = struct {
	signIns      *prometheus.CounterVec
	sessions     prometheus.GaugeFunc
	rechecks     *prometheus.CounterVec
	plexRequests *prometheus.CounterVec
	plexDuration *prometheus.HistogramVec
	storeErrors  prometheus.Counter
}{
	signIns: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "plex_auth", Name: "sign_ins_total",
		Help: "Sign-ins by result: ok, denied (the rules refused the account), expired, error (plex.tv or the session store failed), rate_limited (a sign-in call refused by the local limits).",
	}, []string{"result"}),
	sessions: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "caddy", Subsystem: "plex_auth", Name: "sessions",
		Help: "Sessions this instance holds in memory.",
	}, sessionsInMemory),
	rechecks: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "plex_auth", Name: "rechecks_total",
		Help: "Background re-checks of sessions with plex.tv by result: ok, ended (token no longer valid), error (plex.tv could not be asked).",
	}, []string{"result"}),
	plexRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "plex_auth", Name: "plex_requests_total",
		Help: "Calls to plex.tv by endpoint (pins, pin, user, resources, users) and HTTP status (none: no answer).",
	}, []string{"endpoint", "code"}),
	plexDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "caddy", Subsystem: "plex_auth", Name: "plex_request_duration_seconds",
		Help: "How long calls to plex.tv took, by endpoint, until the answer was read or the call failed.",
		// DefBuckets end at 10s, the default timeout.
		Buckets: prometheus.DefBuckets,
	}, []string{"endpoint"}),
	storeErrors: prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "plex_auth", Name: "store_errors_total",
		Help: "Session store operations that failed (Caddy storage or Redis), including the probe every 10s while it is down.",
	}),
}

// registerMetrics adds the collectors to a config's registry (nil, as in
// tests that build a caddy.Context by hand: nothing to do).
func registerMetrics(reg *prometheus.Registry) error {
	if reg == nil {
		return nil
	}
	// Every result is exported from the start, at 0, so that rate() and
	// alerts on a result work before its first occurrence.
	for _, r := range []string{signInOK, signInDenied, signInExpired, signInError, signInRateLimited} {
		metrics.signIns.WithLabelValues(r)
	}
	for _, r := range []string{recheckOK, recheckEnded, recheckError} {
		metrics.rechecks.WithLabelValues(r)
	}
	for _, c := range []prometheus.Collector{
		metrics.signIns, metrics.sessions, metrics.rechecks,
		metrics.plexRequests, metrics.plexDuration, metrics.storeErrors,
		appSignIns, // app_sign_in (appsignin.go)
	} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) && are.ExistingCollector == c {
				continue // another plex_auth block of this config registered it
			}
			return err
		}
	}
	return nil
}

func countSignIn(result string) { metrics.signIns.WithLabelValues(result).Inc() }

func countRecheck(result string) { metrics.rechecks.WithLabelValues(result).Inc() }

// observePlexCall records one plex.tv call (plextv.Config.Observe);
// status 0 is no answer.
func observePlexCall(endpoint string, status int, took time.Duration) {
	code := codeNoAnswer
	if status != 0 {
		code = strconv.Itoa(status)
	}
	metrics.plexRequests.WithLabelValues(endpoint, code).Inc()
	metrics.plexDuration.WithLabelValues(endpoint).Observe(took.Seconds())
}

// sessionsInMemory counts the live sessions of every session cache in the
// process (one per store; all plex_auth blocks using a store share it).
func sessionsInMemory() float64 {
	// The pool is locked while it is ranged: collect, then count.
	var caches []*session.Cache
	sessionPool.Range(func(_, v any) bool {
		if p, ok := v.(*pooledSessions); ok {
			caches = append(caches, p.cache)
		}
		return true
	})
	n := 0
	for _, sc := range caches {
		n += sc.LiveCount()
	}
	return float64(n)
}
