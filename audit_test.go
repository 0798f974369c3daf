package plexauth

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-plexauth/caddy-plexauth/internal/access"
	"github.com/caddy-plexauth/caddy-plexauth/plextest"
)

// auditLine is one line of the audit trail as Caddy writes it.
type auditLine struct {
	Level    string `json:"level"`
	Logger   string `json:"logger"`
	Msg      string `json:"msg"`
	UserID   int64  `json:"plex_user_id"`
	Username string `json:"username"`
	ClientIP string `json:"client_ip"`
	Host     string `json:"host"`
	Tier     string `json:"tier"`
	Reason   string `json:"reason"`
	Path     string `json:"path"`
	raw      string
}

// auditLines are the lines the process wrote under the audit logger.
func auditLines(t *testing.T, p *caddyProc) []auditLine {
	t.Helper()
	var out []auditLine
	for _, line := range strings.Split(p.stderr.String(), "\n") {
		if !strings.Contains(line, ".audit") {
			continue
		}
		var l auditLine
		if err := json.Unmarshal([]byte(line), &l); err != nil || l.Logger != "http.handlers.plex_auth.audit" {
			continue
		}
		l.raw = line
		out = append(out, l)
	}
	return out
}

// waitAudit waits until the audit trail has n lines.
func waitAudit(t *testing.T, p *caddyProc, n int) []auditLine {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		lines := auditLines(t, p)
		if len(lines) >= n {
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("the audit trail has %d lines, want %d:\n%s", len(lines), n, p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// auditSignIn walks the same-tab flow from a loopback address of its own,
// expecting the callback to answer want, and returns the browser (holding
// the session cookie, if one was set) and its address.
func auditSignIn(t *testing.T, plex *plextest.Server, base, account string, want int) (*browser, string) {
	t.Helper()
	addr := nextClientAddr()
	b := newBrowserFrom(t, addr)
	resp, body := b.do(http.MethodPost, base+"/_plexauth/start", url.Values{"rd": {"/"}})
	expectStatus(t, resp, http.StatusSeeOther, body)
	frag, _ := url.ParseQuery(resp.Header.Get("Location")[len(plex.AppURL())+2:])
	if err := plex.Approve(frag.Get("code"), account); err != nil {
		t.Fatal(err)
	}
	resp, body = b.get(base + "/_plexauth/callback")
	expectStatus(t, resp, want, body)
	return b, addr
}

func TestProcessAuditTrailRecordsSignInsRefusalsSignOutsAndEndedSessions(t *testing.T) {
	plex := procPlex(t)
	plex.AddAccount("stranger")
	port := freePort(t)
	// Three blocks: owners only under /owner-only/, the account named
	// owner only under /listed/ (allow_users), everyone with access
	// elsewhere, re-checked every second.
	p := startCaddy(t, port, func(admin int) string {
		cfg := twoBlockSite(admin, port, t.TempDir(),
			plexBlock(plex, "\t\t\tallow_tier owner"),
			plexBlock(plex, "\t\t\trevalidate 1s"))
		listed := "\thandle /listed/* {\n\t\tplex_auth {\n" + plexBlock(plex, "\t\t\tallow_users owner") + "\n\t\t}\n\t\trespond \"listed\"\n\t}\n"
		return strings.Replace(cfg, "\thandle {\n", listed+"\thandle {\n", 1)
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	host := fmt.Sprintf("127.0.0.1:%d", port)
	if n := len(auditLines(t, p)); n != 0 {
		t.Fatalf("%d audit lines before anyone signed in", n)
	}

	ownerB, ownerIP := auditSignIn(t, plex, base, "owner", http.StatusFound)
	_, strangerIP := auditSignIn(t, plex, base, "stranger", http.StatusForbidden)
	friendB, friendIP := auditSignIn(t, plex, base, "friend", http.StatusFound)
	secrets := []string{"abc123secret", plex.Account("owner").Token, plex.Account("friend").Token, plex.Account("stranger").Token}
	for _, b := range []*browser{ownerB, friendB} {
		for _, c := range b.jar.Cookies(&url.URL{Scheme: "http", Host: host, Path: "/"}) {
			secrets = append(secrets, c.Value)
		}
	}
	if len(secrets) != 6 {
		t.Fatalf("expected two session cookies, have %d secrets", len(secrets))
	}

	// The friend, signed in, at the stricter blocks; the query stays out
	// of the log.
	resp, body := friendB.get(base + "/owner-only/report?api_key=abc123secret")
	expectStatus(t, resp, http.StatusForbidden, body)
	resp, body = friendB.get(base + "/listed/page")
	expectStatus(t, resp, http.StatusForbidden, body)

	resp, body = ownerB.get(base + "/_plexauth/logout")
	expectStatus(t, resp, http.StatusFound, body)

	// The friend's token is revoked; the next re-check ends the session.
	plex.RevokeToken("friend")
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, body = friendB.get(base + "/")
		if resp.StatusCode == http.StatusFound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the revoked session still answers %d: %.200s", resp.StatusCode, body)
		}
		time.Sleep(100 * time.Millisecond)
	}

	lines := waitAudit(t, p, 7)
	want := []auditLine{
		{Msg: "signed in", Username: "owner", ClientIP: ownerIP, Tier: "owner"},
		{Msg: "sign-in refused", Username: "stranger", ClientIP: strangerIP, Reason: "no_access"},
		{Msg: "signed in", Username: "friend", ClientIP: friendIP, Tier: "friend"},
		{Msg: "request refused", Username: "friend", ClientIP: friendIP, Reason: "tier_not_allowed", Path: "/owner-only/report"},
		{Msg: "request refused", Username: "friend", ClientIP: friendIP, Reason: "not_in_allow_users", Path: "/listed/page"},
		{Msg: "signed out", Username: "owner", ClientIP: ownerIP},
		{Msg: "session ended", Username: "friend", ClientIP: friendIP, Reason: "token_rejected"},
	}
	if len(lines) != len(want) {
		t.Errorf("the audit trail has %d lines, want %d", len(lines), len(want))
	}
	for i, w := range want {
		if i >= len(lines) {
			break
		}
		l := lines[i]
		id := int64(plex.Account(w.Username).ID)
		if l.Level != "info" || l.Msg != w.Msg || l.Username != w.Username || l.UserID != id ||
			l.ClientIP != w.ClientIP || l.Host != host || l.Tier != w.Tier || l.Reason != w.Reason || l.Path != w.Path {
			t.Errorf("audit line %d:\n got %s\nwant msg=%q plex_user_id=%d username=%q client_ip=%q host=%q tier=%q reason=%q path=%q",
				i+1, l.raw, w.Msg, id, w.Username, w.ClientIP, host, w.Tier, w.Reason, w.Path)
		}
	}

	// Nothing secret: no token, no cookie value, no query.
	for _, l := range lines {
		for _, s := range secrets {
			if len(s) >= 8 && strings.Contains(l.raw, s) {
				t.Errorf("audit line carries a secret (%.6s…): %s", s, l.raw)
			}
		}
	}
}

func TestProcessAuditTrailNamesAPendingInvitation(t *testing.T) {
	plex, _ := ownerProcPlex(t)
	port := freePort(t)
	p := startCaddy(t, port, func(admin int) string {
		return ownerSite(admin, port, t.TempDir(), ownerBlock(plex, machineID, ""), "")
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitLog(t, p, "owner's list read", 20*time.Second)

	_, ip := auditSignIn(t, plex, base, "invitee", http.StatusForbidden)
	lines := waitAudit(t, p, 1)
	l := lines[0]
	if len(lines) != 1 || l.Msg != "sign-in refused" || l.Username != "invitee" || l.Reason != "invitation_pending" || l.ClientIP != ip {
		t.Fatalf("want one refusal of invitee for invitation_pending from %s, got %d lines, first: %s", ip, len(lines), l.raw)
	}
}

// TestAuditLineFieldsComeFromCaddysClientIP: the client IP is Caddy's
// client_ip (which honours trusted_proxies), the connection's address only
// without it; a sign-in on a block naming no server has no tier field.
func TestAuditLineFieldsComeFromCaddysClientIP(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	h := &PlexAuth{audit: zap.New(core)}
	s := &Session{UserID: 1001, Username: "owner"}

	r := httptest.NewRequest(http.MethodGet, "http://tools.example.com/", nil)
	r.RemoteAddr = "10.0.0.2:4711" // the proxy in front
	r = r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{caddyhttp.ClientIPVarKey: "203.0.113.7"}))
	h.auditSignIn(r, s, "")

	bare := httptest.NewRequest(http.MethodGet, "http://tools.example.com/", nil)
	bare.RemoteAddr = "198.51.100.23:5000"
	h.auditSignIn(bare, s, access.TierOwner)

	entries := logs.All()
	if len(entries) != 2 {
		t.Fatalf("%d lines, want 2", len(entries))
	}
	for i, want := range []struct {
		ip   string
		tier any // nil: no tier field
	}{{"203.0.113.7", nil}, {"198.51.100.23", access.TierOwner}} {
		f := entries[i].ContextMap()
		if f["client_ip"] != want.ip || f["host"] != "tools.example.com" || f["plex_user_id"] != int64(1001) || f["username"] != "owner" || f["tier"] != want.tier {
			t.Errorf("line %d: %v, want client_ip %s and tier %v", i+1, f, want.ip, want.tier)
		}
	}
}
