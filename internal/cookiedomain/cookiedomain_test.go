package cookiedomain

import (
	"strings"
	"testing"
)

func TestHostUnderCookieDomain(t *testing.T) {
	for _, c := range []struct {
		host, domain string
		want         bool
	}{
		{"example.com", "example.com", true},
		{"a.example.com", "example.com", true},
		{"a.b.example.com:8443", "example.com", true},
		{"A.Example.COM", "example.com", true},
		{"a.example.com", ".example.com", true}, // a browser ignores the leading dot
		{"a.example.com", "EXAMPLE.com", true},
		{"badexample.com", "example.com", false}, // a suffix, not a subdomain
		{"example.com.evil.net", "example.com", false},
		{"example.com", "a.example.com", false}, // a parent is not under its child
		{"localhost:SITEPORT", "example.com", false},
		{"127.0.0.1:8080", "0.0.1", false}, // an IP address has no subdomains
		{"10.0.0.1:8080", "10.0.0.1", true},
		{"[::1]:8080", "example.com", false},
		{"", "example.com", false},
		{"example.com", "", false},
		{"example.com", ".", false},
	} {
		if got := HostUnder(c.host, c.domain); got != c.want {
			t.Errorf("HostUnder(%q, %q) = %v, want %v", c.host, c.domain, got, c.want)
		}
	}
}

// cookie_domain is a bare domain; each way it is not one
// is refused for what it is.
func TestCookieDomainMustBeABareDomain(t *testing.T) {
	for d, want := range map[string]string{
		"https://example.com": "has a scheme",
		"example.com/tools":   "has a path",
		"example.com?x":       "has a path",
		"example.com#x":       "has a path",
		"example.com:443":     "has a port",
		"exa mple.com":        "is not a domain",
		"example.com\t":       "is not a domain",
		"a;b.com":             "is not a domain",
		"a,b.com":             "is not a domain",
		`"example.com"`:       "is not a domain",
		"a=b.com":             "is not a domain",
		".":                   "is not a domain",
		"..":                  "is not a domain",
	} {
		if err := Check(d); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check(%q) = %v, want an error saying %q", d, err, want)
		}
	}
	for _, d := range []string{"example.com", ".example.com", "example.test", "localhost", "10.0.0.1"} {
		if err := Check(d); err != nil {
			t.Errorf("Check(%q) = %v, want nil", d, err)
		}
	}
}

// No host, or no domain once its leading dot is gone,
// matches nothing, a name ending in a dot included.
func TestHostUnderAnEmptyCookieDomainIsNone(t *testing.T) {
	for _, c := range [][2]string{{"example.com.", "."}, {"", ""}, {":8080", "."}, {"a.", ""}} {
		if HostUnder(c[0], c[1]) {
			t.Errorf("HostUnder(%q, %q) = true, want false", c[0], c[1])
		}
	}
}
