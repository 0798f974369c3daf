package plexauth

import (
	"bytes"
	"encoding/base64"
	"errors"
	"slices"
	"testing"
	"time"
)

func testSealer(t testing.TB, purpose string, secrets ...string) *sealer {
	t.Helper()
	var keys [][]byte
	for _, s := range secrets {
		keys = append(keys, []byte(s))
	}
	s, err := newSealer(purpose, keys)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSealedCookieRoundTrips(t *testing.T) {
	s := testSealer(t, "session", "k1")
	now := time.Now()
	v := s.seal("c", []byte("payload"), now.Add(time.Hour))
	got, err := s.open("c", v, now, nil)
	if err != nil || string(got) != "payload" {
		t.Fatalf("open = %q, %v", got, err)
	}
	if bytes.Contains([]byte(v), []byte("payload")) {
		t.Fatal("sealed value shows the payload")
	}
}

func TestSealedCookieRefusals(t *testing.T) {
	s := testSealer(t, "session", "k1")
	now := time.Now()
	v := s.seal("c", []byte("payload"), now.Add(time.Hour))
	raw, _ := base64.RawURLEncoding.DecodeString(v)
	raw[len(raw)-1] ^= 1
	flipped := base64.RawURLEncoding.EncodeToString(raw)

	cases := []struct {
		name  string
		open  func() error
		wantE error
	}{
		{"other cookie name", func() error { _, err := s.open("d", v, now, nil); return err }, errCookieForged},
		{"other purpose", func() error { _, err := testSealer(t, "state", "k1").open("c", v, now, nil); return err }, errCookieForged},
		{"other secret", func() error { _, err := testSealer(t, "session", "k2").open("c", v, now, nil); return err }, errCookieForged},
		{"bit flipped", func() error { _, err := s.open("c", flipped, now, nil); return err }, errCookieForged},
		{"expired", func() error { _, err := s.open("c", v, now.Add(2*time.Hour), nil); return err }, errCookieExpired},
		{"not base64", func() error { _, err := s.open("c", "%%%", now, nil); return err }, errCookieMalformed},
		{"too short", func() error { _, err := s.open("c", "AAAA", now, nil); return err }, errCookieMalformed},
		{"empty", func() error { _, err := s.open("c", "", now, nil); return err }, errCookieMalformed},
		{"oversized", func() error { _, err := s.open("c", string(make([]byte, 5000)), now, nil); return err }, errCookieMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.open(); !errors.Is(err, c.wantE) {
				t.Fatalf("err = %v, want %v", err, c.wantE)
			}
		})
	}
}

// base64url leaves the low bits of a value's last character unused when
// its length is not a multiple of three bytes; a lenient decoder ignores
// them (RFC 4648 section 3.5), so one sealed value would have several
// spellings. Each is a different cookie value that opens to the same bytes:
// it must be refused, not admitted as a second value.
func TestNonCanonicalSpellingOfSealedValueIsRefused(t *testing.T) {
	s := testSealer(t, "session", "k1")
	now := time.Now()
	// A session id (32 bytes) leaves 2 bits unused; 7 bytes leave 4.
	for _, payload := range []string{"0123456789abcdef0123456789abcdef", "payload"} {
		v := s.seal("c", []byte(payload), now.Add(time.Hour))
		raw, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil {
			t.Fatal(err)
		}
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		spellings := 0
		for _, c := range []byte(alphabet) {
			other := v[:len(v)-1] + string(c)
			if other == v {
				continue
			}
			if b, err := base64.RawURLEncoding.DecodeString(other); err != nil || !bytes.Equal(b, raw) {
				continue // another value, not another spelling of this one
			}
			spellings++
			if got, err := s.open("c", other, now, nil); !errors.Is(err, errCookieMalformed) {
				t.Errorf("%d-byte payload: spelling %q of %q opened to %q, %v; want errCookieMalformed", len(payload), other[len(other)-4:], v[len(v)-4:], got, err)
			}
			var scratch openBuf
			if _, err := s.open("c", other, now, scratch[:]); !errors.Is(err, errCookieMalformed) {
				t.Errorf("%d-byte payload, with scratch space: spelling %q opened: %v", len(payload), other[len(other)-4:], err)
			}
		}
		if want := 1<<(6-8*len(raw)%6) - 1; spellings != want {
			t.Fatalf("%d-byte payload: found %d other spellings, want %d: the test checked nothing", len(payload), spellings, want)
		}
		// Strict decoding still skips line breaks.
		for _, other := range []string{v[:10] + "\n" + v[10:], v[:10] + "\r" + v[10:], v + "\r\n"} {
			if b, err := base64.RawURLEncoding.DecodeString(other); err != nil || !bytes.Equal(b, raw) {
				t.Fatalf("%q is not another spelling of the value; the test checks nothing", other)
			}
			if _, err := s.open("c", other, now, nil); !errors.Is(err, errCookieMalformed) {
				t.Errorf("%d-byte payload: the value with a line break in it opened: %v", len(payload), err)
			}
		}
		if _, err := s.open("c", v, now, nil); err != nil {
			t.Fatalf("the canonical spelling was refused: %v", err)
		}
	}
}

