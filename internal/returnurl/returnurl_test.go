package returnurl

import (
	"bufio"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
)

// Request host and redirect_domains used by the table and fuzz tests.
const rdTestHost = "host.example"

var rdTestDomains = []string{".allowed.tld", "exact.tld", "ported.tld:8443"}

// rdTestDomainOK is an independent restatement of rdTestDomains, so the
// oracle does not trust hostAllowed to check itself.
func rdTestDomainOK(u *url.URL) bool {
	name := strings.ToLower(u.Hostname())
	return name == "allowed.tld" || strings.HasSuffix(name, ".allowed.tld") ||
		name == "exact.tld" ||
		(name == "ported.tld" && u.Port() == "8443")
}

func TestSafeRedirect(t *testing.T) {
	long := "/" + strings.Repeat("a", maxRedirectLen-1)
	tests := []struct {
		name        string
		rd          string
		requestHost string // rdTestHost when empty
		want        string // "" means rd itself is kept
	}{
		// Kept: local paths.
		{name: "root", rd: "/"},
		{name: "path with query", rd: "/tautulli/home?x=1"},
		{name: "path with fragment", rd: "/a/b#frag"},
		{name: "encoded space in query", rd: "/search?q=a%20b"},
		{name: "encoded slash inside path", rd: "/a%2Fb"},
		{name: "literal space", rd: "/a b"},
		{name: "unicode path", rd: "/〱google.com"},
		{name: "exactly max length", rd: long},

		// Kept: absolute URLs to the request host or an allowed domain.
		{name: "request host", rd: "https://host.example"},
		{name: "request host with path", rd: "https://host.example/x?y=1#z"},
		{name: "request host http", rd: "http://host.example/"},
		{name: "request host other case", rd: "https://HOST.example/x"},
		{name: "scheme upper case", rd: "HTTPS://host.example/x"},
		{name: "request host with port", rd: "https://host.example:8443/x", requestHost: "host.example:8443"},
		{name: "subdomain of dot entry", rd: "https://sub.allowed.tld/"},
		{name: "deep subdomain of dot entry", rd: "https://a.b.allowed.tld/x"},
		{name: "apex of dot entry", rd: "https://allowed.tld/"},
		{name: "allowed domain other case", rd: "https://Sub.ALLOWED.tld/"},
		{name: "allowed domain any port", rd: "https://sub.allowed.tld:9000/"},
		{name: "exact entry", rd: "https://exact.tld/"},
		{name: "entry with port", rd: "https://ported.tld:8443/"},

		// Refused: scheme-relative and backslash tricks.
		{name: "scheme relative", rd: "//evil.com", want: "/"},
		{name: "scheme relative to own host", rd: "//host.example/x", want: "/"},
		{name: "slash backslash", rd: `/\evil.com`, want: "/"},
		{name: "double backslash", rd: `\\evil.com`, want: "/"},
		{name: "backslash slash", rd: `\/evil.com`, want: "/"},
		{name: "slash backslash slash", rd: `/\/evil.com`, want: "/"},
		{name: "backslash later in path", rd: `/a\b`, want: "/"},
		{name: "triple slash", rd: "///evil.com", want: "/"},

		// Refused: foreign or disguised hosts.
		{name: "foreign https", rd: "https://evil.com", want: "/"},
		{name: "foreign http", rd: "http://evil.com/", want: "/"},
		{name: "allowed name as prefix", rd: "https://allowed.tld.evil.com/", want: "/"},
		{name: "allowed name without dot", rd: "https://evilallowed.tld/", want: "/"},
		{name: "request host as prefix", rd: "https://host.example.evil.com/", want: "/"},
		{name: "request host in path", rd: "https://evil.com/host.example", want: "/"},
		{name: "request host in query", rd: "https://evil.com?host.example", want: "/"},
		{name: "request host in fragment", rd: "https://evil.com#@host.example", want: "/"},
		{name: "userinfo", rd: "http://user@host.example/", want: "/"},
		{name: "userinfo with password", rd: "http://user:pw@host.example/", want: "/"},
		{name: "request host as userinfo", rd: "https://host.example@evil.com/", want: "/"},
		{name: "request host colon at", rd: "https://host.example:@evil.com/", want: "/"},
		{name: "backslash before at", rd: `https://evil.com\@host.example/`, want: "/"},
		{name: "port differs from request host", rd: "https://host.example:8443/", want: "/"},
		{name: "entry port missing", rd: "https://ported.tld/", want: "/"},
		{name: "entry port differs", rd: "https://ported.tld:4443/", want: "/"},
		{name: "subdomain of exact entry", rd: "https://sub.exact.tld/", want: "/"},
		{name: "trailing dot", rd: "https://host.example./", want: "/"},
		{name: "non-ascii host", rd: "https://évil.allowed.tld/", want: "/"},
		{name: "fullwidth dot host", rd: "https://evil.com．allowed.tld/", want: "/"},
		{name: "escaped host", rd: "https://%65vil.allowed.tld/", want: "/"},
		{name: "no authority", rd: "https:evil.com", want: "/"},
		{name: "one slash authority", rd: "https:/evil.com", want: "/"},
		{name: "three slash authority", rd: "https:///evil.com", want: "/"},
		{name: "empty host", rd: "https://", want: "/"},

		// Refused: other schemes.
		{name: "javascript", rd: "javascript:alert(1)", want: "/"},
		{name: "javascript mixed case", rd: "JavaScript://%0aalert(1)", want: "/"},
		{name: "data", rd: "data:text/html,<script>alert(1)</script>", want: "/"},
		{name: "ftp", rd: "ftp://host.example/", want: "/"},
		{name: "mailto", rd: "mailto:a@host.example", want: "/"},

		// Refused: control characters.
		{name: "nul", rd: "/\x00", want: "/"},
		{name: "tab", rd: "/\tfoo", want: "/"},
		{name: "tab making scheme relative", rd: "/\t/evil.com", want: "/"},
		{name: "newline", rd: "/foo\nbar", want: "/"},
		{name: "crlf", rd: "/\r\n/evil.com", want: "/"},
		{name: "del", rd: "/\x7f", want: "/"},
		{name: "tab in absolute host", rd: "https://ho\tst.example/", want: "/"},

		// Refused: not a path or absolute URL.
		{name: "empty", rd: "", want: "/"},
		{name: "relative path", rd: "foo", want: "/"},
		{name: "dot relative path", rd: "./foo", want: "/"},
		{name: "query only", rd: "?x", want: "/"},
		{name: "fragment only", rd: "#x", want: "/"},
		{name: "leading space", rd: " /foo", want: "/"},
		{name: "host without scheme", rd: "evil.com", want: "/"},
		{name: "too long", rd: long + "a", want: "/"},
		{name: "too long absolute", rd: "https://host.example/" + strings.Repeat("a", maxRedirectLen), want: "/"},

		// Refused: percent-encoding tricks.
		{name: "encoded double slash", rd: "/%2f%2fevil.com", want: "/"},
		{name: "encoded double slash upper", rd: "/%2F%2Fevil.com", want: "/"},
		{name: "encoded second slash", rd: "/%2fevil.com", want: "/"},
		{name: "encoded backslash", rd: "/%5cevil.com", want: "/"},
		{name: "encoded tab", rd: "/%09/evil.com", want: "/"},
		{name: "encoded newline", rd: "/%0a/evil.com", want: "/"},
		{name: "encoded nul", rd: "/%00", want: "/"},
		{name: "double encoded slash", rd: "/%252f%252fevil.com", want: "/"},
		{name: "triple encoded slash", rd: "/%25252f%25252fevil.com", want: "/"},
		{name: "too deeply encoded", rd: "/%2525252525252fevil.com", want: "/"},
		{name: "encoded leading slash", rd: "%2f%2fevil.com", want: "/"},
		{name: "encoded absolute URL", rd: "%68ttps://evil.com", want: "/"},
		{name: "bad escape", rd: "/%zz", want: "/"},
		{name: "truncated escape", rd: "/100%", want: "/"},
		{name: "bad escape after decoding", rd: "/%25zz", want: "/"},
		{name: "encoded crlf in absolute", rd: "https://host.example/%0d%0aSet-Cookie:x=1", want: "/"},
		{name: "encoded backslash in absolute", rd: "https://host.example/%5c", want: "/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host := tt.requestHost
			if host == "" {
				host = rdTestHost
			}
			want := tt.want
			if want == "" {
				want = tt.rd
			}
			if got := Safe(tt.rd, host, rdTestDomains); got != want {
				t.Errorf("Safe(%q, %q) = %q, want %q", tt.rd, host, got, want)
			}
		})
	}
}

