// Package cookiedomain is cookie_domain's rules: what the option may hold
// (a bare domain a browser accepts as a Domain attribute) and which hosts
// keep a cookie scoped to it (RFC 6265). It is pure: strings in, an answer
// out.
package cookiedomain

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// Check refuses a cookie_domain that is not a bare domain: a browser
// ignores a Domain attribute with a scheme, port or path, and the session
// cookie would silently become host-only. The error names the value and
// what is wrong with it (a scheme, a path, a port, not a domain).
func Check(d string) error {
	switch {
	case strings.Contains(d, "://"):
		return fmt.Errorf("%q has a scheme; write the bare domain, e.g. example.com", d)
	case strings.ContainsAny(d, "/?#"):
		return fmt.Errorf("%q has a path; write the bare domain, e.g. example.com", d)
	case strings.Contains(d, ":"):
		return fmt.Errorf("%q has a port; cookies are not scoped by port, write the bare domain", d)
	case strings.ContainsAny(d, " \t;,\"=") || strings.Trim(d, ".") == "":
		return fmt.Errorf("%q is not a domain", d)
	}
	return nil
}

// HostUnder reports whether a browser at host (a Host header, port or
// not) keeps a cookie whose Domain attribute is domain: the domain-match
// of RFC 6265 section 5.1.3, after the leading dot a browser ignores
// (section 5.2.3), compared ignoring case. An IP address has no
// subdomains: it matches only itself. An empty host or domain matches
// nothing.
func HostUnder(host, domain string) bool {
	name := strings.ToLower((&url.URL{Host: host}).Hostname())
	domain = strings.ToLower(strings.TrimPrefix(domain, "."))
	if name == "" || domain == "" {
		return false
	}
	if net.ParseIP(name) != nil {
		return name == domain
	}
	return name == domain || strings.HasSuffix(name, "."+domain)
}
