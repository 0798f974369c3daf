package account

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

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
			if got := Clean(c.in); got != c.want {
				t.Fatalf("Clean(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
}

func FuzzCleanAccountValue(f *testing.F) {
	for _, s := range []string{"alice", "Evil\r\nX: y", "a\xffb", "x" + strings.Repeat("é", 200), "\u0085", strings.Repeat("🎬", 70)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := Clean(in)
		if len(out) > MaxValue || !utf8.ValidString(out) {
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
		if Clean(out) != out {
			t.Fatalf("cleaning %q twice changes it", in)
		}
		if len(in) <= MaxValue && utf8.ValidString(in) && !strings.ContainsFunc(in, unicode.IsControl) && out != in {
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
		`https://plex.tv/a"><script>`:    "",
		"https://plex.tv/a b":            "",
		"https://user:pw@plex.tv/avatar": "",
		"https:///avatar":                "",
		"https://plex.tv/\x00avatar":     "",
		"https://plex.tv/" + strings.Repeat("a", MaxValue): "",
	} {
		if got := avatarURL(v); got != want {
			t.Errorf("avatarURL(%q) = %q, want %q", v, got, want)
		}
	}
}
