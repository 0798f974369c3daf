package oidcprovider

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/caddy-plexauth/caddy-plexauth/internal/access"
	"github.com/caddy-plexauth/caddy-plexauth/internal/oidc"
	"github.com/caddy-plexauth/caddy-plexauth/internal/seal"
)

// Tests written for the survivors of scripts/mutants.sh over this package
// (issue 19): the endpoints' answers, each branch at a time, against a host
// whose every answer the test sets.

var errDown = errors.New("store down")

// biteCodes is a CodeStore in memory whose operations fail on demand.
type biteCodes struct {
	oidc.MemoryCodes
	failPut, failSwap, failPeek bool
}

func (c *biteCodes) PutCode(ctx context.Context, key string, val []byte, exp time.Time) error {
	if c.failPut {
		return errDown
	}
	return c.MemoryCodes.PutCode(ctx, key, val, exp)
}

func (c *biteCodes) SwapCode(ctx context.Context, key string, val []byte, exp time.Time) ([]byte, error) {
	if c.failSwap {
		return nil, errDown
	}
	return c.MemoryCodes.SwapCode(ctx, key, val, exp)
}

func (c *biteCodes) PeekCode(ctx context.Context, key string) ([]byte, error) {
	if c.failPeek {
		return nil, errDown
	}
	return c.MemoryCodes.PeekCode(ctx, key)
}

// biteSealer is the session sealer, whose Open fails on demand.
type biteSealer struct {
	*seal.Sealer
	failOpen bool
}

func (s *biteSealer) Open(name, value string, now time.Time, dst []byte) ([]byte, error) {
	if s.failOpen {
		return nil, errors.New("seal expired")
	}
	return s.Sealer.Open(name, value, now, dst)
}

// biteHost is a Host whose every answer the test sets and which records
// what it was asked.
type biteHost struct {
	account     *Account
	signedInErr error
	block       access.Decision
	dead        bool  // Alive answers false
	aliveErr    error // Alive fails
	crossSite   bool
	alive       []string // the session ids Alive was asked about
	ended       int
	confirmed   []string // rd and signOut of each ConfirmSignOut
	storeFailed int
	audit       []string
}

type biteProvider struct {
	*Provider
	h      *biteHost
	codes  *biteCodes
	sealer *biteSealer
}

const grafanaSecret = "sixteen-characters-or-more"

