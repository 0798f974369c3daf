package plexauth

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-plexauth/caddy-plexauth/internal/ownerlist"
	"github.com/caddy-plexauth/caddy-plexauth/plextest"
)

// Process tests of owner_token: Caddy built from cmd/caddy, against the
// fake plex.tv, deciding from the owner's list.

// otherServerID is a second server of the owner's; zedServerID is someone
// else's.
const (
	otherServerID = "0aa1bb2cc3dd4ee5ff60718293a4b5c6d7e8f901"
	zedServerID   = "5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e"
)

// ownerProcPlex is the fake plex.tv: owner owns machineID and otherServerID;
// homie is in the owner's Plex Home; friend has machineID; otherfriend only
// otherServerID; invitee is invited to machineID and has not accepted;
// mallory's own resources claim machineID as owned; zed owns zedServerID.
// The owner's token is in $PLEX_OWNER_TOKEN for the Caddy processes.
func ownerProcPlex(t *testing.T) (*plextest.Server, string) {
	plex := plextest.NewServer()
	t.Cleanup(plex.Close)
	plex.AddServer(machineID, "Living Room")
	plex.AddServer(otherServerID, "Cabin")
	plex.AddServer(zedServerID, "Zed's")
	for _, u := range []string{"owner", "homie", "friend", "otherfriend", "invitee", "mallory", "stranger", "zed"} {
		plex.AddAccount(u)
	}
	plex.Share(machineID, "owner", plextest.Owner)
	plex.Share(otherServerID, "owner", plextest.Owner)
	plex.Share(machineID, "homie", plextest.Home)
	plex.Share(machineID, "friend", plextest.Friend)
	plex.Share(otherServerID, "otherfriend", plextest.Friend)
	plex.Invite(machineID, "invitee")
	plex.ClaimServer(machineID, "mallory")
	plex.Share(zedServerID, "zed", plextest.Owner)
	token := plex.Account("owner").Token
	t.Setenv("PLEX_OWNER_TOKEN", token)
	return plex, token
}

// ownerBlock is the inside of a plex_auth block with owner_token for server.
func ownerBlock(plex *plextest.Server, server, extra string) string {
	return fmt.Sprintf("\t\t\tserver %s\n\t\t\towner_token {env.PLEX_OWNER_TOKEN}\n\t\t\tplex_tv_url %s\n\t\t\tplex_app_url %s\n\t\t\ttimeout 2s\n%s",
		server, plex.URL, plex.AppURL(), extra)
}

// ownerSite is a Caddyfile whose site answers "hello <username> <tier>"
// behind the block; with device non-empty, /device/* is behind a block
// without owner_token (prefix /device/_plexauth) answering "device …".
func ownerSite(admin, port int, storage, block, device string) string {
	site := ""
	if device != "" {
		site += "\thandle /device/* {\n\t\tplex_auth {\n" + device + "\n\t\t}\n\t\trespond \"device {http.auth.user.username} {http.auth.user.tier}\"\n\t}\n"
	}
	site += "\thandle {\n\t\tplex_auth {\n" + block + "\n\t\t}\n\t\trespond \"hello {http.auth.user.username} {http.auth.user.tier}\"\n\t}\n"
	return fmt.Sprintf(`{
	admin localhost:%d
	http_port %d
	storage file_system %s
	skip_install_trust
	grace_period 1s
}
http://127.0.0.1:%d {
%s}
`, admin, port, storage, port, site)
}

// ownerSignIn walks the same-tab flow under prefix as account and returns
// the callback's status and body, and the session cookie it set, if any.
func ownerSignIn(t *testing.T, plex *plextest.Server, base, prefix, account string) (int, string, *http.Cookie) {
	t.Helper()
	// Each sign-in comes from an address of its own, as different people
	// do: the per-client limits on pin calls then never get in the way.
	b := newBrowserFrom(t, nextClientAddr())
	resp, body := b.do(http.MethodPost, base+prefix+"/start", url.Values{"rd": {"/"}})
	expectStatus(t, resp, http.StatusSeeOther, body)
	frag, _ := url.ParseQuery(resp.Header.Get("Location")[len(plex.AppURL())+2:])
	if err := plex.Approve(frag.Get("code"), account); err != nil {
		t.Fatal(err)
	}
	resp, body = b.get(base + prefix + "/callback")
	for _, c := range resp.Cookies() {
		if c.Name == "plex_auth_session" && c.MaxAge > 0 {
			return resp.StatusCode, body, c
		}
	}
	return resp.StatusCode, body, nil
}

