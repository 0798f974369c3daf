package cookieheader

import (
	"slices"
	"testing"
)

// Find and Values match the whole name and nothing else: not another name
// of the same length, not the bare name without '=' (which must not crash
// either), and take one pair of enclosing quotes off, no lone quote.
func TestFindMatchesTheExactNameAndOnlyEnclosingQuotes(t *testing.T) {
	const name = "plex_auth_session"
	for _, c := range []struct {
		line string
		want []string
	}{
		{"plex_auth_sessioX=evil; plex_auth_session=v", []string{"v"}},
		{"Plex_auth_session=evil; plex_auth_session=v", []string{"v"}},
		{"plex_auth_session; plex_auth_session=v", []string{"v"}},
		{"plex_auth_session", nil},
		{`plex_auth_session="q"`, []string{"q"}},
		{`plex_auth_session=""`, []string{""}},
		{`plex_auth_session="`, []string{`"`}},
		{`plex_auth_session="abc`, []string{`"abc`}},
		{`plex_auth_session=abc"`, []string{`abc"`}},
		{`plex_auth_session=a"b"`, []string{`a"b"`}},
	} {
		h := map[string][]string{"Cookie": {c.line}}
		if got := Values(h, name); !slices.Equal(got, c.want) {
			t.Errorf("Values(%q) = %q, want %q", c.line, got, c.want)
		}
		want := ""
		if len(c.want) > 0 {
			want = c.want[0]
		}
		if got := Find(h, name); got != want {
			t.Errorf("Find(%q) = %q, want %q", c.line, got, want)
		}
	}
}

// Strip removes the cookie wherever it is, on any Cookie line, leaves the
// others as the client sent them, and a request without a Cookie header
// without one.
func TestStripRemovesTheCookieFromEveryLineAndNothingElse(t *testing.T) {
	const name = "plex_auth_session"
	for _, c := range []struct {
		lines []string
		want  []string // nil: no Cookie header
	}{
		{nil, nil},
		{[]string{"a=1", "plex_auth_session=S; b=2"}, []string{"a=1", "b=2"}},
		{[]string{"plex_auth_session=S", "plex_auth_session=T"}, nil},
		{[]string{"a=1;; plex_auth_session=S;  ;b=2"}, []string{"a=1; b=2"}},
		{[]string{";plex_auth_session=S; a=1"}, []string{"a=1"}},
		{[]string{"plex_auth_sessioX=keep; ; plex_auth_session=S"}, []string{"plex_auth_sessioX=keep"}},
		{[]string{"plex_auth_sessioX=keep; a=1"}, []string{"plex_auth_sessioX=keep; a=1"}},
		// No such cookie: the line stays as sent, spacing and all.
		{[]string{"a=1;b=2 ;  c=3"}, []string{"a=1;b=2 ;  c=3"}},
		{[]string{"a=1;b=2", "c=3"}, []string{"a=1;b=2", "c=3"}},
	} {
		h := map[string][]string{"Other": {"x"}}
		if c.lines != nil {
			h["Cookie"] = slices.Clone(c.lines)
		}
		Strip(h, name)
		got, ok := h["Cookie"]
		if ok != (c.want != nil) || !slices.Equal(got, c.want) {
			t.Errorf("Strip(%q) left %q (header present %v), want %q", c.lines, got, ok, c.want)
		}
		if len(h["Other"]) != 1 {
			t.Errorf("Strip(%q) changed another header: %q", c.lines, h)
		}
	}
}

// Strip's promise: a line in the form browsers send is cut without
// allocating (the request path strips the session cookie on every
// signed-in request).
func TestStripOfABrowsersLineAllocatesNothing(t *testing.T) {
	for _, line := range []string{
		"theme=dark; plex_auth_session=S",
		"plex_auth_session=S; theme=dark",
		"plex_auth_session=S",
		"a=1; b=2",
	} {
		lines := []string{line}
		h := map[string][]string{"Cookie": lines}
		allocs := testing.AllocsPerRun(50, func() {
			lines[0] = line
			h["Cookie"] = lines
			Strip(h, "plex_auth_session")
			if Find(h, "plex_auth_session") != "" {
				t.Fatalf("%q: the cookie is still there: %q", line, h["Cookie"])
			}
		})
		if allocs != 0 {
			t.Errorf("Strip(%q): %v allocations, want 0", line, allocs)
		}
	}
}

// The shortcut refuses a part padded at its end (TrimSpace would change
// it), as it does one padded at its start.
func TestStripShortcutAgreesOnPaddedParts(t *testing.T) {
	for _, line := range []string{
		"a=1 ; plex_auth_session=S",
		"a=1\t; plex_auth_session=S",
		"plex_auth_session=S ; a=1",
		"a=1; plex_auth_session=S\u00a0",
	} {
		checkStripShortcut(t, line)
	}
}

// ValidName is RFC 6265's cookie-name, an RFC 2616 token: no control
// character, space, DEL, byte above ASCII or separator.
func TestValidNameIsAnRFC6265Token(t *testing.T) {
	for _, name := range []string{"plex_auth_session", "a", "A-Z.09!#$%&'*+^_`|~"} {
		if !ValidName(name) {
			t.Errorf("ValidName(%q) = false, want true", name)
		}
	}
	bad := []string{"", "a b", "a\tb", "a\x00", "a\x1f", "a\x7f", "caf\u00e9", "\x80"}
	for _, c := range "()<>@,;:\\\"/[]?={}" {
		bad = append(bad, "a"+string(c)+"b", string(c))
	}
	for _, name := range bad {
		if ValidName(name) {
			t.Errorf("ValidName(%q) = true, want false", name)
		}
	}
}