func newBiteProvider(t *testing.T) *biteProvider {
	t.Helper()
	s, err := seal.New("session", [][]byte{[]byte("a test secret of thirty-two bytes")})
	if err != nil {
		t.Fatal(err)
	}
	bp := &biteProvider{h: &biteHost{}, codes: new(biteCodes), sealer: &biteSealer{Sealer: s}}
	h := bp.h
	bp.Provider, err = New(context.Background(), Config{
		Clients: []ClientOptions{
			{ID: "grafana", Secret: grafanaSecret, RedirectURIs: []string{"https://grafana.example.test/cb"}},
			{ID: "spa", Public: true, RedirectURIs: []string{"https://spa.example.test/cb"}, PostLogoutRedirectURIs: []string{"https://spa.example.test/bye", "http://spa.example.test/bye", "app.spa:/bye"}},
		},
		Expand: func(s string) string { return s },
		Keys: oidc.KeyringConfig{Storage: &keyStorage{data: map[string][]byte{}}, Key: "keys", Lock: "keys",
			RotateEvery: 30 * 24 * time.Hour, Timeout: time.Second},
		Codes: bp.codes, Sealer: bp.sealer,
		Realm: "Plex", MaxForm: 1 << 10, StoreTimeout: time.Second, Logger: zap.NewNop(),
		Host: Host{
			Issuer:   func(*http.Request) string { return testIssuer },
			Prefix:   func(*http.Request) string { return "/_plexauth" },
			SignedIn: func(*http.Request) (*Account, error) { return h.account, h.signedInErr },
			Judge:    func(*Account) access.Decision { return h.block },
			Alive: func(id string, _ time.Time) (bool, error) {
				h.alive = append(h.alive, id)
				return !h.dead, h.aliveErr
			},
			EndSessions: func(http.ResponseWriter, *http.Request, time.Time) { h.ended++ },
			CrossSite:   func(*http.Request) bool { return h.crossSite },
			ConfirmSignOut: func(w http.ResponseWriter, _ *http.Request, rd, signOut string) {
				h.confirmed = append(h.confirmed, rd, signOut)
				w.WriteHeader(http.StatusOK)
			},
			Fail: func(w http.ResponseWriter, _ *http.Request, status int, msg string) {
				w.Header().Set("Cache-Control", "no-store")
				http.Error(w, msg, status)
			},
			StoreFailed: func(error) { h.storeFailed++ },
			Audit: func(_ *http.Request, a *Account, msg string, fields ...zap.Field) {
				line := msg
				if a != nil {
					line += " account=" + a.Identity.PreferredUsername
				}
				for _, f := range fields {
					line += " " + f.Key + "=" + f.String
				}
				h.audit = append(h.audit, line)
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return bp
}

func alice() *Account {
	return &Account{Session: "sid-alice", Identity: oidc.Identity{Subject: "u-alice", PreferredUsername: "alice"},
		AuthTime: time.Unix(1_700_000_000, 0), Facts: access.Facts{ID: 1, FoldedUsername: "alice"}}
}

func grafanaAuth() url.Values {
	return url.Values{"client_id": {"grafana"}, "redirect_uri": {"https://grafana.example.test/cb"},
		"response_type": {"code"}, "scope": {"openid email"}, "state": {"st"}, "nonce": {"n-1"}}
}

// code has alice sign in to grafana and returns the code.
func (bp *biteProvider) code(t *testing.T) string {
	t.Helper()
	bp.h.account = alice()
	w, _ := serve(bp.Provider, http.MethodGet, "/_plexauth/authorize?"+grafanaAuth().Encode(), nil)
	loc, err := url.Parse(w.Header().Get("Location"))
	if w.Code != 302 || err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("authorize: %d %q", w.Code, w.Header().Get("Location"))
	}
	return loc.Query().Get("code")
}

// token posts body to the token endpoint with the Content-Type given and,
// unless basic is "", HTTP Basic credentials.
func (bp *biteProvider) token(ct, basic, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/_plexauth/token", strings.NewReader(body))
	if ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	if basic != "" {
		id, secret, _ := strings.Cut(basic, ":")
		r.SetBasicAuth(id, secret)
	}
	w := httptest.NewRecorder()
	bp.Serve(w, r, "token")
	return w
}

func tokenBody(code string, kv ...string) string {
	v := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {"https://grafana.example.test/cb"}}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			v.Del(kv[i])
		} else {
			v.Set(kv[i], kv[i+1])
		}
	}
	return v.Encode()
}

func errorOf(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
		t.Fatalf("body %q is not the JSON error: %v", w.Body, err)
	}
	return e.Error
}

// counts reads caddy_plex_auth_oidc_tokens_total by "client result".
func counts(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "caddy_plex_auth_oidc_tokens_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var client, result string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "client":
					client = l.GetValue()
				case "result":
					result = l.GetValue()
				}
			}
			out[client+" "+result] = m.GetCounter().GetValue()
		}
	}
	return out
}

