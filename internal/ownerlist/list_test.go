package ownerlist

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-plexauth/caddy-plexauth/internal/access"
	"github.com/caddy-plexauth/caddy-plexauth/internal/plextv"
	"github.com/caddy-plexauth/caddy-plexauth/plextest"
)

// ownerPlex is the fake plex.tv of the owner tests: "owner" owns srv and
// srv2; homie is in the owner's Plex Home; friend has srv; otherfriend only
// srv2; invitee is invited to srv and has not accepted; mallory's own
// resources claim srv; stranger has nothing; zed owns srv3.
func ownerPlex(t *testing.T) *plextest.Server {
	plex := plextest.NewServer()
	t.Cleanup(plex.Close)
	plex.AddServer("srv", "Living Room")
	plex.AddServer("srv2", "Cabin")
	plex.AddServer("srv3", "Zed's")
	for _, u := range []string{"owner", "homie", "friend", "otherfriend", "invitee", "mallory", "stranger", "zed"} {
		plex.AddAccount(u)
	}
	plex.Share("srv", "owner", plextest.Owner)
	plex.Share("srv2", "owner", plextest.Owner)
	plex.Share("srv", "homie", plextest.Home)
	plex.Share("srv", "friend", plextest.Friend)
	plex.Share("srv2", "otherfriend", plextest.Friend)
	plex.Invite("srv", "invitee")
	plex.ClaimServer("srv", "mallory")
	plex.Share("srv3", "zed", plextest.Owner)
	return plex
}

type ownerTest struct {
	t       *testing.T
	plex    *plextest.Server
	o       *List
	logs    *observer.ObservedLogs
	storage string
}

