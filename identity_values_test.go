package plexauth

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestHostileAccountValuesAreCleanedBeforeTheyReachHeaders(t *testing.T) {
	e := newEnv(t, basicSite)
	// A display name with a line break made every request of the account a
	// 502 (the header could not be sent upstream).
	if err := e.plex.SetTitle("friend", "Friend\r\nX-Injected: yes"); err != nil {
		t.Fatal(err)
	}
	if err := e.plex.SetEmail("friend", "friend@example.com\x00\x7f\u0085"); err != nil {
		t.Fatal(err)
	}
	// A username of 3.9 MB, of two-byte characters after one ASCII one, so
	// that 256 bytes falls inside a character.
	huge := "x" + strings.Repeat("é", 1_950_000)
	if err := e.plex.Rename("homie", huge); err != nil {
		t.Fatal(err)
	}

	t.Run("control characters", func(t *testing.T) {
		b := newBrowser(t)
		resp, body := e.signIn(b, "friend", "/")
		expectStatus(t, resp, http.StatusFound, body)
		resp, body = b.get("/")
		expectStatus(t, resp, http.StatusOK, body)
		got := e.up.last().Header
		if v := got.Values("Remote-Name"); len(v) != 1 || v[0] != "FriendX-Injected: yes" {
			t.Errorf("Remote-Name = %q", v)
		}
		if got.Get("X-Injected") != "" {
			t.Error("a header was injected through the display name")
		}
		if v := got.Get("Remote-Email"); v != "friend@example.com" {
			t.Errorf("Remote-Email = %q", v)
		}
	})

	t.Run("huge username", func(t *testing.T) {
		b := newBrowser(t)
		resp, body := e.signIn(b, huge, "/")
		expectStatus(t, resp, http.StatusFound, body)
		resp, body = b.get("/")
		expectStatus(t, resp, http.StatusOK, body)
		user := e.up.last().Header.Get("Remote-User")
		if len(user) > 256 || len(user) < 250 || !utf8.ValidString(user) || !strings.HasPrefix(huge, user) {
			t.Errorf("Remote-User is %d bytes (valid UTF-8: %v), want the first 256 bytes or less, cut between characters", len(user), utf8.ValidString(user))
		}
		err := filepath.Walk(e.storage, func(path string, info os.FileInfo, err error) error {
			if err == nil && info.Mode().IsRegular() && info.Size() > 16<<10 {
				t.Errorf("%s holds %d bytes", path, info.Size())
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

func TestCleanAccountValue(t *testing.T) {
	long := strings.Repeat("a", 300)
	cases := []struct {
		name, in, want string
	}{
		{"plain", "Alice Smith", "Alice Smith"},
		{"non-ASCII kept", "Élodie 🎬 \u212aevin", "Élodie 🎬 \u212aevin"},
		{"CR LF", "Evil\r\nX-Injected: yes", "EvilX-Injected: yes"},
		{"NUL, tab, DEL", "a\x00b\tc\x7fd", "abcd"},
		{"C1 (NEL)", "a\u0085b\u009bc", "abc"},
		{"not UTF-8", "a\xffb\xc3", "ab"},
		{"U+FFFD itself kept", "a\uFFFDb", "a\uFFFDb"},
		{"exactly 256", long[:256], long[:256]},
		{"cut at 256", long, long[:256]},
		{"cut between characters", "x" + strings.Repeat("é", 200), "x" + strings.Repeat("é", 127)},
		{"four-byte character at the edge", strings.Repeat("a", 254) + "🎬", strings.Repeat("a", 254)},
		{"control characters do not count", strings.Repeat("\n", 1000) + "ok", "ok"},
		{"empty", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := cleanAccountValue(c.in); got != c.want {
				t.Fatalf("cleanAccountValue(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
}

func FuzzCleanAccountValue(f *testing.F) {
	for _, s := range []string{"alice", "Evil\r\nX: y", "a\xffb", "x" + strings.Repeat("é", 200), "\u0085", strings.Repeat("🎬", 70)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := cleanAccountValue(in)
		if len(out) > maxAccountValue || !utf8.ValidString(out) {
			t.Fatalf("%q -> %q: %d bytes, valid UTF-8 %v", in, out, len(out), utf8.ValidString(out))
		}
		for _, r := range out {
			if unicode.IsControl(r) {
				t.Fatalf("%q -> %q keeps control character %U", in, out, r)
			}
		}
		for i := 0; i < len(out); i++ {
			if out[i] < ' ' || out[i] == 0x7f {
				t.Fatalf("%q -> %q cannot be sent in a header (byte %#x)", in, out, out[i])
			}
		}
		if cleanAccountValue(out) != out {
			t.Fatalf("cleaning %q twice changes it", in)
		}
		if len(in) <= maxAccountValue && utf8.ValidString(in) && !strings.ContainsFunc(in, unicode.IsControl) && out != in {
			t.Fatalf("clean value %q changed to %q", in, out)
		}
	})
}

// The avatar goes to OpenID Connect clients as picture, which they may put
// in a page: only a clean https URL passes, whole or not at all.
func TestAvatarURLIsAnHTTPSURLOrNothing(t *testing.T) {
	for v, want := range map[string]string{
		"https://plex.tv/users/0123456789abcdef/avatar?c=1700000000": "https://plex.tv/users/0123456789abcdef/avatar?c=1700000000",
		"":                               "",
		"http://plex.tv/users/x/avatar":  "",
		"javascript:alert(1)":            "",
		"https://plex.tv/a\"><script>":   "",
		"https://plex.tv/a b":            "",
		"https://user:pw@plex.tv/avatar": "",
		"https:///avatar":                "",
		"https://plex.tv/\x00avatar":     "",
		"https://plex.tv/" + strings.Repeat("a", maxAccountValue): "",
	} {
		if got := avatarURL(v); got != want {
			t.Errorf("avatarURL(%q) = %q, want %q", v, got, want)
		}
	}
}
