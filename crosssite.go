package plexauth

import (
	"net/http"
	"net/url"
	"strings"
)

// crossSite tells whether the browser marked r as sent by a page of another
// site: a form, an <img>, a fetch there. {prefix}/start refuses such a
// request and {prefix}/logout asks before it signs out.
//
// Sec-Fetch-Site decides when it is there: browsers set it and pages cannot
// (it is a forbidden header name), and every current browser sends it.
// "same-site" (a sibling subdomain) passes: the cookies are shared there
// anyway. A value no browser sends counts as cross-site.
//
// Without it (browsers from before 2023), an Origin naming another host
// does. Like Go's net/http CrossOriginProtection, the Origin's host is
// compared with the Host header and its scheme is not: behind a proxy that
// ends TLS the request's own scheme is not known for sure here. Origin
// "null" decides nothing: a form posted from a page under
// Referrer-Policy: no-referrer, as the module's own pages are, carries it
// (Fetch standard, "append a request Origin header").
//
// A request with neither header is not from a browser page, or is typed
// in: it passes, and the per-client limits bound what it can do.
func crossSite(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin", "same-site", "none":
		return false
	case "":
	default:
		return true
	}
	origin := r.Header.Get("Origin")
	if origin == "" || origin == "null" {
		return false
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return true
	}
	return !sameHost(u.Scheme, u.Host, r.Host)
}

// sameHost compares an Origin's host:port with a Host header, a default
// port written or not.
func sameHost(scheme, originHost, host string) bool {
	trim := func(h string) string {
		h = strings.ToLower(h)
		switch {
		case scheme == "http" && strings.HasSuffix(h, ":80"):
			return strings.TrimSuffix(h, ":80")
		case scheme == "https" && strings.HasSuffix(h, ":443"):
			return strings.TrimSuffix(h, ":443")
		}
		return h
	}
	return trim(originHost) == trim(host)
}
