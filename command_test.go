package plexauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/caddy-plexauth/caddy-plexauth/internal/access"
	"github.com/caddy-plexauth/caddy-plexauth/internal/admin"
	"github.com/caddy-plexauth/caddy-plexauth/internal/command"
)

// signoutThroughAdminAPI runs `caddy plex-auth signout arg` against the
// admin API of the fixture, served as Caddy's admin endpoint serves it
// (an APIError becomes its status with {"error": …}).
func signoutThroughAdminAPI(t *testing.T, f *adminFixture, arg string) error {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := f.api.serve(w, r); err != nil {
			var apiErr caddy.APIError
			if !errors.As(err, &apiErr) {
				t.Errorf("%s %s: error %v is no caddy.APIError", r.Method, r.URL.Path, err)
				apiErr = caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: err}
			}
			w.WriteHeader(apiErr.HTTPStatus)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": apiErr.Err.Error()})
		}
	}))
	defer srv.Close()
	c := &cobra.Command{}
	c.Flags().String("address", "", "")
	c.Flags().String("config", "", "")
	c.Flags().String("adapter", "", "")
	if err := c.Flags().Parse([]string{arg, "--address", strings.TrimPrefix(srv.URL, "http://")}); err != nil {
		t.Fatal(err)
	}
	_, err := command.Signout(caddycmd.Flags{FlagSet: c.Flags()})
	return err
}

// TestSignoutByUsernameFoldsASCIIOnlyAndRefusesAnAmbiguousName: a
// username is matched as allow_users matches it, ignoring ASCII case only,
// so an account named with the Kelvin sign (U+212A) is not "kevin". When
// the name matches more than one account, nothing is signed out and the
// error lists the candidates, so the operator picks one by id.
func TestSignoutByUsernameFoldsASCIIOnlyAndRefusesAnAmbiguousName(t *testing.T) {
	t.Run("look-alike", func(t *testing.T) {
		f := newAdminFixture(t, 1)
		// The look-alike signed in first, so it comes first in the list.
		impostorID, impostor := f.signIn(0, 9301, "\u212Aevin", nil)
		impostor.Created = impostor.Created.Add(-time.Minute)
		kevinID, _ := f.signIn(0, 9302, "kevin", nil)
		kevinAgain, _ := f.signIn(0, 9302, "kevin", nil) // two sessions of one account are no ambiguity
		if err := signoutThroughAdminAPI(t, f, "kevin"); err != nil {
			t.Fatalf("signout kevin: %v", err)
		}
		if f.live(0, kevinID) || f.live(0, kevinAgain) {
			t.Error("kevin is still signed in")
		}
		if !f.live(0, impostorID) {
			t.Error("the account named with the Kelvin sign was signed out")
		}
		// Named exactly, the look-alike is the one ended.
		if err := signoutThroughAdminAPI(t, f, "\u212Aevin"); err != nil {
			t.Fatalf("signout \\u212Aevin: %v", err)
		}
		if f.live(0, impostorID) {
			t.Error("the account named with the Kelvin sign is still signed in")
		}
	})
	t.Run("two accounts one name", func(t *testing.T) {
		f := newAdminFixture(t, 1)
		upperID, _ := f.signIn(0, 9401, "Kevin", nil)
		lowerID, _ := f.signIn(0, 9402, "kevin", nil)
		for _, arg := range []string{"kevin", "KEVIN", "Kevin"} {
			err := signoutThroughAdminAPI(t, f, arg)
			if err == nil {
				t.Fatalf("signout %s: signed out, want a refusal", arg)
			}
			for _, want := range []string{`9401 "Kevin"`, `9402 "kevin"`, "account id"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("signout %s: error %q does not name %s", arg, err, want)
				}
			}
			if !f.live(0, upperID) || !f.live(0, lowerID) {
				t.Fatalf("signout %s: a session ended though the name was ambiguous", arg)
			}
		}
		// By id, as before.
		if err := signoutThroughAdminAPI(t, f, "9402"); err != nil {
			t.Fatalf("signout 9402: %v", err)
		}
		if f.live(0, lowerID) || !f.live(0, upperID) {
			t.Error("signout 9402 did not end exactly that account's session")
		}
	})
}

