package cookieheader

import (
	"slices"
	"strings"
	"testing"
)

func FuzzFindCookie(f *testing.F) {
	f.Add("a=1; plex_auth_session=x; b=2")
	f.Add("plex_auth_session=\"q\"")
	f.Add(";;;=;")
	f.Add("plex_auth_session=x; plex_auth_session=y")
	f.Fuzz(func(t *testing.T, line string) {
		h := map[string][]string{"Cookie": {line}}
		first := Find(h, "plex_auth_session")
		if vs := Values(h, "plex_auth_session"); len(vs) > 0 && vs[0] != first || len(vs) == 0 && first != "" {
			t.Fatalf("Find = %q but Values = %q", first, vs)
		}
		Strip(h, "plex_auth_session")
		if Find(h, "plex_auth_session") != "" {
			t.Fatalf("cookie survived stripping: %q", h["Cookie"])
		}
	})
}

// Values sees every cookie of the name, across Cookie lines, in the
// order sent, and nothing that merely starts with the name.
func TestCookieValuesFindsEveryCookieOfTheName(t *testing.T) {
	for _, c := range []struct {
		lines []string
		want  []string
	}{
		{[]string{"plex_auth_session=old; theme=dark; plex_auth_session=new"}, []string{"old", "new"}},
		{[]string{"plex_auth_session=a", "x=1; plex_auth_session=\"b\""}, []string{"a", "b"}},
		{[]string{"plex_auth_session_state=s; plex_auth_sessionx=t; xplex_auth_session=u"}, nil},
		{[]string{";;plex_auth_session=; ; plex_auth_session=z"}, []string{"", "z"}},
		{nil, nil},
	} {
		got := Values(map[string][]string{"Cookie": c.lines}, "plex_auth_session")
		if !slices.Equal(got, c.want) {
			t.Errorf("Values(%q) = %q, want %q", c.lines, got, c.want)
		}
	}
}

// Strip takes a shortcut for the Cookie lines browsers send; it must
// leave exactly what the general way leaves.
func TestStripCookieShortcutAgreesWithGeneralWay(t *testing.T) {
	for _, line := range []string{
		"plex_auth_session=S",
		"theme=dark; plex_auth_session=S",
		"plex_auth_session=S; theme=dark",
		"a=1; plex_auth_session=S; b=2",
		"a=1;plex_auth_session=S",
		"a=1;  plex_auth_session=S",
		" plex_auth_session=S",
		"plex_auth_session=S ",
		"a=1; plex_auth_session=S; plex_auth_session=T",
		"a=1; plex_auth_session_state=x",
		"a=1; b=2",
		"a=1 ; b=2",
		"a=1; ; plex_auth_session=S",
		"a=1;",
		"\u00a0plex_auth_session=S",
		"a=1\u00a0; plex_auth_session=S",
		"plex_auth_session=",
		"plex_auth_session",
		"",
	} {
		checkStripShortcut(t, line)
	}
}

func FuzzStripCookieShortcut(f *testing.F) {
	f.Add("a=1; plex_auth_session=S")
	f.Add("plex_auth_session=S; a=1")
	f.Add("a=1; plex_auth_session=S; b=2")
	f.Fuzz(checkStripShortcut)
}

func checkStripShortcut(t *testing.T, line string) {
	fast := map[string][]string{"Cookie": {line}}
	general := map[string][]string{"Cookie": {line}}
	Strip(fast, "plex_auth_session")
	stripParts(general, "plex_auth_session")
	f, fok := fast["Cookie"]
	g, gok := general["Cookie"]
	if fok != gok || len(f) != len(g) || (len(f) == 1 && f[0] != g[0]) {
		t.Fatalf("%q: Strip left %q (present %v), the general way %q (present %v)", line, f, fok, g, gok)
	}
}

func TestFindAndStripCookie(t *testing.T) {
	h := map[string][]string{"Cookie": {"a=1; plex_auth_session=SEALED; b=2", "plex_auth_session_state=x"}}
	if got := Find(h, "plex_auth_session"); got != "SEALED" {
		t.Fatalf("Find = %q", got)
	}
	if got := Find(h, "plex_auth"); got != "" {
		t.Fatalf("prefix of a name must not match, got %q", got)
	}
	Strip(h, "plex_auth_session")
	if got := strings.Join(h["Cookie"], " | "); got != "a=1; b=2 | plex_auth_session_state=x" {
		t.Fatalf("after strip: %q", got)
	}
	only := map[string][]string{"Cookie": {"plex_auth_session=SEALED"}}
	Strip(only, "plex_auth_session")
	if _, ok := only["Cookie"]; ok {
		t.Fatal("a Cookie header holding only the session cookie should go")
	}
}
