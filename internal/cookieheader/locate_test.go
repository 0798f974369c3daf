package cookieheader

import (
	"slices"
	"testing"
)

// Locate reads what Find reads, and Cut leaves what Strip leaves, for any
// Cookie header: the hot path finds the session cookie with Locate and
// removes it with Cut, so a difference would let a request reach the
// application with its session cookie, or with another cookie changed.
func FuzzLocateIsFindAndCutIsStrip(f *testing.F) {
	for _, line := range []string{
		"plex_auth_session=S",
		"plex_auth_session=\"S\"",
		"plex_auth_session=\"",
		"a=1; plex_auth_session=S",
		"plex_auth_session=S; a=1",
		"a=1; plex_auth_session=S; b=2",
		"a=1; b=2",
		"plex_auth_session=S; plex_auth_session=T",
		"a=1;plex_auth_session=S",
		" plex_auth_session=S",
		"plex_auth_session=S ",
		"plex_auth_session=S;",
		"plex_auth_session=\x7fS",
		"plex_auth_sessionx=S; plex_auth_session=",
		"",
	} {
		f.Add(line, "")
		f.Add(line, "x=1")
	}
	f.Fuzz(func(t *testing.T, line, second string) {
		lines := []string{line}
		if second != "" {
			lines = append(lines, second)
		}
		const name = "plex_auth_session"
		located := map[string][]string{"Cookie": slices.Clone(lines)}
		stripped := map[string][]string{"Cookie": slices.Clone(lines)}
		v, at := Locate(located, name)
		if want := Find(stripped, name); v != want {
			t.Fatalf("%q: Locate = %q, Find = %q", lines, v, want)
		}
		at.Cut(located, name)
		Strip(stripped, name)
		c, cok := located["Cookie"]
		s, sok := stripped["Cookie"]
		if cok != sok || !slices.Equal(c, s) {
			t.Fatalf("%q: Cut left %q (present %v), Strip %q (present %v)", lines, c, cok, s, sok)
		}
	})
}

// Cut takes the shortcut only where Locate saw one line in the form
// browsers send, holding the cookie once first or last; elsewhere it is
// Strip. The zero Spot is Strip too.
func TestCutRemovesTheCookieLocateFound(t *testing.T) {
	for _, c := range []struct{ line, want string }{
		{"plex_auth_session=S", ""},
		{"a=1; plex_auth_session=S", "a=1"},
		{"plex_auth_session=S; a=1", "a=1"},
		{"a=1; plex_auth_session=S; b=2", "a=1; b=2"},
		{"a=1;plex_auth_session=S", "a=1"},
		{"a=1; b=2", "a=1; b=2"},
	} {
		h := map[string][]string{"Cookie": {c.line}}
		v, at := Locate(h, "plex_auth_session")
		if c.line != "a=1; b=2" && v != "S" {
			t.Errorf("%q: Locate = %q, want S", c.line, v)
		}
		at.Cut(h, "plex_auth_session")
		got, ok := h["Cookie"]
		if c.want == "" {
			if ok {
				t.Errorf("%q: Cut left %q, want the header gone", c.line, got)
			}
		} else if !slices.Equal(got, []string{c.want}) {
			t.Errorf("%q: Cut left %q, want %q", c.line, got, c.want)
		}
	}
	h := map[string][]string{"Cookie": {"a=1; plex_auth_session=S"}}
	Spot{}.Cut(h, "plex_auth_session")
	if !slices.Equal(h["Cookie"], []string{"a=1"}) {
		t.Errorf("the zero Spot's Cut left %q, want a=1", h["Cookie"])
	}
}
