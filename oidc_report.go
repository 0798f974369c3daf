package plexauth

import (
	"errors"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// What the provider tells the operator: caddy_plex_auth_oidc_tokens_total
// and the audit lines `oidc code issued` and `oidc refused` (reason), under
// the audit logger (audit.go). Never a code, a token or a secret.

// oidcTokens counts token endpoint answers by client (a registered client
// id, or "unknown", so a stranger cannot grow the label set) and result
// (tokenOK and the others in oidc_token.go).
var oidcTokens = prometheus.NewCounterVec(prometheus.CounterOpts{
	Namespace: "caddy", Subsystem: "plex_auth", Name: "oidc_tokens_total",
	Help: "OpenID Connect token endpoint answers by client and result: ok, invalid_client, invalid_grant, replayed (a code used twice; its tokens are revoked), invalid_request, unsupported_grant_type, unavailable.",
}, []string{"client", "result"})

// registerOIDCMetrics adds the collector to a config's registry, as
// registerMetrics does for the others (metrics.go says why).
func registerOIDCMetrics(reg *prometheus.Registry) error {
	if reg == nil {
		return nil
	}
	if err := reg.Register(oidcTokens); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) || are.ExistingCollector != oidcTokens {
			return err
		}
	}
	return nil
}

func countOIDCToken(client, result string) { oidcTokens.WithLabelValues(client, result).Inc() }

// auditOIDCCode records a code issued to client for s's account.
func (h *PlexAuth) auditOIDCCode(r *http.Request, s *Session, client string) {
	h.audit.Info("oidc code issued", auditFields(s, originOf(r), zap.String("client", client))...)
}

// auditOIDCRefused records an authorization request refused; s is nil
// when the request was refused before anyone signed in.
func (h *PlexAuth) auditOIDCRefused(r *http.Request, s *Session, client, reason string) {
	if len(client) > 64 {
		client = client[:64] + "…" // as sent by anyone: bounded
	}
	if s != nil {
		h.audit.Info("oidc refused", auditFields(s, originOf(r), zap.String("client", client), zap.String("reason", reason))...)
		return
	}
	from := originOf(r)
	h.audit.Info("oidc refused", zap.String("client", client), zap.String("reason", reason),
		zap.String("client_ip", from.clientIP), zap.String("host", from.host))
}

// auditOIDCTokenRefused records a token request refused. The account is
// not named: a refused code says nothing trustworthy about one.
func (h *PlexAuth) auditOIDCTokenRefused(r *http.Request, client, reason string) {
	h.auditOIDCRefused(r, nil, client, reason)
}