func TestHostAllowed(t *testing.T) {
	tests := []struct {
		host    string
		domains []string
		want    bool
	}{
		{"example.com", nil, false},
		{"example.com", []string{"example.com"}, true},
		{"EXAMPLE.com:8080", []string{"example.COM"}, true},
		{"sub.example.com", []string{"example.com"}, false},
		{"sub.example.com", []string{".example.com"}, true},
		{"example.com", []string{".example.com"}, true},
		{"badexample.com", []string{".example.com"}, false},
		{"example.com.evil", []string{".example.com"}, false},
		{"example.com:8443", []string{"example.com:8443"}, true},
		{"example.com", []string{"example.com:8443"}, false},
		{"example.com:443", []string{"example.com:8443"}, false},
		{"a.example.com:8443", []string{".example.com:8443"}, true},
		{"[::1]:8443", []string{"[::1]:8443"}, true},
		{"[::1]", []string{"[::1]"}, true},
		{"evil.", []string{"."}, false},
		{"evil.com", []string{""}, false},
		{"", []string{""}, false},
	}
	for _, tt := range tests {
		if got := hostAllowed(tt.host, tt.domains); got != tt.want {
			t.Errorf("hostAllowed(%q, %q) = %v, want %v", tt.host, tt.domains, got, tt.want)
		}
	}
}