var clientAddrs atomic.Int32

// nextClientAddr is a loopback address no other sign-in of this run used.
func nextClientAddr() string {
	n := clientAddrs.Add(1)
	return fmt.Sprintf("127.0.%d.%d", 1+n/250, 1+n%250)
}

func mustSignIn(t *testing.T, plex *plextest.Server, base, account string) *http.Cookie {
	t.Helper()
	st, body, c := ownerSignIn(t, plex, base, "/_plexauth", account)
	if st != http.StatusFound || c == nil {
		t.Fatalf("%s: sign-in answered %d (cookie %v): %.300s", account, st, c != nil, body)
	}
	return c
}

// waitLog waits until the process has logged s.
func waitLog(t *testing.T, p *caddyProc, s string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !strings.Contains(p.stderr.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("caddy never logged %q:\n%s", s, p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// noOwnerToken fails when the owner token shows in the process's log, its
// config home (autosave.json), its admin API's config, or the folders.
func noOwnerToken(t *testing.T, token string, p *caddyProc, dirs ...string) {
	t.Helper()
	if strings.Contains(p.stderr.String(), token) {
		t.Fatal("the owner token is in Caddy's log")
	}
	for _, d := range append(dirs, p.home) {
		files := dumpDir(t, d)
		for _, e := range files {
			if strings.Contains(e, token) {
				t.Fatalf("the owner token is in a file: %.200q", e)
			}
		}
	}
	if !p.stopped {
		resp, err := http.Get(fmt.Sprintf("http://localhost:%d/config/", p.admin))
		if err != nil {
			t.Fatal(err)
		}
		cfg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(cfg), "owner_token") || strings.Contains(string(cfg), token) {
			t.Fatalf("the running config should name owner_token by its placeholder only: %.300s", cfg)
		}
	}
}

// perSessionCalls counts the calls plex.tv got with a token other than the
// owner's: what sessions' own re-checks would cost.
func perSessionCalls(plex *plextest.Server, ownerToken string) int {
	n := 0
	for _, r := range plex.Requests() {
		if tok := r.Header.Get("X-Plex-Token"); tok != "" && tok != ownerToken {
			n++
		}
	}
	return n
}

func TestProcessOwnerTokenDecidesTiersFromTheOwnersList(t *testing.T) {
	plex, token := ownerProcPlex(t)
	storage, port := t.TempDir(), freePort(t)
	device := fmt.Sprintf("\t\t\tserver %s\n\t\t\tprefix /device/_plexauth\n\t\t\tplex_tv_url %s\n\t\t\tplex_app_url %s\n", machineID, plex.URL, plex.AppURL())
	p := startCaddy(t, port, func(admin int) string {
		return ownerSite(admin, port, storage, ownerBlock(plex, machineID, ""), device)
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitLog(t, p, "owner's list read", 20*time.Second)
	for _, mode := range []string{`"access_mode":"owner_list"`, `"access_mode":"account_resources"`} {
		if !strings.Contains(p.stderr.String(), mode) {
			t.Errorf("no start-up line with %s:\n%s", mode, p.stderr.String())
		}
	}

	for account, tier := range map[string]string{"owner": "owner", "homie": "home", "friend": "friend"} {
		c := mustSignIn(t, plex, base, account)
		expectSignedIn(t, base+"/", c, account+" "+tier)
	}
	for _, account := range []string{"otherfriend", "invitee", "mallory", "stranger"} {
		st, body, c := ownerSignIn(t, plex, base, "/_plexauth", account)
		if st != http.StatusForbidden || c != nil || !strings.Contains(body, account) {
			t.Errorf("%s: sign-in answered %d (session cookie %v), want the 403 page naming the account: %.200s", account, st, c != nil, body)
		}
	}

	// The same claim, on the block without owner_token, makes mallory
	// owner: that is what owner_token stops trusting. Her session is
	// refused where the owner's list decides.
	st, body, c := ownerSignIn(t, plex, base, "/device/_plexauth", "mallory")
	if st != http.StatusFound || c == nil {
		t.Fatalf("mallory on the block without owner_token: %d %.200s", st, body)
	}
	resp, body := withCookie(t, base+"/device/x", c)
	if resp.StatusCode != http.StatusOK || body != "device mallory owner" {
		t.Fatalf("without owner_token the claimed server should make mallory owner (the fixture's point): %d %q", resp.StatusCode, body)
	}
	resp, body = withCookie(t, base+"/", c)
	expectStatus(t, resp, http.StatusForbidden, body)
	noOwnerToken(t, token, p, storage)
}

func TestProcessOwnerListRemovesFriendsWithOneCallPerRevalidate(t *testing.T) {
	plex, token := ownerProcPlex(t)
	var names []string
	for i := 0; i < 30; i++ {
		n := fmt.Sprintf("f%02d", i)
		plex.AddAccount(n)
		plex.Share(machineID, n, plextest.Friend)
		names = append(names, n)
	}
	storage, port := t.TempDir(), freePort(t)
	p := startCaddy(t, port, func(admin int) string {
		return ownerSite(admin, port, storage, ownerBlock(plex, machineID, "\t\t\trevalidate 1s"), "")
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitLog(t, p, "owner's list read", 20*time.Second)
	cookies := map[string]*http.Cookie{}
	for _, n := range names {
		cookies[n] = mustSignIn(t, plex, base, n)
	}

	plex.ResetLog()
	window := 4 * time.Second // four times revalidate
	for start := time.Now(); time.Since(start) < window; {
		for _, n := range names {
			expectSignedIn(t, base+"/", cookies[n], n+" friend")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := perSessionCalls(plex, token); n != 0 {
		t.Errorf("30 sessions over %v cost %d calls with their own tokens; want none", window, n)
	}
	// About one list read per revalidate; a read per session would be
	// over a hundred.
	if n := plex.Count(http.MethodGet, "/api/users"); n < 2 || n > 7 {
		t.Errorf("the owner's list was read %d times in %v with revalidate 1s; want about 4", n, window)
	}

	plex.Unshare(machineID, "f07")
	time.Sleep(1100 * time.Millisecond) // revalidate
	body := waitStatus(t, base+"/", cookies["f07"], http.StatusForbidden, 5*time.Second)
	if !strings.Contains(body, "f07") {
		t.Errorf("the refusal should name the account: %.300s", body)
	}
	expectSignedIn(t, base+"/", cookies["f08"], "f08 friend")
	if n := perSessionCalls(plex, token); n != 0 {
		t.Errorf("ending a removed friend's access cost %d per-session calls; want none", n)
	}
	noOwnerToken(t, token, p, storage)
}

func TestProcessInvitationAcceptedAfterStartAndStrangersBounded(t *testing.T) {
	plex, token := ownerProcPlex(t)
	for i := 0; i < 5; i++ {
		plex.AddAccount(fmt.Sprintf("s%d", i))
	}
	storage, port := t.TempDir(), freePort(t)
	p := startCaddy(t, port, func(admin int) string {
		return ownerSite(admin, port, storage, ownerBlock(plex, machineID, ""), "")
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitLog(t, p, "owner's list read", 20*time.Second)

	plex.Share(machineID, "invitee", plextest.Friend) // the invitation accepted
	plex.ResetLog()
	c := mustSignIn(t, plex, base, "invitee")
	expectSignedIn(t, base+"/", c, "invitee friend")
	if n := plex.Count(http.MethodGet, "/api/users"); n != 1 {
		t.Fatalf("the sign-in of an invitation accepted after start read the list %d times, want 1", n)
	}
	for i := 0; i < 5; i++ {
		if st, body, _ := ownerSignIn(t, plex, base, "/_plexauth", fmt.Sprintf("s%d", i)); st != http.StatusForbidden {
			t.Fatalf("stranger s%d: %d %.200s", i, st, body)
		}
	}
	if n := plex.Count(http.MethodGet, "/api/users"); n != 1 {
		t.Fatalf("the list was read %d times for one invitee and five strangers within %v; want 1", n, ownerlist.OnDemandEvery)
	}
	noOwnerToken(t, token, p, storage)

	// The list's reads stop with the block.
	if !strings.Contains(p.goroutines(), "ownerlist.(*List).run") {
		t.Fatal("no goroutine reads the owner's list while the block runs; the check below could not fail")
	}
	p.reload(procConfig(p.admin, port, storage, ""))
	if g := p.goroutines(); strings.Contains(g, "ownerlist.") {
		t.Fatalf("the owner's list still runs after its block was removed:\n%s", g)
	}
}

func TestProcessOwnerTokenOfAnotherServersOwner(t *testing.T) {
	plex, token := ownerProcPlex(t)
	storage, port := t.TempDir(), freePort(t)
	p := startCaddy(t, port, func(admin int) string {
		return ownerSite(admin, port, storage, ownerBlock(plex, zedServerID, ""), "")
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitLog(t, p, "does not own every configured server", 20*time.Second)
	var line string
	for _, l := range strings.Split(p.stderr.String(), "\n") {
		if strings.Contains(l, "does not own every configured server") {
			line = l
		}
	}
	for _, want := range []string{`"error"`, zedServerID, machineID + " (Living Room)", otherServerID + " (Cabin)"} {
		if !strings.Contains(line, want) {
			t.Errorf("the error line should carry %s: %s", want, line)
		}
	}

	b := newBrowser(t)
	resp, body := b.get(base + "/")
	expectStatus(t, resp, http.StatusFound, body)
	resp, body = b.get(base + resp.Header.Get("Location"))
	expectStatus(t, resp, http.StatusServiceUnavailable, body)
	if !strings.Contains(body, "set-up needs attention") {
		t.Errorf("the login page should say the site's Plex set-up needs attention: %.400s", body)
	}
	resp, body = b.do(http.MethodPost, base+"/_plexauth/start", url.Values{"rd": {"/"}, "popup": {"1"}}, "Accept", "application/json")
	expectStatus(t, resp, http.StatusServiceUnavailable, body)
	if !strings.Contains(body, "set-up needs attention") {
		t.Errorf("start, for the popup: %s", body)
	}
	if n := plex.Count("POST", "/api/v2/pins"); n != 0 {
		t.Errorf("a block that cannot decide sent %d browsers to Plex", n)
	}
	if n := plex.Count(http.MethodGet, "/api/users"); n != 0 {
		t.Errorf("the list of an account that does not own the server was read %d times", n)
	}
	noOwnerToken(t, token, p, storage)
}

func TestProcessOwnerTokenRevokedKeepsSignedInUsers(t *testing.T) {
	plex, token := ownerProcPlex(t)
	storage, port := t.TempDir(), freePort(t)
	p := startCaddy(t, port, func(admin int) string {
		return ownerSite(admin, port, storage, ownerBlock(plex, machineID, "\t\t\trevalidate 1s"), "")
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitLog(t, p, "owner's list read", 20*time.Second)
	friend := mustSignIn(t, plex, base, "friend")
	homie := mustSignIn(t, plex, base, "homie")

	plex.RevokeToken("owner")
	waitLog(t, p, "plex.tv rejected owner_token", 10*time.Second)
	plex.ResetLog()
	for start := time.Now(); time.Since(start) < 2500*time.Millisecond; {
		expectSignedIn(t, base+"/", friend, "friend friend")
		expectSignedIn(t, base+"/", homie, "homie home")
		time.Sleep(100 * time.Millisecond)
	}
	b := newBrowser(t)
	resp, body := b.get(base + "/_plexauth/login?rd=/")
	expectStatus(t, resp, http.StatusServiceUnavailable, body)
	if !strings.Contains(body, "set-up needs attention") {
		t.Errorf("a new sign-in should get the set-up page: %.400s", body)
	}
	resp, body = b.do(http.MethodPost, base+"/_plexauth/start", url.Values{"rd": {"/"}})
	expectStatus(t, resp, http.StatusServiceUnavailable, body)
	if n := strings.Count(p.stderr.String(), "plex.tv rejected owner_token"); n != 1 {
		t.Errorf("the rejected token was logged %d times, want once", n)
	}
	if n := plex.Count("", "/api/*"); n != 0 {
		t.Errorf("plex.tv got %d calls after rejecting the token; want none until a reload", n)
	}
	noOwnerToken(t, token, p, storage)
}

func TestProcessRestartDuringPlexOutageDecidesFromTheStoredList(t *testing.T) {
	plex, token := ownerProcPlex(t)
	plex.SetUsersJSON(true) // the JSON form, through a real process
	plex.AddAccount("leaver")
	plex.Share(machineID, "leaver", plextest.Friend)
	storage, port := t.TempDir(), freePort(t)
	cfg := func(admin int) string {
		return ownerSite(admin, port, storage, ownerBlock(plex, machineID, "\t\t\trevalidate 1s"), "")
	}
	p := startCaddy(t, port, cfg)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitLog(t, p, "owner's list read", 20*time.Second)
	friend := mustSignIn(t, plex, base, "friend")
	homie := mustSignIn(t, plex, base, "homie")
	leaver := mustSignIn(t, plex, base, "leaver")
	plex.Unshare(machineID, "leaver")
	waitStatus(t, base+"/", leaver, http.StatusForbidden, 10*time.Second)
	p.stop()

	plex.SetDown(true)
	p = startCaddy(t, port, cfg)
	expectSignedIn(t, base+"/", friend, "friend friend")
	expectSignedIn(t, base+"/", homie, "homie home")
	resp, body := withCookie(t, base+"/", leaver)
	expectStatus(t, resp, http.StatusForbidden, body)
	waitLog(t, p, "reading the owner's list from plex.tv failed", 10*time.Second)
	p.stop()
	noOwnerToken(t, token, p, storage)

	// Without the stored list, the same restart cannot decide: it was the
	// stored list that decided above.
	if err := os.RemoveAll(filepath.Join(storage, "plex_auth", "owner_lists")); err != nil {
		t.Fatal(err)
	}
	startCaddy(t, port, cfg)
	resp, body = withCookie(t, base+"/", friend)
	expectStatus(t, resp, http.StatusServiceUnavailable, body)
}

func TestProcessOwnerTokenNeverLeavesTheProcess(t *testing.T) {
	addr := startRedis(t)
	plex, token := ownerProcPlex(t)
	storage, port := t.TempDir(), freePort(t)
	p := startCaddy(t, port, func(admin int) string {
		return ownerSite(admin, port, storage, ownerBlock(plex, machineID,
			"\t\t\trevalidate 1s\n\t\t\tstore redis redis://"+addr+"/0\n"), "")
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitLog(t, p, "owner's list read", 20*time.Second)
	var bodies []string
	c := mustSignIn(t, plex, base, "friend")
	_, body, _ := ownerSignIn(t, plex, base, "/_plexauth", "stranger") // a read on demand
	bodies = append(bodies, body)

	plex.SetStatus(http.StatusServiceUnavailable, 0) // failing reads are logged
	waitLog(t, p, "reading the owner's list from plex.tv failed", 10*time.Second)
	plex.SetStatus(0, 0)
	plex.RevokeToken("owner") // and a rejected token
	waitLog(t, p, "plex.tv rejected owner_token", 20*time.Second)
	expectSignedIn(t, base+"/", c, "friend friend")
	resp, body := newBrowser(t).get(base + "/_plexauth/login")
	expectStatus(t, resp, http.StatusServiceUnavailable, body)
	bodies = append(bodies, body)

	for _, b := range bodies {
		if strings.Contains(b, token) {
			t.Fatal("the owner token is in a page")
		}
	}
	keys := redisDump(t, addr)
	if len(keys) == 0 {
		t.Fatal("Redis holds nothing; the check below could not fail")
	}
	for _, e := range keys {
		if strings.Contains(e, token) {
			t.Fatalf("the owner token is in Redis: %.200q", e)
		}
	}
	if len(dumpDir(t, filepath.Join(storage, "plex_auth", "owner_lists"))) != 1 {
		t.Fatal("no stored owner's list; the storage check could not fail")
	}
	noOwnerToken(t, token, p, storage)
}
