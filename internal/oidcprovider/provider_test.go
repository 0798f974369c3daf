package oidcprovider

import (
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-plexauth/caddy-plexauth/internal/access"
	"github.com/caddy-plexauth/caddy-plexauth/internal/oidc"
	"github.com/caddy-plexauth/caddy-plexauth/internal/seal"
)

// keyStorage is an oidc.KeyStorage in memory; one test at a time holds it.
type keyStorage struct {
	mu   sync.Mutex
	data map[string][]byte
}

func (m *keyStorage) Load(_ context.Context, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if b, ok := m.data[key]; ok {
		return b, nil
	}
	return nil, fmt.Errorf("%s: %w", key, fs.ErrNotExist)
}

func (m *keyStorage) Store(_ context.Context, key string, v []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.data[key] = v
	return nil
}

func (m *keyStorage) Lock(context.Context, string) error   { return nil }
func (m *keyStorage) Unlock(context.Context, string) error { return nil }

// fakeHost is a Host whose signed-in account and block decision the test
// sets, and which records the audit lines and pages it was asked for.
type fakeHost struct {
	account *Account
	block   access.Decision
	audit   []string
}

const testIssuer = "https://auth.example.test/_plexauth"

func newTestProvider(t *testing.T, fh *fakeHost) *Provider {
	t.Helper()
	sealer, err := seal.New("session", [][]byte{[]byte("a test secret of thirty-two bytes")})
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(context.Background(), Config{
		Clients: []ClientOptions{
			{ID: "grafana", Secret: "{secret}", RedirectURIs: []string{"https://grafana.example.test/cb"}},
			{ID: "only-bob", Public: true, RedirectURIs: []string{"app.test:/cb"}, AllowUsers: []string{"bob"}},
		},
		Expand: func(s string) string { return strings.ReplaceAll(s, "{secret}", "sixteen-characters-or-more") },
		Keys: oidc.KeyringConfig{Storage: &keyStorage{data: map[string][]byte{}}, Key: "keys", Lock: "keys",
			RotateEvery: 30 * 24 * time.Hour, Timeout: time.Second},
		Codes: new(oidc.MemoryCodes), Sealer: sealer,
		Realm: "Plex", MaxForm: 64 << 10, StoreTimeout: time.Second, Logger: zap.NewNop(),
		Host: Host{
			Issuer:      func(*http.Request) string { return testIssuer },
			Prefix:      func(*http.Request) string { return "/_plexauth" },
			SignedIn:    func(*http.Request) (*Account, error) { return fh.account, nil },
			Judge:       func(*Account) access.Decision { return fh.block },
			Alive:       func(string, time.Time) (bool, error) { return true, nil },
			EndSessions: func(http.ResponseWriter, *http.Request, time.Time) {},
			CrossSite:   func(*http.Request) bool { return false },
			ConfirmSignOut: func(w http.ResponseWriter, _ *http.Request, _, _ string) {
				w.WriteHeader(http.StatusOK)
			},
			Fail: func(w http.ResponseWriter, _ *http.Request, status int, msg string) {
				w.Header().Set("Cache-Control", "no-store")
				http.Error(w, msg, status)
			},
			StoreFailed: func(error) {},
			Audit: func(_ *http.Request, a *Account, msg string, fields ...zap.Field) {
				line := msg
				if a != nil {
					line += " account=" + a.Identity.PreferredUsername
				}
				for _, f := range fields {
					line += " " + f.Key + "=" + f.String
				}
				fh.audit = append(fh.audit, line)
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func serve(p *Provider, method, target string, body url.Values) (*httptest.ResponseRecorder, bool) {
	var r *http.Request
	if body != nil {
		r = httptest.NewRequest(method, target, strings.NewReader(body.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		r = httptest.NewRequest(method, target, nil)
	}
	w := httptest.NewRecorder()
	name := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/_plexauth"), "/")
	return w, p.Serve(w, r, name)
}

// TestServeAnswersItsEndpointsWithTheirMethods: a name that is not the
// provider's is left to the caller; a method an endpoint does not take is
// 405 with Allow; the endpoints a script calls answer a CORS preflight,
// the navigations (authorize, end_session) do not; discovery names the
// issuer's endpoints and JWKS is cacheable for a minute.
func TestServeAnswersItsEndpointsWithTheirMethods(t *testing.T) {
	p := newTestProvider(t, &fakeHost{})
	if _, ok := serve(p, http.MethodGet, "/_plexauth/login", nil); ok {
		t.Fatal("Serve took login, which is not the provider's")
	}
	if w, ok := serve(p, http.MethodGet, "/_plexauth/token", nil); !ok || w.Code != 405 || w.Header().Get("Allow") != "POST" {
		t.Fatalf("GET token: %v %d Allow %q", ok, w.Code, w.Header().Get("Allow"))
	}
	w, _ := serve(p, http.MethodOptions, "/_plexauth/userinfo", nil)
	if w.Code != 204 || w.Header().Get("Access-Control-Allow-Origin") != "*" || w.Header().Get("Access-Control-Allow-Methods") != "GET, POST" {
		t.Fatalf("preflight of userinfo: %d %v", w.Code, w.Header())
	}
	if w, _ := serve(p, http.MethodOptions, "/_plexauth/authorize", nil); w.Code != 405 || w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight of authorize: %d %v", w.Code, w.Header())
	}
	w, _ = serve(p, http.MethodGet, "/_plexauth/.well-known/openid-configuration", nil)
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"token_endpoint":"`+testIssuer+`/token"`) || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("discovery: %d %v %s", w.Code, w.Header(), w.Body)
	}
	w, _ = serve(p, http.MethodGet, "/_plexauth/jwks", nil)
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"kty":"RSA"`) || w.Header().Get("Cache-Control") != "public, max-age=60" {
		t.Fatalf("jwks: %d %v %s", w.Code, w.Header(), w.Body)
	}
}

// TestAuthorizeAppliesTheBlockThenTheClient: nobody signed in goes to the
// login page and back; the block's refusal and then the client's own
// allow_users are access_denied with an audit line naming the account; an
// admitted account gets a code; an unknown client is shown an error, never
// redirected, and audited without an account.
func TestAuthorizeAppliesTheBlockThenTheClient(t *testing.T) {
	fh := &fakeHost{}
	p := newTestProvider(t, fh)
	q := url.Values{"client_id": {"grafana"}, "redirect_uri": {"https://grafana.example.test/cb"},
		"response_type": {"code"}, "scope": {"openid"}, "state": {"st"}}
	authorize := func(q url.Values) *httptest.ResponseRecorder {
		w, _ := serve(p, http.MethodGet, "/_plexauth/authorize?"+q.Encode(), nil)
		return w
	}
	if w := authorize(q); w.Code != 302 || !strings.HasPrefix(w.Header().Get("Location"), "/_plexauth/login?rd=%2F_plexauth%2Fauthorize%3F") {
		t.Fatalf("nobody signed in: %d %q", w.Code, w.Header().Get("Location"))
	}
	fh.account = &Account{Session: "sid", Identity: oidc.Identity{Subject: "u-alice", PreferredUsername: "alice"},
		AuthTime: time.Now(), Facts: access.Facts{ID: 1, FoldedUsername: "alice"}}
	fh.block = access.Decision{Refusal: access.RefusedTier}
	if w := authorize(q); w.Code != 302 || !strings.Contains(w.Header().Get("Location"), "error=access_denied") {
		t.Fatalf("refused by the block: %d %q", w.Code, w.Header().Get("Location"))
	}
	fh.block = access.Decision{Tier: access.TierFriend}
	if w := authorize(q); w.Code != 302 || !strings.Contains(w.Header().Get("Location"), "code=") || !strings.Contains(w.Header().Get("Location"), "state=st") {
		t.Fatalf("admitted: %d %q", w.Code, w.Header().Get("Location"))
	}
	pub := url.Values{"client_id": {"only-bob"}, "redirect_uri": {"app.test:/cb"}, "response_type": {"code"}, "scope": {"openid"},
		"code_challenge": {oidc.S256(strings.Repeat("v", 43))}, "code_challenge_method": {"S256"}}
	if w := authorize(pub); w.Code != 302 || !strings.Contains(w.Header().Get("Location"), "error=access_denied") {
		t.Fatalf("refused by the client's allow_users: %d %q", w.Code, w.Header().Get("Location"))
	}
	q.Set("client_id", "nobody")
	if w := authorize(q); w.Code != 403 || w.Header().Get("Location") != "" || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("unknown client: %d %v", w.Code, w.Header())
	}
	want := []string{
		"oidc refused account=alice client=grafana reason=tier_not_allowed",
		"oidc code issued account=alice client=grafana",
		"oidc refused account=alice client=only-bob reason=not_in_allow_users",
		"oidc refused client=nobody reason=invalid_client",
	}
	if strings.Join(fh.audit, "\n") != strings.Join(want, "\n") {
		t.Fatalf("audit lines:\n%s\nwant:\n%s", strings.Join(fh.audit, "\n"), strings.Join(want, "\n"))
	}
}

// TestTokenErrorsAreJSONWithTheirHeaders: a refusal at the token endpoint
// is the RFC 6749 §5.2 JSON, not cached, with WWW-Authenticate: Basic for
// a client that tried Basic, and audited without an account.
func TestTokenErrorsAreJSONWithTheirHeaders(t *testing.T) {
	fh := &fakeHost{}
	p := newTestProvider(t, fh)
	r := httptest.NewRequest(http.MethodPost, "/_plexauth/token", strings.NewReader("grant_type=authorization_code&code=x&redirect_uri=https%3A%2F%2Fgrafana.example.test%2Fcb"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth("grafana", "not-the-secret-at-all")
	w := httptest.NewRecorder()
	p.Serve(w, r, "token")
	h := w.Header()
	if w.Code != 401 || !strings.Contains(w.Body.String(), `"error":"invalid_client"`) || h.Get("WWW-Authenticate") != `Basic realm="Plex"` ||
		h.Get("Cache-Control") != "no-store" || h.Get("Pragma") != "no-cache" || h.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("wrong secret: %d %v %s", w.Code, h, w.Body)
	}
	if len(fh.audit) != 1 || fh.audit[0] != "oidc refused client=unknown reason=client_authentication_failed" {
		t.Fatalf("audit: %q", fh.audit)
	}
	w, _ = serve(p, http.MethodPost, "/_plexauth/userinfo", url.Values{})
	if w.Code != 401 || w.Header().Get("WWW-Authenticate") != `Bearer realm="Plex", error="invalid_request"` {
		t.Fatalf("userinfo without a token: %d %v", w.Code, w.Header())
	}
}
