// Package returnurl decides where a browser may be sent after sign-in: the
// return URL ("rd") checked against the request's host and the operator's
// redirect_domains; and the paths the module builds from the request's
// (OneLeadingSlash, MountPath), so that a browser reads them on this host.
// It is pure (no I/O, no net/http), with table tests of attacks,
// oauth2-proxy's open-redirect corpus and a fuzz target beside it.
package returnurl

import (
	"net/url"
	"strings"
)

// maxRedirectLen bounds rd. A real return URL is far shorter; anything longer
// is either a mistake or an attempt to make us do work, so it is not worth
// parsing.
const maxRedirectLen = 2048

// maxRedirectDecodeRounds bounds how many layers of percent-encoding we look
// through. Input that is still changing after that many rounds is refused
// rather than trusted, so nesting one level deeper cannot get past the check.
const maxRedirectDecodeRounds = 4

// Safe returns rd when it is a safe place to send the user after sign-in,
// else "/". It never returns anything else: a caller may put the result in
// a Location header as is. Safe(Safe(rd, h, d), h, d) == Safe(rd, h, d).
//
// Only two shapes are accepted:
//   - a path starting with exactly one "/": a browser always resolves that
//     against the current origin;
//   - an absolute http(s) URL whose host is the request's Host header
//     (port included, case-insensitive) or matches an entry of domains:
//     "example.com" matches only that name, ".example.com" that name and
//     any subdomain of it; an entry with a port ("example.com:8443") needs
//     that port in the URL, one without accepts any; IPv6 entries are
//     bracketed; names compare case-insensitively (see hostAllowed).
//
// Browsers are more lenient than net/url: they read "\" as "/", delete tabs
// and newlines anywhere in a URL, and treat "//host" as a link to another
// site. So backslashes and control characters are refused outright rather
// than modelled. Some hop (a proxy, or the app behind us) may also unescape
// the path before using it, so every percent-decoded form of rd must pass
// the same checks, and rd that cannot be decoded is refused.
//
// Accepted values are returned unchanged, so what we checked is exactly what
// goes into the Location header. rd longer than 2048 bytes, or still
// changing after 4 rounds of percent-decoding, is refused.
func Safe(rd, requestHost string, domains []string) string {
	if rd == "" || len(rd) > maxRedirectLen {
		return "/"
	}
	forms, ok := redirectDecodedForms(rd)
	if !ok {
		return "/"
	}
	for _, f := range forms {
		if strings.ContainsFunc(f, redirectBadRune) {
			return "/"
		}
	}
	if rd[0] == '/' {
		for _, f := range forms {
			// f has no backslash (checked above), so this also covers "/\".
			if f[0] != '/' || strings.HasPrefix(f, "//") {
				return "/"
			}
		}
		return rd
	}
	if redirectAbsoluteAllowed(rd, requestHost, domains) {
		return rd
	}
	return "/"
}

// redirectBadRune reports characters that browsers reinterpret or drop
// (backslash, tab, CR, LF), plus every other ASCII control character:
// none belongs in a return URL, and letting them through would make our view
// of the URL differ from the browser's.
func redirectBadRune(r rune) bool {
	return r == '\\' || r < 0x20 || r == 0x7f
}

// redirectDecodedForms returns s followed by each successive percent-decoding
// of it until decoding no longer changes it. ok is false if some round fails
// to decode or the value has not settled within maxRedirectDecodeRounds.
func redirectDecodedForms(s string) (forms []string, ok bool) {
	forms = []string{s}
	for range maxRedirectDecodeRounds {
		d, err := url.PathUnescape(s)
		if err != nil {
			return nil, false
		}
		if d == s {
			return forms, true
		}
		forms = append(forms, d)
		s = d
	}
	return nil, false
}

// redirectAbsoluteAllowed reports whether rd is an absolute http(s) URL to
// the request's own host or to an allowed domain. The caller has already
// refused backslashes and control characters, which is what keeps
// url.Parse's reading of the authority in line with a browser's.
func redirectAbsoluteAllowed(rd, requestHost string, domains []string) bool {
	u, err := url.Parse(rd)
	if err != nil {
		return false
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return false
	}
	// "https:evil.com", "https:/evil.com" and "https:///evil.com" have no
	// host for net/url, but browsers find one in them (evil.com).
	if u.Opaque != "" || u.Host == "" {
		return false
	}
	// Userinfo only serves to disguise the real host ("https://host@evil").
	if u.User != nil {
		return false
	}
	// Browsers map non-ASCII hosts through IDNA (where e.g. U+FF0E becomes
	// "."), and net/url unescapes some %XX in hosts; allowing only plain
	// ASCII host characters means the string we compare is the host the
	// browser will contact. IDN domains must be given in punycode.
	for i := 0; i < len(u.Host); i++ {
		if !redirectHostByte(u.Host[i]) {
			return false
		}
	}
	return strings.EqualFold(u.Host, requestHost) || hostAllowed(u.Host, domains)
}

func redirectHostByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte(".-_:[]", c) >= 0
}

// hostAllowed reports whether host ("name" or "name:port", as in a URL)
// matches an entry of domains (redirect_domains), case-insensitively.
//
// An entry "example.com" matches only that name; ".example.com" matches
// example.com and any subdomain of it, as in oauth2-proxy. An entry with a
// port ("example.com:8443") also requires that exact port in the URL; an
// entry without one accepts any port. IPv6 entries must be bracketed.
func hostAllowed(host string, domains []string) bool {
	h := &url.URL{Host: host}
	name, port := strings.ToLower(h.Hostname()), h.Port()
	if name == "" {
		return false
	}
	for _, d := range domains {
		e := &url.URL{Host: d}
		want, wantPort := strings.ToLower(e.Hostname()), e.Port()
		if wantPort != "" && wantPort != port {
			continue
		}
		if apex, ok := strings.CutPrefix(want, "."); ok {
			// A bare "." would otherwise match every name ending in a dot.
			if apex != "" && (name == apex || strings.HasSuffix(name, want)) {
				return true
			}
		} else if want != "" && name == want {
			return true
		}
	}
	return false
}
