package returnurl

import "testing"

// An HTTP/1.0 request may come without a Host header (r.Host is then ""),
// and a site address like ":8080" serves it: a return URL without a host of
// its own must not pass as "the request's host" then.
func TestReturnURLWithoutAHostIsRefusedForARequestWithoutOne(t *testing.T) {
	for _, rd := range []string{"https:evil.com", "https:/evil.com", "https:///evil.com", "https://", "http:///", "https://:443/"} {
		for _, domains := range [][]string{nil, rdTestDomains} {
			if got := Safe(rd, "", domains); got != "/" {
				t.Errorf("Safe(%q, no Host, %v) = %q, want /", rd, domains, got)
			}
		}
	}
	if got := Safe("/kept", "", nil); got != "/kept" {
		t.Errorf("a local path is kept without a Host too; got %q", got)
	}
}

// Hosts in return URLs are letters, digits and .-_:[] only: every other
// byte net/url lets through into a host is refused, even under an allowed
// domain, and every letter and digit is accepted (the range ends count).
func TestReturnURLHostCharacters(t *testing.T) {
	for c := byte(0x21); c < 0x7f; c++ {
		var want bool
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '-', c == '_':
			want = true
		case c == '#', c == '/', c == '?', c == '@', c == '\\', c == ':', c == '[', c == ']', c == '%':
			continue // end the host, make userinfo, or are refused by net/url or other rules
		}
		rd := "https://a" + string(c) + "b.allowed.tld/"
		if got := Safe(rd, rdTestHost, rdTestDomains) == rd; got != want {
			t.Errorf("host byte %q: kept = %v, want %v", c, got, want)
		}
	}
}
