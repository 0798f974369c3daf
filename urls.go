package plexauth

import (
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-plexauth/caddy-plexauth/internal/returnurl"
)

// How the browser sees this site: its scheme and the module's paths. The
// handler may run behind a TLS-terminating proxy, or inside handle_path,
// and the URLs and cookies it gives out must be the browser's, not the
// ones Caddy was handed.

// isHTTPS reports whether the browser reached the site over https: the
// connection is TLS, or it came from a proxy Caddy trusts (the
// trusted_proxies server option) that says so in X-Forwarded-Proto. From
// anyone else the header is ignored: a client could send it to get a
// Secure cookie it cannot use, or an https return URL.
func isHTTPS(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	if trusted, _ := caddyhttp.GetVar(r.Context(), caddyhttp.TrustedProxyVarKey).(bool); !trusted {
		return false
	}
	// A chain of proxies may list one scheme per hop; the first is the
	// one the browser used.
	proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
	return strings.EqualFold(strings.TrimSpace(proto), "https")
}

// requestScheme is "https" or "http", as isHTTPS says.
func requestScheme(r *http.Request) string {
	if isHTTPS(r) {
		return "https"
	}
	return "http"
}

// The URLs built from the request's path start with exactly one "/", so
// that a browser reads them as paths on this host (returnurl.OneLeadingSlash,
// returnurl.MountPath say why).

// originalURI is the path and query the client asked for, before any
// rewrite or handle_path strip, so the user comes back where they meant to.
func originalURI(r *http.Request) string {
	if or, ok := r.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request); ok && or.URL != nil {
		return returnurl.OneLeadingSlash(or.URL.RequestURI())
	}
	return returnurl.OneLeadingSlash(r.URL.RequestURI())
}

// externalPrefix is the prefix as the browser sees it: when the handler
// runs inside handle_path, the stripped part is put back in front.
func (h *PlexAuth) externalPrefix(r *http.Request) string {
	if or, ok := r.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request); ok && or.URL != nil {
		return returnurl.MountPath(or.URL.Path, r.URL.Path) + h.Prefix
	}
	return h.Prefix
}
