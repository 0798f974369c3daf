package cookieheader

import (
	"slices"
	"testing"
)

// Locate's value is Find's for quoted values too: one pair of enclosing
// quotes comes off, a lone quote at either end stays.
func TestLocateTakesOffEnclosingQuotesOnly(t *testing.T) {
	const name = "plex_auth_session"
	for _, c := range []struct{ line, want string }{
		{`plex_auth_session="q"`, "q"},
		{`plex_auth_session=""`, ""},
		{`plex_auth_session="`, `"`},
		{`plex_auth_session="abc`, `"abc`},
		{`plex_auth_session=abc"`, `abc"`},
		{`a=1; plex_auth_session="abc`, `"abc`},
		{`plex_auth_session=a"b"; a=1`, `a"b"`},
	} {
		h := map[string][]string{"Cookie": {c.line}}
		if got, _ := Locate(h, name); got != c.want {
			t.Errorf("Locate(%q) = %q, want %q", c.line, got, c.want)
		}
		if got := Find(h, name); got != c.want {
			t.Errorf("Find(%q) = %q, want %q", c.line, got, c.want)
		}
	}
}

// Cut's promise (the hot path's): where Locate saw one line in the form
// browsers send, holding the cookie first or last, Cut cuts the line
// Locate read and reads the header map no more. It is handed here a map
// that is not the request's, which a Cut going back to Strip would read
// (and find nothing to strip in): the request's line must be cut anyway.
func TestCutOfALineLocateKnewReadsTheMapNoMore(t *testing.T) {
	const name = "plex_auth_session"
	for _, c := range []struct{ line, want string }{
		{"a=1; plex_auth_session=S", "a=1"},
		{"plex_auth_session=S; a=1", "a=1"},
		{"a=1; b=2; plex_auth_session=S", "a=1; b=2"},
	} {
		h := map[string][]string{"Cookie": {c.line}}
		v, at := Locate(h, name)
		if v != "S" {
			t.Fatalf("Locate(%q) = %q, want S", c.line, v)
		}
		other := map[string][]string{}
		at.Cut(other, name)
		if !slices.Equal(h["Cookie"], []string{c.want}) {
			t.Errorf("%q: Cut left the request's line %q, want %q (it went back to the map)", c.line, h["Cookie"], c.want)
		}
		if len(other) != 0 {
			t.Errorf("%q: Cut wrote %q into the map it was handed", c.line, other)
		}
	}
}