func TestRotatedSecretStillOpensOldCookies(t *testing.T) {
	now := time.Now()
	old := testSealer(t, "session", "old").seal("c", []byte("x"), now.Add(time.Hour))
	rotated := testSealer(t, "session", "new", "old")
	if _, err := rotated.open("c", old, now, nil); err != nil {
		t.Fatalf("cookie under the old secret refused after rotation: %v", err)
	}
	fresh := rotated.seal("c", []byte("y"), now.Add(time.Hour))
	if _, err := testSealer(t, "session", "new").open("c", fresh, now, nil); err != nil {
		t.Fatalf("new cookies must be sealed with the first secret: %v", err)
	}
}

func FuzzOpenCookie(f *testing.F) {
	s := testSealer(f, "session", "k1")
	now := time.Now()
	f.Add(s.seal("c", []byte("0123456789abcdef0123456789abcdef"), now.Add(time.Hour)))
	f.Add("")
	f.Add("AAAA")
	f.Add("%%%")
	f.Add("\"quoted\"")
	f.Fuzz(func(t *testing.T, v string) {
		var scratch [256]byte
		got, err := s.open("c", v, now, scratch[:])
		if err == nil && len(got) > len(v) {
			t.Fatalf("opened %d bytes from a %d-byte value", len(got), len(v))
		}
		got2, err2 := s.open("c", v, now, nil)
		if (err == nil) != (err2 == nil) || !bytes.Equal(got, got2) {
			t.Fatalf("scratch and no-scratch disagree: %v/%v", err, err2)
		}
	})
}

func FuzzFindCookie(f *testing.F) {
	f.Add("a=1; plex_auth_session=x; b=2")
	f.Add("plex_auth_session=\"q\"")
	f.Add(";;;=;")
	f.Add("plex_auth_session=x; plex_auth_session=y")
	f.Fuzz(func(t *testing.T, line string) {
		h := map[string][]string{"Cookie": {line}}
		first := findCookie(h, "plex_auth_session")
		if vs := cookieValues(h, "plex_auth_session"); len(vs) > 0 && vs[0] != first || len(vs) == 0 && first != "" {
			t.Fatalf("findCookie = %q but cookieValues = %q", first, vs)
		}
		stripCookie(h, "plex_auth_session")
		if findCookie(h, "plex_auth_session") != "" {
			t.Fatalf("cookie survived stripping: %q", h["Cookie"])
		}
	})
}

// cookieValues sees every cookie of the name, across Cookie lines, in the
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
		got := cookieValues(map[string][]string{"Cookie": c.lines}, "plex_auth_session")
		if !slices.Equal(got, c.want) {
			t.Errorf("cookieValues(%q) = %q, want %q", c.lines, got, c.want)
		}
	}
}

// stripCookie takes a shortcut for the Cookie lines browsers send; it must
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
	stripCookie(fast, "plex_auth_session")
	stripCookieParts(general, "plex_auth_session")
	f, fok := fast["Cookie"]
	g, gok := general["Cookie"]
	if fok != gok || len(f) != len(g) || (len(f) == 1 && f[0] != g[0]) {
		t.Fatalf("%q: stripCookie left %q (present %v), the general way %q (present %v)", line, f, fok, g, gok)
	}
}