// The token endpoint's every refusal (RFC 6749 §5.2), with the status, the
// error code, the headers, the audit line's reason and the counter each
// one moves; and a code that passes every check gets its tokens.
func TestTokenEndpointAnswersEachCase(t *testing.T) {
	reg := prometheus.NewRegistry()
	if err := RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	bp := newBiteProvider(t)
	const form = "application/x-www-form-urlencoded"
	basic := "grafana:" + grafanaSecret
	for _, c := range []struct {
		name    string
		prepare func() // before the request; the code is made before it
		ct      string
		basic   string
		body    func(code string) string
		status  int
		error   string
		reason  string // the audit line's, and the counter's client and result
		counter string
		headers map[string]string
	}{
		{name: "no Content-Type", ct: "", basic: basic, body: func(c string) string { return tokenBody(c) },
			status: 400, error: "invalid_request", reason: "client=unknown reason=malformed", counter: "unknown invalid_request"},
		{name: "JSON", ct: "application/json", basic: basic, body: func(c string) string { return tokenBody(c) },
			status: 400, error: "invalid_request", reason: "client=unknown reason=malformed", counter: "unknown invalid_request"},
		{name: "body over MaxForm", ct: form, basic: basic, body: func(c string) string { return tokenBody(c, "pad", strings.Repeat("p", 1<<10)) },
			status: 400, error: "invalid_request", reason: "client=unknown reason=malformed", counter: "unknown invalid_request"},
		{name: "body not urlencoded", ct: form, basic: basic, body: func(c string) string { return tokenBody(c) + "&%zz" },
			status: 400, error: "invalid_request", reason: "client=unknown reason=malformed", counter: "unknown invalid_request"},
		{name: "code twice", ct: form, basic: basic, body: func(c string) string { return tokenBody(c) + "&code=" + c },
			status: 400, error: "invalid_request", reason: "client=unknown reason=invalid_request", counter: "unknown invalid_request"},
		{name: "wrong secret by post", ct: form, body: func(c string) string { return tokenBody(c, "client_id", "grafana", "client_secret", "not-the-secret") },
			status: 401, error: "invalid_client", reason: "client=unknown reason=client_authentication_failed", counter: "unknown invalid_client",
			headers: map[string]string{"WWW-Authenticate": ""}},
		{name: "wrong secret by Basic", ct: form, basic: "grafana:not-the-secret", body: func(c string) string { return tokenBody(c) },
			status: 401, error: "invalid_client", reason: "client=unknown reason=client_authentication_failed", counter: "unknown invalid_client",
			headers: map[string]string{"WWW-Authenticate": `Basic realm="Plex"`}},
		{name: "refresh_token", ct: form, basic: basic, body: func(c string) string { return tokenBody(c, "grant_type", "refresh_token") },
			status: 400, error: "unsupported_grant_type", reason: "client=grafana reason=unsupported_grant_type", counter: "grafana unsupported_grant_type",
			headers: map[string]string{"WWW-Authenticate": ""}},
		{name: "no code", ct: form, basic: basic, body: func(c string) string { return tokenBody(c, "code", "") },
			status: 400, error: "invalid_request", reason: "client=grafana reason=missing_parameter", counter: "grafana invalid_request"},
		{name: "no redirect_uri", ct: form, basic: basic, body: func(c string) string { return tokenBody(c, "redirect_uri", "") },
			status: 400, error: "invalid_request", reason: "client=grafana reason=missing_parameter", counter: "grafana invalid_request"},
		{name: "unknown code", ct: form, basic: basic, body: func(c string) string { return tokenBody(c + "x") },
			status: 400, error: "invalid_grant", reason: "client=grafana reason=code_unknown", counter: "grafana invalid_grant"},
		{name: "another redirect_uri", ct: form, basic: basic, body: func(c string) string { return tokenBody(c, "redirect_uri", "https://grafana.example.test/other") },
			status: 400, error: "invalid_grant", reason: "client=grafana reason=wrong_redirect_uri", counter: "grafana invalid_grant"},
		{name: "store down", prepare: func() { bp.codes.failSwap = true }, ct: form, basic: basic, body: func(c string) string { return tokenBody(c) },
			status: 503, error: "temporarily_unavailable", reason: "client=grafana reason=store_unavailable", counter: "grafana unavailable",
			headers: map[string]string{"Retry-After": "5"}},
		{name: "session seal no longer opens", prepare: func() { bp.sealer.failOpen = true }, ct: form, basic: basic, body: func(c string) string { return tokenBody(c) },
			status: 400, error: "invalid_grant", reason: "client=grafana reason=session_ended", counter: "grafana invalid_grant"},
		{name: "signed out since", prepare: func() { bp.h.dead = true }, ct: form, basic: basic, body: func(c string) string { return tokenBody(c) },
			status: 400, error: "invalid_grant", reason: "client=grafana reason=session_ended", counter: "grafana invalid_grant"},
		{name: "sessions unavailable", prepare: func() { bp.h.aliveErr = errDown }, ct: form, basic: basic, body: func(c string) string { return tokenBody(c) },
			status: 503, error: "temporarily_unavailable", reason: "client=grafana reason=store_unavailable", counter: "grafana unavailable",
			headers: map[string]string{"Retry-After": "5"}},
		{name: "all good, charset and capitals", ct: "Application/X-WWW-Form-Urlencoded ; charset=UTF-8", basic: basic, body: func(c string) string { return tokenBody(c) },
			status: 200, counter: "grafana ok"},
	} {
		t.Run(c.name, func(t *testing.T) {
			bp.codes.failSwap, bp.sealer.failOpen, bp.h.dead, bp.h.aliveErr = false, false, false, nil
			code := bp.code(t)
			bp.h.audit, bp.h.alive, bp.h.storeFailed = nil, nil, 0
			if c.prepare != nil {
				c.prepare()
			}
			before := counts(t, reg)
			w := bp.token(c.ct, c.basic, c.body(code))
			after := counts(t, reg)
			if w.Code != c.status {
				t.Fatalf("status %d, want %d: %s", w.Code, c.status, w.Body)
			}
			for k, v := range c.headers {
				if got := w.Header().Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
			if w.Header().Get("Cache-Control") != "no-store" || w.Header().Get("Content-Type") != "application/json" {
				t.Errorf("headers %v", w.Header())
			}
			if after[c.counter] != before[c.counter]+1 {
				t.Errorf("counter %q: %v -> %v", c.counter, before[c.counter], after[c.counter])
			}
			var sum, sumBefore float64
			for _, v := range after {
				sum += v
			}
			for _, v := range before {
				sumBefore += v
			}
			if sum != sumBefore+1 {
				t.Errorf("counted %v times", sum-sumBefore)
			}
			// Only the code store's failure is the host's to report.
			wantFailed := 0
			if bp.codes.failSwap {
				wantFailed = 1
			}
			if bp.h.storeFailed != wantFailed {
				t.Errorf("StoreFailed called %d times", bp.h.storeFailed)
			}
			if c.status != 200 {
				if got := errorOf(t, w); got != c.error {
					t.Errorf("error %q, want %q", got, c.error)
				}
				if len(bp.h.audit) != 1 || bp.h.audit[0] != "oidc refused "+c.reason {
					t.Errorf("audit %q, want %q", bp.h.audit, "oidc refused "+c.reason)
				}
				return
			}
			var ok struct {
				AccessToken string `json:"access_token"`
				IDToken     string `json:"id_token"`
				TokenType   string `json:"token_type"`
				ExpiresIn   int    `json:"expires_in"`
				Scope       string `json:"scope"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &ok); err != nil || ok.AccessToken == "" || ok.IDToken == "" || ok.TokenType != "Bearer" ||
				ok.ExpiresIn != int(TokenTTL/time.Second) || ok.Scope != "openid email" {
				t.Fatalf("token response %s, %v", w.Body, err)
			}
			if len(bp.h.alive) != 1 || bp.h.alive[0] != "sid-alice" || len(bp.h.audit) != 0 {
				t.Errorf("Alive asked %q, audit %q", bp.h.alive, bp.h.audit)
			}
			ks := bp.keys.Get(context.Background())
			ac, err := ks.VerifyAccessToken(ok.AccessToken, time.Now())
			if err != nil || ac.Subject != "u-alice" || ac.ClientID != "grafana" {
				t.Fatalf("access token %+v, %v", ac, err)
			}
			hint, err := ks.IDTokenHint(ok.IDToken, time.Now())
			if err != nil || hint.Audience != "grafana" || hint.Nonce != "n-1" || hint.Subject != "u-alice" {
				t.Fatalf("ID token %+v, %v", hint, err)
			}
			// The code's replay is refused and revokes the access token.
			before = counts(t, reg)
			w = bp.token(form, basic, c.body(code))
			if w.Code != 400 || errorOf(t, w) != "invalid_grant" || counts(t, reg)["grafana replayed"] != before["grafana replayed"]+1 {
				t.Fatalf("replay: %d %s", w.Code, w.Body)
			}
			if got := bp.h.audit; len(got) != 1 || got[0] != "oidc refused client=grafana reason=code_replayed" {
				t.Errorf("replay audit %q", got)
			}
			r := httptest.NewRequest(http.MethodGet, "/_plexauth/userinfo", nil)
			r.Header.Set("Authorization", "Bearer "+ok.AccessToken)
			uw := httptest.NewRecorder()
			bp.Serve(uw, r, "userinfo")
			if uw.Code != 401 || uw.Header().Get("WWW-Authenticate") != `Bearer realm="Plex", error="invalid_token"` {
				t.Errorf("userinfo with a revoked token: %d %v", uw.Code, uw.Header())
			}
		})
	}
}

// RegisterMetrics registers the one counter, again without error, and
// refuses a registry holding another collector of that name.
func TestRegisterMetricsOnceAndAgain(t *testing.T) {
	if err := RegisterMetrics(nil); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	if err := RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	if err := RegisterMetrics(reg); err != nil {
		t.Fatalf("registered again: %v", err)
	}
	tokens.WithLabelValues("x", tokenOK)
	if n := len(counts(t, reg)); n == 0 {
		t.Fatal("the counter is not in the registry")
	}
	other := prometheus.NewRegistry()
	other.MustRegister(sameDescs{})
	if err := RegisterMetrics(other); err == nil {
		t.Fatal("a registry holding another collector of the same metric took the counter")
	}
	bad := prometheus.NewRegistry()
	bad.MustRegister(prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "caddy", Subsystem: "plex_auth", Name: "oidc_tokens_total", Help: "x"}, []string{"other"}))
	if err := RegisterMetrics(bad); err == nil {
		t.Fatal("a registry holding the name with other labels took the counter")
	}
}

// sameDescs is another collector describing the very metric tokens does.
type sameDescs struct{}

func (sameDescs) Describe(ch chan<- *prometheus.Desc) { tokens.Describe(ch) }
func (sameDescs) Collect(chan<- prometheus.Metric)    {}

// userinfo (Core §5.3, RFC 6750): a valid access token by header (GET or
// POST) or form (POST) gets the identity; every other request is 401 with
// the error in WWW-Authenticate, and a store that fails is 503.
func TestUserinfoAnswersEachCase(t *testing.T) {
	bp := newBiteProvider(t)
	w := bp.token("application/x-www-form-urlencoded", "grafana:"+grafanaSecret, tokenBody(bp.code(t)))
	var ok struct {
		AccessToken string `json:"access_token"`
		IDToken     string `json:"id_token"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &ok); err != nil || ok.AccessToken == "" {
		t.Fatalf("tokens: %d %s", w.Code, w.Body)
	}
	userinfo := func(method, auth, body string) *httptest.ResponseRecorder {
		var r *http.Request
		if body != "" {
			r = httptest.NewRequest(method, "/_plexauth/userinfo", strings.NewReader(body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else {
			r = httptest.NewRequest(method, "/_plexauth/userinfo", nil)
		}
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		bp.Serve(w, r, "userinfo")
		return w
	}
	for _, c := range []struct {
		name, method, auth, body string
		status                   int
		wwwAuth                  string
	}{
		{"GET with the header", "GET", "Bearer " + ok.AccessToken, "", 200, ""},
		{"POST with the header", "POST", "Bearer " + ok.AccessToken, "", 200, ""},
		{"POST with the form", "POST", "", "access_token=" + ok.AccessToken, 200, ""},
		{"GET with the token in a body", "GET", "", "access_token=" + ok.AccessToken, 401, `Bearer realm="Plex", error="invalid_request"`},
		{"POST with a body over MaxForm", "POST", "", "access_token=" + ok.AccessToken + "&pad=" + strings.Repeat("p", 1<<10), 401, `Bearer realm="Plex", error="invalid_request"`},
		{"POST with a body not urlencoded", "POST", "", "access_token=" + ok.AccessToken + "&%zz", 401, `Bearer realm="Plex", error="invalid_request"`},
		{"no token", "GET", "", "", 401, `Bearer realm="Plex", error="invalid_request"`},
		{"the ID token", "GET", "Bearer " + ok.IDToken, "", 401, `Bearer realm="Plex", error="invalid_token"`},
		{"a token altered", "GET", "Bearer " + ok.AccessToken + "x", "", 401, `Bearer realm="Plex", error="invalid_token"`},
	} {
		w := userinfo(c.method, c.auth, c.body)
		if w.Code != c.status || w.Header().Get("WWW-Authenticate") != c.wwwAuth {
			t.Errorf("%s: %d %v %s", c.name, w.Code, w.Header(), w.Body)
			continue
		}
		if c.status == 401 {
			// The one error, and nothing after it (no claims).
			if want := c.wwwAuth[strings.Index(c.wwwAuth, `error="`)+7 : len(c.wwwAuth)-1]; errorOf(t, w) != want {
				t.Errorf("%s: body %s", c.name, w.Body)
			}
		}
		if c.status == 200 {
			var id oidc.Identity
			if err := json.Unmarshal(w.Body.Bytes(), &id); err != nil || id.Subject != "u-alice" || id.PreferredUsername != "alice" ||
				w.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("%s: identity %s, %v", c.name, w.Body, err)
			}
		}
	}
	bp.codes.failPeek = true
	if w := userinfo("GET", "Bearer "+ok.AccessToken, ""); w.Code != 503 || w.Header().Get("Retry-After") != "5" ||
		errorOf(t, w) != "temporarily_unavailable" || bp.h.storeFailed != 1 || w.Header().Get("WWW-Authenticate") != "" {
		t.Errorf("store down: %d %v %s, StoreFailed %d", w.Code, w.Header(), w.Body, bp.h.storeFailed)
	}
}

func (bp *biteProvider) authorize(method string, q url.Values) *httptest.ResponseRecorder {
	if method == http.MethodPost {
		w, _ := serve(bp.Provider, method, "/_plexauth/authorize", q)
		return w
	}
	w, _ := serve(bp.Provider, method, "/_plexauth/authorize?"+q.Encode(), nil)
	return w
}

// The authorization endpoint's answers beyond the block's and the client's
// rules: a request it cannot read is 400; a refusal with a known client and
// redirect URI goes back to it (RFC 6749 §4.1.2.1), with state; prompt=none
// without a session is login_required (Core §3.1.2.6); a store or rules
// that cannot answer are temporarily_unavailable; nothing is cached; the
// account's tier is its groups claim.
func TestAuthorizeAnswersEachCase(t *testing.T) {
	bp := newBiteProvider(t)
	q := func(kv ...string) url.Values {
		v := grafanaAuth()
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	errorRedirect := func(name string, w *httptest.ResponseRecorder, code string) {
		t.Helper()
		loc, err := url.Parse(w.Header().Get("Location"))
		if w.Code != 302 || err != nil || loc.Host != "grafana.example.test" || loc.Query().Get("error") != code ||
			loc.Query().Get("state") != "st" || loc.Query().Get("iss") != testIssuer || loc.Query().Get("code") != "" ||
			w.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("%s: %d %v, want a redirect with error=%s", name, w.Code, w.Header(), code)
		}
	}
	// Even when what parses before the fault is a request that would get
	// a code.
	bp.h.account = alice()
	if w, _ := serve(bp.Provider, http.MethodGet, "/_plexauth/authorize?"+q().Encode()+"&%zz", nil); w.Code != 400 || w.Header().Get("Location") != "" {
		t.Errorf("a query that does not parse: %d %v", w.Code, w.Header())
	}
	if w := bp.authorize(http.MethodPost, q("pad", strings.Repeat("p", 1<<10))); w.Code != 400 || w.Header().Get("Location") != "" {
		t.Errorf("a body over MaxForm: %d %v", w.Code, w.Header())
	}
	bp.h.account = nil
	errorRedirect("implicit flow", bp.authorize(http.MethodGet, q("response_type", "token")), "unsupported_response_type")
	errorRedirect("prompt=none, nobody signed in", bp.authorize(http.MethodGet, q("prompt", "none")), "login_required")
	bp.h.signedInErr = errDown
	errorRedirect("sessions unavailable", bp.authorize(http.MethodGet, q()), "temporarily_unavailable")
	bp.h.signedInErr = nil
	bp.h.account = alice()
	bp.h.block = access.Decision{Refusal: access.RefusedNoList}
	errorRedirect("rules that cannot decide", bp.authorize(http.MethodGet, q()), "temporarily_unavailable")
	bp.h.block = access.Decision{}
	bp.codes.failPut = true
	bp.h.storeFailed = 0
	errorRedirect("codes cannot be stored", bp.authorize(http.MethodGet, q()), "temporarily_unavailable")
	if bp.h.storeFailed != 1 {
		t.Errorf("StoreFailed called %d times", bp.h.storeFailed)
	}
	bp.codes.failPut = false

	// Signed in: a code, with prompt=none too; the tier, when the rules
	// give one, is the groups claim, else there is none.
	for _, c := range []struct {
		name, method, prompt, tier string
	}{
		{"GET, no tier", http.MethodGet, "", ""},
		{"POST, prompt=none, friend", http.MethodPost, "none", access.TierFriend},
	} {
		bp.h.block = access.Decision{Tier: c.tier}
		w := bp.authorize(c.method, q("prompt", c.prompt))
		loc, _ := url.Parse(w.Header().Get("Location"))
		code := loc.Query().Get("code")
		if w.Code != 302 || code == "" || loc.Query().Get("state") != "st" || w.Header().Get("Cache-Control") != "no-store" {
			t.Fatalf("%s: %d %v", c.name, w.Code, w.Header())
		}
		tw := bp.token("application/x-www-form-urlencoded", "grafana:"+grafanaSecret, tokenBody(code))
		var ok struct {
			IDToken string `json:"id_token"`
		}
		_ = json.Unmarshal(tw.Body.Bytes(), &ok)
		hint, err := bp.keys.Get(context.Background()).IDTokenHint(ok.IDToken, time.Now())
		if err != nil {
			t.Fatalf("%s: %d %s, %v", c.name, tw.Code, tw.Body, err)
		}
		if want := c.tier; (want == "" && len(hint.Groups) != 0) || (want != "" && (len(hint.Groups) != 1 || hint.Groups[0] != want)) {
			t.Errorf("%s: groups %q, want %q", c.name, hint.Groups, want)
		}
	}
}

// A client_id sent by anyone is bounded in the audit line: 64 bytes, then
// an ellipsis.
func TestAuditBoundsTheClientID(t *testing.T) {
	bp := newBiteProvider(t)
	for _, n := range []int{64, 65} {
		bp.h.audit = nil
		id := strings.Repeat("c", n)
		bp.authorize(http.MethodGet, url.Values{"client_id": {id}})
		want := "oidc refused client=" + id + " reason=invalid_client"
		if n > 64 {
			want = "oidc refused client=" + id[:64] + "… reason=invalid_client"
		}
		if len(bp.h.audit) != 1 || bp.h.audit[0] != want {
			t.Errorf("client id of %d bytes: audit %q", n, bp.h.audit)
		}
	}
}

// end_session (RP-Initiated Logout 1.0 §2, §3): what it refuses (400,
// never a redirect to a URI the client did not register), when it asks the
// user first (a request from another site that does not show the signed-in
// account's ID token), and where it sends the browser.
func TestEndSessionAnswersEachCase(t *testing.T) {
	bp := newBiteProvider(t)
	ks := bp.keys.Get(context.Background())
	idToken := func(aud, sub string) string {
		tok, err := ks.Sign(oidc.TypeIDToken, oidc.IDClaims{Audience: aud, Expires: time.Now().Add(-time.Hour).Unix(), Identity: oidc.Identity{Subject: sub}})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	accessToken, err := ks.Sign(oidc.TypeAccessToken, oidc.AccessClaims{Audience: "spa", ID: "g", Expires: time.Now().Add(time.Hour).Unix(), Identity: oidc.Identity{Subject: "u-alice"}})
	if err != nil {
		t.Fatal(err)
	}
	const signedOut = "/_plexauth/login?signed_out=1"
	for _, c := range []struct {
		name      string
		method    string
		q         url.Values
		raw       string // a raw query instead of q
		signedIn  bool
		crossSite bool
		status    int
		location  string
		confirm   []string // the rd and sign-out URL ConfirmSignOut was given
	}{
		{name: "a query that does not parse", method: "GET", raw: "state=x&%zz", status: 400},
		{name: "a body over MaxForm", method: "POST", q: url.Values{"client_id": {"spa"}, "pad": {strings.Repeat("p", 1<<10)}}, signedIn: true, status: 400},
		{name: "a hint not issued here", method: "GET", q: url.Values{"id_token_hint": {"a.b.c"}}, status: 400},
		{name: "an access token as hint", method: "GET", q: url.Values{"id_token_hint": {accessToken}}, status: 400},
		{name: "hint and client_id disagree", method: "GET", q: url.Values{"id_token_hint": {idToken("spa", "u-alice")}, "client_id": {"grafana"}}, status: 400},
		{name: "unknown client", method: "GET", q: url.Values{"client_id": {"nobody"}}, status: 400},
		{name: "hint of an unknown client", method: "GET", q: url.Values{"id_token_hint": {idToken("nobody", "u-alice")}}, status: 400},
		{name: "after without a client", method: "GET", q: url.Values{"post_logout_redirect_uri": {"https://spa.example.test/bye"}}, status: 400},
		{name: "after not registered", method: "GET", q: url.Values{"client_id": {"spa"}, "post_logout_redirect_uri": {"https://spa.example.test/cb"}}, status: 400},
		{name: "nothing: the login page", method: "GET", signedIn: true, status: 302, location: signedOut},
		{name: "by POST: 303", method: "POST", q: url.Values{"client_id": {"spa"}}, signedIn: true, status: 303, location: signedOut},
		{name: "after, with state", method: "GET", q: url.Values{"client_id": {"spa"}, "post_logout_redirect_uri": {"https://spa.example.test/bye"}, "state": {"s1"}},
			signedIn: true, status: 302, location: "https://spa.example.test/bye?state=s1"},
		{name: "after by the hint's client, the same client_id", method: "GET", q: url.Values{"id_token_hint": {idToken("spa", "u-alice")}, "client_id": {"spa"}, "post_logout_redirect_uri": {"app.spa:/bye"}},
			signedIn: true, status: 302, location: "app.spa:/bye"},
		{name: "after of the redirect URIs by default", method: "GET", q: url.Values{"client_id": {"grafana"}, "post_logout_redirect_uri": {"https://grafana.example.test/cb"}},
			signedIn: true, status: 302, location: "https://grafana.example.test/cb"},
		{name: "cross-site, the account's hint", method: "GET", q: url.Values{"id_token_hint": {idToken("spa", "u-alice")}, "post_logout_redirect_uri": {"https://spa.example.test/bye"}},
			signedIn: true, crossSite: true, status: 302, location: "https://spa.example.test/bye"},
		{name: "the hint, nobody signed in", method: "GET", q: url.Values{"id_token_hint": {idToken("spa", "u-alice")}},
			status: 302, location: signedOut},
		{name: "cross-site, the hint, nobody signed in", method: "GET", q: url.Values{"id_token_hint": {idToken("spa", "u-alice")}},
			crossSite: true, status: 302, location: signedOut},
		{name: "cross-site, nobody signed in", method: "GET", q: url.Values{"client_id": {"spa"}},
			crossSite: true, status: 302, location: signedOut},
		{name: "cross-site, no hint", method: "GET", q: url.Values{"client_id": {"spa"}, "post_logout_redirect_uri": {"https://spa.example.test/bye"}},
			signedIn: true, crossSite: true, status: 200,
			confirm: []string{"https://spa.example.test/bye", "/_plexauth/end_session?client_id=spa&post_logout_redirect_uri=https%3A%2F%2Fspa.example.test%2Fbye"}},
		{name: "cross-site, no hint, an http URI", method: "GET", q: url.Values{"client_id": {"spa"}, "post_logout_redirect_uri": {"http://spa.example.test/bye"}},
			signedIn: true, crossSite: true, status: 200,
			confirm: []string{"http://spa.example.test/bye", "/_plexauth/end_session?client_id=spa&post_logout_redirect_uri=http%3A%2F%2Fspa.example.test%2Fbye"}},
		{name: "cross-site, another account's hint, an app's URI", method: "GET", q: url.Values{"id_token_hint": {idToken("spa", "u-bob")}, "post_logout_redirect_uri": {"app.spa:/bye"}},
			signedIn: true, crossSite: true, status: 200,
			confirm: []string{"/", "/_plexauth/end_session?id_token_hint=" + idToken("spa", "u-bob") + "&post_logout_redirect_uri=app.spa%3A%2Fbye"}},
	} {
		bp.h.account, bp.h.crossSite, bp.h.ended, bp.h.confirmed = nil, c.crossSite, 0, nil
		if c.signedIn {
			bp.h.account = alice()
		}
		target := "/_plexauth/end_session"
		var w *httptest.ResponseRecorder
		switch {
		case c.raw != "":
			w, _ = serve(bp.Provider, c.method, target+"?"+c.raw, nil)
		case c.method == http.MethodPost:
			w, _ = serve(bp.Provider, c.method, target, c.q)
		default:
			w, _ = serve(bp.Provider, c.method, target+"?"+c.q.Encode(), nil)
		}
		if w.Code != c.status || w.Header().Get("Location") != c.location {
			t.Errorf("%s: %d %q, want %d %q", c.name, w.Code, w.Header().Get("Location"), c.status, c.location)
			continue
		}
		wantEnded := 0
		if c.status == 302 || c.status == 303 {
			wantEnded = 1
			if w.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("%s: Cache-Control %q", c.name, w.Header().Get("Cache-Control"))
			}
		}
		if bp.h.ended != wantEnded || strings.Join(bp.h.confirmed, " ") != strings.Join(c.confirm, " ") {
			t.Errorf("%s: sessions ended %d times, confirmation asked %q", c.name, bp.h.ended, bp.h.confirmed)
		}
	}
}
