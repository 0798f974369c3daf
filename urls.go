package plexauth

import (
	"net/http"
	"path"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
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

// Every URL the module builds from the request's path starts with exactly
// one "/". A browser reads "//tools/x" as the host "tools", and so "/\tools"
// too: in an http(s) URL a backslash is a slash, and tabs and newlines are
// dropped before parsing (WHATWG URL Standard, "relative slash state":
// https://url.spec.whatwg.org/#relative-slash-state). Caddy's path matcher
// merges slashes before matching, so under handle_path /tools/* a request
// for //tools/x is stripped to /x like /tools/x, and what was stripped is
// "//tools".

// originalURI is the path and query the client asked for, before any
// rewrite or handle_path strip, so the user comes back where they meant to.
func originalURI(r *http.Request) string {
	if or, ok := r.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request); ok && or.URL != nil {
		return oneLeadingSlash(or.URL.RequestURI())
	}
	return oneLeadingSlash(r.URL.RequestURI())
}

// externalPrefix is the prefix as the browser sees it: when the handler
// runs inside handle_path, the stripped part is put back in front.
func (h *PlexAuth) externalPrefix(r *http.Request) string {
	if or, ok := r.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request); ok && or.URL != nil {
		return mountPath(or.URL.Path, r.URL.Path) + h.Prefix
	}
	return h.Prefix
}

// mountPath is the part of the path orig that a strip removed to leave
// cur, cleaned as Caddy's path matcher cleans a path and with one "/" in
// front, or "" when nothing was stripped. It never ends in "/".
func mountPath(orig, cur string) string {
	if len(orig) <= len(cur) || !strings.HasSuffix(orig, cur) {
		return ""
	}
	m := oneLeadingSlash(path.Clean("/" + orig[:len(orig)-len(cur)]))
	return strings.TrimRight(m, "/")
}

// oneLeadingSlash is s with the run of slashes, backslashes, tabs and
// newlines it starts with made one "/" (one put in front if it has none),
// so that a browser reads it as a path on this host.
func oneLeadingSlash(s string) string {
	i := 0
	for i < len(s) && strings.IndexByte("/\\\t\n\r", s[i]) >= 0 {
		i++
	}
	if i == 1 && s[0] == '/' {
		return s
	}
	return "/" + s[i:]
}