// rdBrowserResolve resolves ref against https://<requestHost>/ roughly the
// way a browser does (WHATWG URL): net/url does the resolution, after the
// browser's lenient pre-processing is applied by hand (leading and trailing
// C0 controls and spaces trimmed, tabs and newlines deleted, "\" read as "/").
func rdBrowserResolve(requestHost, ref string) (*url.URL, error) {
	ref = strings.TrimFunc(ref, func(r rune) bool { return r <= 0x20 })
	ref = strings.NewReplacer("\t", "", "\n", "", "\r", "", `\`, "/").Replace(ref)
	base, err := url.Parse("https://" + requestHost + "/")
	if err != nil {
		return nil, err
	}
	r, err := url.Parse(ref)
	if err != nil {
		return nil, err
	}
	return base.ResolveReference(r), nil
}

// rdCheckLanding returns an error unless out, as returned by Safe,
// is "/" or takes a browser somewhere okHost accepts over http(s), both as
// given and after each round of percent-decoding (some hop may unescape it).
func rdCheckLanding(out, requestHost string, okHost func(*url.URL) bool) error {
	if out == "/" {
		return nil
	}
	if strings.ContainsFunc(out, func(r rune) bool { return r == '\\' || r < 0x20 || r == 0x7f }) {
		return fmt.Errorf("output %q contains a backslash or control character", out)
	}
	if strings.HasPrefix(out, "//") {
		return fmt.Errorf("output %q starts with //", out)
	}
	if !strings.HasPrefix(out, "/") {
		u, err := url.Parse(out)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
			return fmt.Errorf("output %q is neither a path nor an absolute http(s) URL", out)
		}
	}
	s := out
	for round := 0; round < 10; round++ {
		u, err := rdBrowserResolve(requestHost, s)
		if err != nil {
			return fmt.Errorf("output %q: cannot model %q: %v", out, s, err)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return fmt.Errorf("output %q: %q resolves to scheme %q", out, s, u.Scheme)
		}
		if u.User != nil || !okHost(u) {
			return fmt.Errorf("output %q: %q resolves to foreign host %q (%s)", out, s, u.Host, u)
		}
		// A browser's IDNA mapping of non-ASCII hosts is not modelled here.
		for _, c := range []byte(u.Host) {
			if c >= 0x80 {
				return fmt.Errorf("output %q: non-ASCII host %q", out, u.Host)
			}
		}
		d, err := url.PathUnescape(s)
		if err != nil || d == s {
			return nil
		}
		s = d
	}
	return fmt.Errorf("output %q is still changing after 10 rounds of decoding", out)
}

// TestOpenRedirectCorpus runs oauth2-proxy's list of open-redirect payloads
// (testdata/openredirects.txt, MIT, see openredirects.LICENSE). The lines are
// query-escaped, so each is tried both as written and query-unescaped (the
// value a server receives). Every result must be "/" or stay on the request
// host; payloads that name www.whitelisteddomain.tld are also run with that
// as the request host.
func TestOpenRedirectCorpus(t *testing.T) {
	const corpusLines = 559
	f, err := os.Open("testdata/openredirects.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}

	sameHost := func(requestHost string) func(*url.URL) bool {
		return func(u *url.URL) bool { return strings.EqualFold(u.Host, requestHost) }
	}
	runs := []struct {
		requestHost string
		domains     []string
		okHost      func(*url.URL) bool
	}{
		{"www.whitelisteddomain.tld", nil, sameHost("www.whitelisteddomain.tld")},
		{"tools.example.com", nil, sameHost("tools.example.com")},
		// With the corpus's placeholder domain allowed, results may also go
		// there, but never anywhere else.
		{"tools.example.com", []string{".whitelisteddomain.tld"}, func(u *url.URL) bool {
			name := strings.ToLower(u.Hostname())
			return strings.EqualFold(u.Host, "tools.example.com") ||
				name == "whitelisteddomain.tld" || strings.HasSuffix(name, ".whitelisteddomain.tld")
		}},
	}
	for _, run := range runs {
		checked, kept := 0, 0
		for i, line := range lines {
			payloads := []string{line}
			if unq, err := url.QueryUnescape(line); err == nil && unq != line {
				payloads = append(payloads, unq)
			}
			for _, rd := range payloads {
				out := Safe(rd, run.requestHost, run.domains)
				if out != "/" {
					kept++
				}
				if err := rdCheckLanding(out, run.requestHost, run.okHost); err != nil {
					t.Errorf("host %s domains %q line %d payload %q: %v",
						run.requestHost, run.domains, i+1, rd, err)
				}
			}
			checked++
		}
		if checked < corpusLines {
			t.Fatalf("checked %d corpus lines, want at least %d", checked, corpusLines)
		}
		t.Logf("host %s domains %q: %d lines checked, %d payloads kept",
			run.requestHost, run.domains, checked, kept)
	}
}

func FuzzSafeRedirect(f *testing.F) {
	for _, s := range []string{
		"/", "/tautulli/home?x=1", "//evil.com", `/\evil.com`, `\\evil.com`,
		"/%2f%2fevil.com", "/%5cevil.com", "/%09/evil.com", "/%252f%252fevil.com",
		"https://host.example/x", "https://HOST.example:8443/", "https://sub.allowed.tld/",
		"https://allowed.tld.evil.com/", "https://host.example@evil.com/",
		`https://evil.com\@host.example/`, "https:/evil.com", "javascript:alert(1)",
		"data:text/html,x", "/\t/evil.com", "https://ported.tld:8443/", "%2f%2fevil.com",
		"https://[::1]:8443/", "/..//evil.com",
	} {
		f.Add(s)
	}
	configs := []struct {
		requestHost string
		domains     []string
		domainOK    func(*url.URL) bool
	}{
		{rdTestHost, rdTestDomains, rdTestDomainOK},
		{"host.example:8443", nil, func(*url.URL) bool { return false }},
		{"[::1]:8443", nil, func(*url.URL) bool { return false }},
	}
	f.Fuzz(func(t *testing.T, rd string) {
		for _, c := range configs {
			out := Safe(rd, c.requestHost, c.domains)
			if out != "/" && out != rd {
				t.Fatalf("Safe(%q, %q) = %q: neither \"/\" nor the input", rd, c.requestHost, out)
			}
			okHost := func(u *url.URL) bool {
				// Only absolute URLs may leave the request host.
				return strings.EqualFold(u.Host, c.requestHost) || (!strings.HasPrefix(out, "/") && c.domainOK(u))
			}
			if err := rdCheckLanding(out, c.requestHost, okHost); err != nil {
				t.Fatalf("Safe(%q, %q): %v", rd, c.requestHost, err)
			}
			if again := Safe(out, c.requestHost, c.domains); again != out {
				t.Fatalf("Safe not idempotent: %q -> %q -> %q", rd, out, again)
			}
		}
	})
}
