package plexauth

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