// cli runs the Caddy binary with args, in an empty folder (so no
// Caddyfile there is found), and returns its standard output.
func cli(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return cliIn(t, t.TempDir(), args...)
}

// cliIn is cli in the folder dir.
func cliIn(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(caddyBinary(t), args...)
	cmd.Dir = dir
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("caddy %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), nil
}

func mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, err := cli(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// adminRequest calls a running Caddy's admin API as curl would.
func adminRequest(t *testing.T, p *caddyProc, method, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, fmt.Sprintf("http://localhost:%d%s", p.admin, path), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestProcessAdminAPIAndCLIEndSessionsOnEveryInstance runs two Caddy
// instances sharing a storage folder, with cache_ttl 1h so that only the
// admin API's sign-out can end a session on the other instance in time:
// it lists sessions through the CLI and the admin API, ends one session by
// handle and one account by username, and checks both instances refuse
// the cookies.
func TestProcessAdminAPIAndCLIEndSessionsOnEveryInstance(t *testing.T) {
	plex := procPlex(t)
	storage := t.TempDir()
	pa, pb := freePort(t), freePort(t)
	cfg := func(port int) func(admin int) string {
		return func(admin int) string { return procConfig(admin, port, storage, plexBlock(plex, "\t\tcache_ttl 1h")) }
	}
	A, B := startCaddy(t, pa, cfg(pa)), startCaddy(t, pb, cfg(pb))
	a, b := fmt.Sprintf("http://127.0.0.1:%d", pa), fmt.Sprintf("http://127.0.0.1:%d", pb)
	adminA := fmt.Sprintf("localhost:%d", A.admin)

	owner := procSignIn(t, newBrowserFrom(t, "127.0.0.2"), plex, a, "owner")
	friendA := procSignIn(t, newBrowserFrom(t, "127.0.0.3"), plex, a, "friend")
	friendB := procSignIn(t, newBrowserFrom(t, "127.0.0.4"), plex, b, "friend") // A never sees this one
	for _, c := range []struct {
		cookie *http.Cookie
		user   string
	}{{owner, "owner"}, {friendA, "friend"}} {
		expectSignedIn(t, a+"/", c.cookie, c.user)
		expectSignedIn(t, b+"/", c.cookie, c.user) // B now holds them in memory
	}
	expectSignedIn(t, b+"/", friendB, "friend")

	// The CLI's table, with the admin endpoint named by --address.
	table := mustCLI(t, "plex-auth", "sessions", "--address", adminA)
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "HANDLE") || !strings.Contains(table, " owner ") || !strings.Contains(table, " friend ") {
		t.Fatalf("caddy plex-auth sessions printed:\n%s\nwant a header and A's two sessions", table)
	}
	// The same as JSON, with the endpoint found from A's Caddyfile.
	var fromCLI []admin.Session
	js := mustCLI(t, "plex-auth", "sessions", "--json", "--config", filepath.Join(A.home, "Caddyfile"), "--adapter", "caddyfile")
	if err := json.Unmarshal([]byte(js), &fromCLI); err != nil {
		t.Fatalf("--json printed %q: %v", js, err)
	}
	// And straight from the admin API.
	code, body := adminRequest(t, A, http.MethodGet, "/plex_auth/sessions")
	var fromAPI []admin.Session
	if code != http.StatusOK || json.Unmarshal([]byte(body), &fromAPI) != nil {
		t.Fatalf("GET /plex_auth/sessions: %d %s", code, body)
	}
	if len(fromAPI) != 2 || !slices.EqualFunc(fromAPI, fromCLI, func(x, y admin.Session) bool { return x.Handle == y.Handle }) {
		t.Fatalf("the admin API lists %+v, the CLI %+v", fromAPI, fromCLI)
	}
	// And from a Caddyfile in the current folder, as `caddy reload` finds it.
	here := t.TempDir()
	cfgA, err := os.ReadFile(filepath.Join(A.home, "Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(here, "Caddyfile"), cfgA, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := cliIn(t, here, "plex-auth", "sessions"); err != nil || out != table {
		t.Fatalf("with A's Caddyfile in the current folder, sessions printed %q (%v), want A's table", out, err)
	}
	var ownerHandle string
	for _, s := range fromAPI {
		if s.Username == "owner" {
			ownerHandle = s.Handle
			if s.AccountID != int64(plex.Account("owner").ID) || !slices.Equal(s.Tiers, []string{access.TierOwner}) || s.Title != "Owner" {
				t.Errorf("owner's session listed as %+v", s)
			}
		}
	}
	for _, secret := range []string{plex.Account("owner").Token, plex.Account("friend").Token, owner.Value, friendA.Value} {
		if strings.Contains(table+js+body, secret) {
			t.Fatal("a session list shows a Plex token or a cookie value")
		}
	}

	// One session, by handle: A refuses it at once, B once it has read
	// the sign-out counter (a second at most; cache_ttl is an hour).
	if code, body := adminRequest(t, A, http.MethodDelete, "/plex_auth/sessions/"+ownerHandle); code != http.StatusOK {
		t.Fatalf("DELETE session: %d %s", code, body)
	}
	resp, _ := withCookie(t, a+"/", owner)
	expectStatus(t, resp, http.StatusFound, "")
	waitStatus(t, b+"/", owner, http.StatusFound, 15*time.Second)
	expectSignedIn(t, a+"/", friendA, "friend")

	// One account, by username through the CLI: every session of it, on
	// both instances, including the one A never held.
	out := mustCLI(t, "plex-auth", "signout", "friend", "--address", adminA)
	if !strings.Contains(out, fmt.Sprintf("Signed out friend (Plex account %d): 1 session(s) ended", plex.Account("friend").ID)) {
		t.Fatalf("caddy plex-auth signout printed %q", out)
	}
	resp, _ = withCookie(t, a+"/", friendA)
	expectStatus(t, resp, http.StatusFound, "")
	waitStatus(t, b+"/", friendA, http.StatusFound, 15*time.Second)
	waitStatus(t, b+"/", friendB, http.StatusFound, 15*time.Second)
	resp, _ = withCookie(t, a+"/", friendB)
	expectStatus(t, resp, http.StatusFound, "")

	// The account may sign in again.
	again := procSignIn(t, newBrowserFrom(t, "127.0.0.5"), plex, b, "friend")
	expectSignedIn(t, a+"/", again, "friend")
	expectSignedIn(t, b+"/", again, "friend")

	if out := mustCLI(t, "plex-auth", "sessions", "--address", fmt.Sprintf("localhost:%d", B.admin)); !strings.Contains(out, " friend ") || strings.Contains(out, " owner ") {
		t.Errorf("B lists, after the sign-outs:\n%s", out)
	}
	if _, err := cli(t, "plex-auth", "signout", "nobody-here", "--address", adminA); err == nil || !strings.Contains(err.Error(), "account id") {
		t.Errorf("signing out an unknown username: %v", err)
	}
	// The audit trail: A ended the owner's session and friend's one it
	// held, and the account; B ended the session A never held when it
	// read the account's marker.
	audit := func(p *caddyProc, msg, user string) int {
		n := 0
		for _, line := range strings.Split(p.stderr.String(), "\n") {
			if strings.Contains(line, `"logger":"http.handlers.plex_auth.audit","msg":"`+msg+`"`) &&
				strings.Contains(line, `"username":"`+user+`"`) && strings.Contains(line, `"reason":"admin_api"`) {
				n++
			}
		}
		return n
	}
	for _, c := range []struct {
		p         *caddyProc
		msg, user string
		want      int
	}{{A, "session ended", "owner", 1}, {A, "session ended", "friend", 1}, {A, "account signed out", "friend", 1}, {B, "session ended", "friend", 1}} {
		if got := audit(c.p, c.msg, c.user); got != c.want {
			t.Errorf("%d audit lines %q for %s with reason admin_api, want %d", got, c.msg, c.user, c.want)
		}
	}
	for _, e := range dumpDir(t, storage) {
		for _, secret := range []string{plex.Account("friend").Token, friendA.Value, friendB.Value, "friend@example.com"} {
			if strings.Contains(e, secret) {
				t.Fatalf("the store holds a token, a cookie value or account data in clear: %.200q", e)
			}
		}
	}
}