// startOwnerList runs a block's owner's list against the fake, with
// storage in dir, reads every `every`.
func startOwnerList(t *testing.T, plex *plextest.Server, token, dir string, every time.Duration, servers ...string) *ownerTest {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	st := &certmagic.FileStorage{Path: dir}
	client := plextv.New(plextv.Config{BaseURL: plex.URL, Product: "Test", ClientID: "test-client", Timeout: 2 * time.Second, HTTP: &http.Client{Timeout: 2 * time.Second}})
	o, err := New(context.Background(), Config{
		Plex: client, Token: token, Servers: servers, Every: every, Storage: st, Log: zap.New(core),
		StoreTimeout: 5 * time.Second, MaxBackoff: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(o.Stop)
	return &ownerTest{t: t, plex: plex, o: o, logs: logs, storage: dir}
}

// settled waits until the list's first read at start has ended.
func (ot *ownerTest) settled() *access.OwnerView {
	ot.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ot.o.readMu.Lock()
		done := ot.o.reads > 0 || ot.o.fails > 0 || ot.o.view.Load().Problem != access.OwnerOK
		ot.o.readMu.Unlock()
		if done {
			return ot.o.Current()
		}
		if time.Now().After(deadline) {
			ot.t.Fatal("the owner's list was never read")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (ot *ownerTest) tier(name string) string {
	v := ot.o.Current()
	if v.List == nil {
		return "(no list)"
	}
	return v.List.TierOf(int64(ot.plex.Account(name).ID))
}

func (ot *ownerTest) logText() string {
	var b strings.Builder
	for _, e := range ot.logs.All() {
		fmt.Fprintf(&b, "%s %s", e.Level, e.Message)
		for k, v := range e.ContextMap() {
			fmt.Fprintf(&b, " %s=%v", k, v)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// noSecret fails when the token is in a log line or a stored file.
func (ot *ownerTest) noSecret(token string) {
	ot.t.Helper()
	if strings.Contains(ot.logText(), token) {
		ot.t.Fatalf("the owner token is in a log line:\n%s", ot.logText())
	}
	for _, e := range dumpDir(ot.t, ot.storage) {
		if strings.Contains(e, token) {
			ot.t.Fatalf("the owner token is in a stored file: %.200q", e)
		}
	}
}

func TestOwnerListReadsTiersFromTheOwnersSide(t *testing.T) {
	plex := ownerPlex(t)
	token := plex.Account("owner").Token
	ot := startOwnerList(t, plex, token, t.TempDir(), time.Hour, "srv")
	if v := ot.settled(); v.List == nil || v.Problem != access.OwnerOK {
		t.Fatalf("view %+v\n%s", v, ot.logText())
	}
	for name, want := range map[string]string{
		"owner": access.TierOwner, "homie": access.TierHome, "friend": access.TierFriend,
		"otherfriend": "", "invitee": "", "mallory": "", "stranger": "", "zed": "",
	} {
		if got := ot.tier(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	// Owner verified once: user and resources, then the list.
	for path, want := range map[string]int{"/api/v2/user": 1, "/api/v2/resources": 1, "/api/users": 1} {
		if got := plex.Count(http.MethodGet, path); got != want {
			t.Errorf("%s called %d times, want %d", path, got, want)
		}
	}

	// The friend removed, the invitation accepted: the next read says so,
	// without asking again who owns the servers.
	plex.Unshare("srv", "friend")
	plex.Share("srv", "invitee", plextest.Friend)
	ot.o.refresh(nil)
	if ot.tier("friend") != "" || ot.tier("invitee") != access.TierFriend {
		t.Fatalf("after a read: friend %q, invitee %q", ot.tier("friend"), ot.tier("invitee"))
	}
	if got := plex.Count(http.MethodGet, "/api/v2/resources"); got != 1 {
		t.Errorf("resources read %d times, want once", got)
	}
	ot.noSecret(token)
}

func TestOwnerListOnDemandReadsAreBounded(t *testing.T) {
	plex := ownerPlex(t)
	ot := startOwnerList(t, plex, plex.Account("owner").Token, t.TempDir(), time.Hour, "srv")
	ot.settled()
	plex.Share("srv", "invitee", plextest.Friend) // accepted after start
	plex.ResetLog()
	onList := func(name string) func(*access.OwnerView) bool {
		id := int64(plex.Account(name).ID)
		return func(v *access.OwnerView) bool { return v.List != nil && v.List.TierOf(id) != "" }
	}
	ot.o.ReadOnDemand(onList("friend")) // on the list: no read
	if n := plex.Count("", "/api/*"); n != 0 {
		t.Fatalf("a sign-in by someone on the list read plex.tv %d times", n)
	}
	ot.o.ReadOnDemand(onList("invitee"))
	if ot.tier("invitee") != access.TierFriend {
		t.Fatal("an invitation accepted after start is not seen by the read on demand")
	}
	for i := 0; i < 5; i++ {
		ot.o.ReadOnDemand(onList("stranger"))
	}
	if n := plex.Count(http.MethodGet, "/api/users"); n != 1 {
		t.Fatalf("a sign-in not on the list, then 5 strangers, read the list %d times within %v; want 1", n, OnDemandEvery)
	}
}

func TestOwnerListServerNotOwned(t *testing.T) {
	plex := ownerPlex(t)
	token := plex.Account("owner").Token
	ot := startOwnerList(t, plex, token, t.TempDir(), 50*time.Millisecond, "srv", "srv3")
	if v := ot.settled(); v.Problem != access.OwnerNotOwned || v.List != nil {
		t.Fatalf("view %+v", v)
	}
	errs := ot.logs.FilterLevelExact(zap.ErrorLevel).All()
	if len(errs) != 1 {
		t.Fatalf("%d error lines, want 1:\n%s", len(errs), ot.logText())
	}
	f := errs[0].ContextMap()
	if fmt.Sprint(f["not_owned"]) != "[srv3]" || !strings.Contains(fmt.Sprint(f["owned_by_token_account"]), "srv (Living Room)") ||
		!strings.Contains(fmt.Sprint(f["owned_by_token_account"]), "srv2 (Cabin)") {
		t.Fatalf("the error line should name srv3 and the servers the account owns: %v", f)
	}
	time.Sleep(200 * time.Millisecond) // four periods: no more calls with this set-up
	if n := plex.Count(http.MethodGet, "/api/users"); n != 0 {
		t.Fatalf("the list of an account that does not own the server was read %d times", n)
	}
	if d := access.Decide(access.Rules{Servers: []string{"srv", "srv3"}, Tiers: map[string]bool{access.TierOwner: true}, Owner: true},
		ot.o.Current(), access.Facts{ID: int64(plex.Account("owner").ID)}); d.Refusal != access.RefusedSetup {
		t.Fatalf("decision %+v, want %s", d, access.RefusedSetup)
	}
	// A friend's token: the account can reach srv without owning it.
	ot = startOwnerList(t, plex, plex.Account("friend").Token, t.TempDir(), time.Hour, "srv")
	if v := ot.settled(); v.Problem != access.OwnerNotOwned {
		t.Fatalf("a friend's token passed as the owner's: %+v", v)
	}
	ot.noSecret(token)
}

func TestOwnerListTokenRevokedKeepsTheLastList(t *testing.T) {
	plex := ownerPlex(t)
	token := plex.Account("owner").Token
	ot := startOwnerList(t, plex, token, t.TempDir(), 50*time.Millisecond, "srv")
	ot.settled()
	plex.RevokeToken("owner")
	deadline := time.Now().Add(5 * time.Second)
	for ot.o.Current().Problem != access.OwnerTokenRejected {
		if time.Now().After(deadline) {
			t.Fatalf("the revoked token was not noticed:\n%s", ot.logText())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if ot.tier("friend") != access.TierFriend || ot.tier("homie") != access.TierHome {
		t.Fatal("the last list was dropped when the token was rejected")
	}
	plex.ResetLog()
	time.Sleep(250 * time.Millisecond) // five periods
	if n := plex.Count("", "/api/*"); n != 0 {
		t.Fatalf("a rejected token was used %d more times", n)
	}
	if n := len(ot.logs.FilterLevelExact(zap.ErrorLevel).All()); n != 1 {
		t.Fatalf("%d error lines for one rejected token:\n%s", n, ot.logText())
	}
	ot.noSecret(token)
}

func TestOwnerListOutageKeepsTheListAndBacksOff(t *testing.T) {
	plex := ownerPlex(t)
	ot := startOwnerList(t, plex, plex.Account("owner").Token, t.TempDir(), 100*time.Millisecond, "srv")
	ot.settled()
	plex.SetStatus(http.StatusServiceUnavailable, 0)
	plex.ResetLog()
	time.Sleep(1600 * time.Millisecond) // 100ms doubling: reads near 0.1, 0.3, 0.7, 1.5s
	calls := plex.Count(http.MethodGet, "/api/users")
	if calls == 0 || calls > 5 {
		t.Fatalf("%d reads in 1.6s of outage with reads every 100ms; want backoff (1 to 5)", calls)
	}
	if ot.tier("friend") != access.TierFriend {
		t.Fatal("the list was dropped during an outage")
	}
	if n := len(ot.logs.FilterMessageSnippet("reading the owner's list from plex.tv failed").All()); n != 1 {
		t.Fatalf("the outage was logged %d times, want once:\n%s", n, ot.logText())
	}
	plex.SetStatus(0, 0)
	plex.Unshare("srv", "friend")
	deadline := time.Now().Add(10 * time.Second)
	for ot.tier("friend") != "" {
		if time.Now().After(deadline) {
			t.Fatalf("reads did not resume after the outage:\n%s", ot.logText())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestOwnerListStoredSealedAndReusedAcrossRestarts(t *testing.T) {
	plex := ownerPlex(t)
	token := plex.Account("owner").Token
	dir := t.TempDir()
	ot := startOwnerList(t, plex, token, dir, time.Hour, "srv")
	ot.settled()
	plex.Unshare("srv", "friend")
	plex.Share("srv", "otherfriend", plextest.Friend)
	ot.o.refresh(nil)
	ot.o.Stop()

	entries := dumpDir(t, filepath.Join(dir, "plex_auth"))
	if len(entries) != 1 {
		t.Fatalf("%d stored entries, want one list: %q", len(entries), entries)
	}
	for _, secret := range []string{token, fmt.Sprint(plex.Account("homie").ID), "srv", "homie"} {
		if strings.Contains(entries[0], secret) {
			t.Fatalf("the stored list shows %q in clear: %.200q", secret, entries[0])
		}
	}

	// Restarted while plex.tv is down: the stored list decides as before.
	plex.SetDown(true)
	again := startOwnerList(t, plex, token, dir, time.Hour, "srv")
	for name, want := range map[string]string{"owner": access.TierOwner, "homie": access.TierHome, "friend": "", "otherfriend": access.TierFriend, "stranger": ""} {
		if got := again.tier(name); got != want {
			t.Errorf("after restart: %s is %q, want %q", name, got, want)
		}
	}
	// Another token (even of the same account) or other servers find no list.
	for _, c := range []struct {
		token   string
		servers []string
	}{{"another-token", []string{"srv"}}, {token, []string{"srv", "srv2"}}} {
		other := startOwnerList(t, plex, c.token, dir, time.Hour, c.servers...)
		if v := other.o.Current(); v.List != nil {
			t.Errorf("token %.8s…, servers %v: found a list stored for another set-up", c.token, c.servers)
		}
	}
	// A tampered entry is refused, not half-read.
	path := strings.SplitN(entries[0], "\n", 2)[0]
	b, _ := os.ReadFile(path)
	b[len(b)-1] ^= 1
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	tampered := startOwnerList(t, plex, token, dir, time.Hour, "srv")
	if tampered.o.Current().List != nil {
		t.Fatal("a tampered stored list was used")
	}
	if !strings.Contains(tampered.logText(), "does not authenticate") {
		t.Errorf("the tampered list should be logged:\n%s", tampered.logText())
	}
}

// dumpDir is every regular file under dir, as "path\ncontent".
func dumpDir(t *testing.T, dir string) []string {
	var out []string
	_ = filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() {
			b, _ := os.ReadFile(path)
			out = append(out, path+"\n"+string(b))
		}
		return nil
	})
	return out
}
