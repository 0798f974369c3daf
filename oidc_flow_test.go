package plexauth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/caddy-plexauth/caddy-plexauth/internal/oidc"
)

// These tests run a real Caddy with plex_auth as an OpenID Connect
// provider, and a real relying party: go-oidc reads the discovery
// document, fetches the JWKS and verifies the ID token (signature, issuer,
// audience, expiry); golang.org/x/oauth2 walks the code flow with PKCE.

const (
	rpSecret     = "grafana-secret-0123456789"
	rpGrafana    = "https://grafana.example.test/login/generic_oauth"
	rpImmichApp  = "app.immich:///oauth-callback"
	rpImmichWeb  = "https://photos.example.test/auth/login"
	rpLogoutDone = "https://grafana.example.test/logged-out"
)

// oidcSite is a block that admits every tier of the server, with a
// confidential client limited to owner and home, a public one open to the
// block's rules, and a confidential one limited to the account homie.
const oidcSite = `localhost:SITEPORT {
	plex_auth {
		server ` + machineID + `
		{PLEX}
		oidc_client grafana {
			secret ` + rpSecret + `
			redirect_uri ` + rpGrafana + `
			post_logout_redirect_uri ` + rpLogoutDone + `
			allow_tier owner home
		}
		oidc_client immich {
			public
			redirect_uri ` + rpImmichApp + ` ` + rpImmichWeb + `
		}
		oidc_client portainer {
			secret {env.PLEXAUTH_TEST_PORTAINER_SECRET}
			redirect_uri https://portainer.example.test/
			allow_users homie
		}
	}
	reverse_proxy {UP}
}`

// rp is a relying party configured from the provider's discovery.
type rp struct {
	t        *testing.T
	provider *gooidc.Provider
	conf     oauth2.Config
	verifier *gooidc.IDTokenVerifier
}

func newRP(t *testing.T, issuer, clientID, secret, redirect string) *rp {
	t.Helper()
	ctx := context.Background()
	p, err := gooidc.NewProvider(ctx, issuer)
	if err != nil {
		t.Fatalf("go-oidc refuses the discovery document: %v", err)
	}
	return &rp{t: t, provider: p, verifier: p.Verifier(&gooidc.Config{ClientID: clientID}),
		conf: oauth2.Config{ClientID: clientID, ClientSecret: secret, RedirectURL: redirect, Endpoint: p.Endpoint(),
			Scopes: []string{gooidc.ScopeOpenID, "profile", "email", "groups"}}}
}

func randomString(t *testing.T) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// authorize sends the browser to the authorization endpoint and returns
// the answer, signing in as account first when the provider asks (account
// "" never signs in).
func (e *env) authorize(b *browser, authURL, account string) *http.Response {
	e.t.Helper()
	resp, body := b.get(authURL)
	if resp.StatusCode == http.StatusFound && strings.HasPrefix(resp.Header.Get("Location"), "/_plexauth/login?") && account != "" {
		loc, _ := url.Parse(resp.Header.Get("Location"))
		rd := loc.Query().Get("rd")
		if !strings.HasPrefix(rd, "/_plexauth/authorize?") {
			e.t.Fatalf("the login page would not come back to the authorize request: rd=%q", rd)
		}
		cb, cbody := e.signIn(b, account, rd)
		if cb.StatusCode != http.StatusFound {
			return cb
		}
		if got := cb.Header.Get("Location"); got != rd {
			e.t.Fatalf("after sign-in the browser goes to %q, want the authorize request %q; body %.200s", got, rd, cbody)
		}
		resp, body = b.get(rd)
	}
	_ = body
	return resp
}

// codeFrom reads the code from a redirect to redirect, checking state and iss.
func codeFrom(t *testing.T, resp *http.Response, redirect, state, issuer string) string {
	t.Helper()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, redirect+"?") {
		t.Fatalf("authorize answered %d Location %q, want a redirect to %s", resp.StatusCode, loc, redirect)
	}
	q, _ := url.ParseQuery(loc[len(redirect)+1:])
	if q.Get("state") != state || q.Get("iss") != issuer {
		t.Fatalf("redirect %q: state or iss wrong (want %q, %q)", loc, state, issuer)
	}
	if q.Get("error") != "" || q.Get("code") == "" {
		t.Fatalf("redirect %q carries no code", loc)
	}
	return q.Get("code")
}

func issuerURL() string { return siteURL + "/_plexauth" }

// flow walks the whole code flow for client as account and returns the
// token and the verified ID token.
func (r *rp) flow(e *env, b *browser, account string) (*oauth2.Token, *gooidc.IDToken) {
	r.t.Helper()
	state, nonce, verifier := randomString(r.t), randomString(r.t), oauth2.GenerateVerifier()
	resp := e.authorize(b, r.conf.AuthCodeURL(state, gooidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), account)
	code := codeFrom(r.t, resp, r.conf.RedirectURL, state, issuerURL())
	tok, err := r.conf.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		r.t.Fatalf("token exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := r.verifier.Verify(context.Background(), raw)
	if err != nil {
		r.t.Fatalf("go-oidc refuses the ID token: %v", err)
	}
	if idt.Nonce != nonce {
		r.t.Fatalf("nonce %q, want %q", idt.Nonce, nonce)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		r.t.Fatalf("at_hash: %v", err)
	}
	return tok, idt
}

type plexClaims struct {
	Sub               string   `json:"sub"`
	PreferredUsername string   `json:"preferred_username"`
	Name              string   `json:"name"`
	Email             string   `json:"email"`
	Picture           string   `json:"picture"`
	Groups            []string `json:"groups"`
	PlexUserID        int64    `json:"plex_user_id"`
	AuthTime          int64    `json:"auth_time"`
}

func TestOIDCOwnerSignsInToARelyingParty(t *testing.T) {
	t.Setenv("PLEXAUTH_TEST_PORTAINER_SECRET", "portainer-secret-0123456789")
	e := newEnv(t, oidcSite)
	owner := e.plex.Account("owner")
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
		r := newRP(t, issuerURL(), "grafana", rpSecret, rpGrafana)
		r.conf.Endpoint.AuthStyle = style
		tok, idt := r.flow(e, newBrowser(t), "owner")
		var c plexClaims
		if err := idt.Claims(&c); err != nil {
			t.Fatal(err)
		}
		if c.Sub != owner.UUID || idt.Subject != owner.UUID || c.PreferredUsername != "owner" || c.Email != owner.Email ||
			!slices.Equal(c.Groups, []string{"owner"}) || c.PlexUserID != int64(owner.ID) || c.AuthTime == 0 {
			t.Fatalf("ID token claims %+v, want the owner's (uuid %s, id %d)", c, owner.UUID, owner.ID)
		}
		// picture is the avatar plex.tv gives for the account (its "thumb").
		if !strings.HasPrefix(c.Picture, "https://plex.tv/users/"+owner.UUID+"/avatar") {
			t.Fatalf("ID token picture %q, want the account's Plex avatar", c.Picture)
		}
		if idt.Issuer != issuerURL() || !slices.Equal(idt.Audience, []string{"grafana"}) {
			t.Fatalf("iss %q aud %v", idt.Issuer, idt.Audience)
		}
		if life := time.Until(idt.Expiry); life > time.Hour || life < 59*time.Minute {
			t.Fatalf("ID token lives %v, want an hour", life)
		}
		ui, err := r.provider.UserInfo(context.Background(), oauth2.StaticTokenSource(tok))
		if err != nil {
			t.Fatalf("userinfo: %v", err)
		}
		var uc plexClaims
		_ = ui.Claims(&uc)
		if ui.Subject != owner.UUID || uc.PreferredUsername != "owner" || !slices.Equal(uc.Groups, []string{"owner"}) || uc.Picture != c.Picture {
			t.Fatalf("userinfo %+v", uc)
		}
	}
	// Userinfo by POST with the token in the body (RFC 6750 §2.2).
	r := newRP(t, issuerURL(), "grafana", rpSecret, rpGrafana)
	tok, _ := r.flow(e, newBrowser(t), "owner")
	resp, body := newBrowser(t).do(http.MethodPost, "/_plexauth/userinfo", url.Values{"access_token": {tok.AccessToken}})
	expectStatus(t, resp, http.StatusOK, body)
	if !strings.Contains(body, `"sub":"`+owner.UUID+`"`) {
		t.Fatalf("userinfo by POST: %s", body)
	}
}

func TestOIDCPublicClientNeedsPKCEAndWorksWithACustomScheme(t *testing.T) {
	t.Setenv("PLEXAUTH_TEST_PORTAINER_SECRET", "portainer-secret-0123456789")
	e := newEnv(t, oidcSite)
	r := newRP(t, issuerURL(), "immich", "", rpImmichApp)
	_, idt := r.flow(e, newBrowser(t), "friend")
	var c plexClaims
	_ = idt.Claims(&c)
	if c.PreferredUsername != "friend" || !slices.Equal(c.Groups, []string{"friend"}) {
		t.Fatalf("claims %+v", c)
	}
	// Without PKCE the public client is refused at the redirect URI.
	b := newBrowser(t)
	e.signIn(b, "friend", "/")
	resp, _ := b.get(r.conf.AuthCodeURL("st"))
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, rpImmichApp+"?") || !strings.Contains(loc, "error=invalid_request") || strings.Contains(loc, "code=") {
		t.Fatalf("public client without PKCE: %d %q", resp.StatusCode, loc)
	}
}

func TestOIDCFriendIsRefusedByAStricterClientAndAStrangerGetsNoCode(t *testing.T) {
	t.Setenv("PLEXAUTH_TEST_PORTAINER_SECRET", "portainer-secret-0123456789")
	e := newEnv(t, oidcSite)
	for _, c := range []struct{ client, secret, redirect, account string }{
		{"grafana", rpSecret, rpGrafana, "friend"},                                               // allow_tier owner home
		{"portainer", "portainer-secret-0123456789", "https://portainer.example.test/", "owner"}, // allow_users homie
	} {
		r := newRP(t, issuerURL(), c.client, c.secret, c.redirect)
		resp := e.authorize(newBrowser(t), r.conf.AuthCodeURL("st-1", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), c.account)
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, c.redirect+"?") {
			t.Fatalf("%s for %s: %d %q", c.client, c.account, resp.StatusCode, loc)
		}
		q, _ := url.ParseQuery(loc[len(c.redirect)+1:])
		if q.Get("error") != "access_denied" || q.Get("state") != "st-1" || q.Get("code") != "" {
			t.Fatalf("%s refused %s with %q, want error=access_denied and the state, no code", c.client, c.account, loc)
		}
	}
	// homie passes portainer's own list.
	newRP(t, issuerURL(), "portainer", "portainer-secret-0123456789", "https://portainer.example.test/").flow(e, newBrowser(t), "homie")
	// The stranger is refused by the block itself: the sign-in ends on
	// the refusal page, and the client never sees a code.
	r := newRP(t, issuerURL(), "immich", "", rpImmichWeb)
	resp := e.authorize(newBrowser(t), r.conf.AuthCodeURL("st", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), "stranger")
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Location") != "" {
		t.Fatalf("stranger: %d %q, want the 403 page", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// tokenCall posts a token request by hand, to see the errors.
func tokenCall(t *testing.T, form url.Values, basic ...string) (*http.Response, map[string]string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, issuerURL()+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if len(basic) == 2 {
		req.SetBasicAuth(basic[0], basic[1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp, out
}

// freshCode signs b in (if needed) and returns a code for grafana with
// the PKCE verifier.
func freshCode(t *testing.T, e *env, b *browser, account string) (code, verifier string) {
	t.Helper()
	r := newRP(t, issuerURL(), "grafana", rpSecret, rpGrafana)
	verifier = oauth2.GenerateVerifier()
	resp := e.authorize(b, r.conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), account)
	return codeFrom(t, resp, rpGrafana, "s", issuerURL()), verifier
}

func TestOIDCTokenEndpointErrorsAndCodeReplay(t *testing.T) {
	t.Setenv("PLEXAUTH_TEST_PORTAINER_SECRET", "portainer-secret-0123456789")
	e := newEnv(t, oidcSite)
	b := newBrowser(t)
	good := func(code, verifier string) url.Values {
		return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {rpGrafana}, "code_verifier": {verifier}}
	}
	cases := []struct {
		name   string
		mutate func(url.Values) (url.Values, []string)
		status int
		err    string
	}{
		{"wrong secret", func(v url.Values) (url.Values, []string) { return v, []string{"grafana", "wrong-secret-0123456789"} }, 401, "invalid_client"},
		{"unknown client", func(v url.Values) (url.Values, []string) { return v, []string{"nobody", rpSecret} }, 401, "invalid_client"},
		{"no credentials", func(v url.Values) (url.Values, []string) { return v, nil }, 401, "invalid_client"},
		{"another client's code", func(v url.Values) (url.Values, []string) {
			v.Set("client_id", "immich")
			return v, nil
		}, 400, "invalid_grant"},
		{"wrong redirect_uri", func(v url.Values) (url.Values, []string) {
			v.Set("redirect_uri", rpGrafana+"/")
			return v, []string{"grafana", rpSecret}
		}, 400, "invalid_grant"},
		{"missing code_verifier", func(v url.Values) (url.Values, []string) {
			v.Del("code_verifier")
			return v, []string{"grafana", rpSecret}
		}, 400, "invalid_request"},
		{"wrong code_verifier", func(v url.Values) (url.Values, []string) {
			v.Set("code_verifier", oauth2.GenerateVerifier())
			return v, []string{"grafana", rpSecret}
		}, 400, "invalid_grant"},
		{"unknown code", func(v url.Values) (url.Values, []string) {
			v.Set("code", "not-a-code")
			return v, []string{"grafana", rpSecret}
		}, 400, "invalid_grant"},
		{"refresh grant", func(v url.Values) (url.Values, []string) {
			v.Set("grant_type", "refresh_token")
			return v, []string{"grafana", rpSecret}
		}, 400, "unsupported_grant_type"},
		{"code given twice", func(v url.Values) (url.Values, []string) {
			v.Add("code", "x")
			return v, []string{"grafana", rpSecret}
		}, 400, "invalid_request"},
	}
	for _, c := range cases {
		code, verifier := freshCode(t, e, b, "owner")
		form, basic := c.mutate(good(code, verifier))
		resp, out := tokenCall(t, form, basic...)
		if resp.StatusCode != c.status || out["error"] != c.err || out["access_token"] != "" {
			t.Errorf("%s: %d %v, want %d %s and no token", c.name, resp.StatusCode, out, c.status, c.err)
		}
		if c.status == 401 && len(basic) == 2 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") {
			t.Errorf("%s: 401 without WWW-Authenticate: Basic", c.name)
		}
	}
	// Not a form, a GET: refused, never 500.
	req, _ := http.NewRequest(http.MethodPost, issuerURL()+"/token", strings.NewReader(`{"grant_type":"authorization_code"}`))
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 400 {
		t.Fatalf("JSON body: %v %v", resp, err)
	}
	if resp, _ := newBrowser(t).get(issuerURL() + "/token"); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET /token: %d", resp.StatusCode)
	}

	// A confidential client may leave PKCE out (Portainer does).
	r := newRP(t, issuerURL(), "grafana", rpSecret, rpGrafana)
	resp0 := e.authorize(b, r.conf.AuthCodeURL("np"), "owner")
	plain := codeFrom(t, resp0, rpGrafana, "np", issuerURL())
	if resp, out := tokenCall(t, url.Values{"grant_type": {"authorization_code"}, "code": {plain}, "redirect_uri": {rpGrafana}}, "grafana", rpSecret); resp.StatusCode != 200 || out["id_token"] == "" {
		t.Fatalf("confidential client without PKCE: %d %v", resp.StatusCode, out)
	}
	// A verifier for a code issued without a challenge is a downgrade.
	resp0 = e.authorize(b, r.conf.AuthCodeURL("np"), "owner")
	plain = codeFrom(t, resp0, rpGrafana, "np", issuerURL())
	if resp, out := tokenCall(t, url.Values{"grant_type": {"authorization_code"}, "code": {plain}, "redirect_uri": {rpGrafana}, "code_verifier": {oauth2.GenerateVerifier()}}, "grafana", rpSecret); resp.StatusCode != 400 || out["error"] != "invalid_grant" {
		t.Fatalf("verifier without challenge: %d %v", resp.StatusCode, out)
	}

	// Replay: the second redemption is refused and the first tokens stop
	// working at userinfo.
	code, verifier := freshCode(t, e, b, "owner")
	resp, out := tokenCall(t, good(code, verifier), "grafana", rpSecret)
	if resp.StatusCode != 200 || out["access_token"] == "" || out["id_token"] == "" || out["token_type"] != "Bearer" {
		t.Fatalf("first redemption: %d %v", resp.StatusCode, out)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("token answer Cache-Control %q", resp.Header.Get("Cache-Control"))
	}
	at := out["access_token"]
	if got := userinfoStatus(t, at); got != 200 {
		t.Fatalf("userinfo before the replay: %d", got)
	}
	resp, out = tokenCall(t, good(code, verifier), "grafana", rpSecret)
	if resp.StatusCode != 400 || out["error"] != "invalid_grant" || out["access_token"] != "" {
		t.Fatalf("replay: %d %v", resp.StatusCode, out)
	}
	if got := userinfoStatus(t, at); got != 401 {
		t.Fatalf("userinfo after the code's replay: %d, want 401", got)
	}
}

func userinfoStatus(t *testing.T, token string) int {
	t.Helper()
	resp, _ := newBrowser(t).get(issuerURL()+"/userinfo", "Authorization", "Bearer "+token)
	return resp.StatusCode
}

func TestOIDCUserinfoRefusesWhatIsNoAccessToken(t *testing.T) {
	t.Setenv("PLEXAUTH_TEST_PORTAINER_SECRET", "portainer-secret-0123456789")
	e := newEnv(t, oidcSite)
	r := newRP(t, issuerURL(), "grafana", rpSecret, rpGrafana)
	tok, _ := r.flow(e, newBrowser(t), "owner")
	idToken, _ := tok.Extra("id_token").(string)
	// A single-page app's preflight is answered; the answers are readable
	// from script.
	resp, _ := newBrowser(t).do(http.MethodOptions, issuerURL()+"/userinfo", nil, "Origin", "https://spa.example.test", "Access-Control-Request-Headers", "authorization")
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	if got := userinfoStatus(t, tok.AccessToken); got != 200 {
		t.Fatalf("userinfo: %d", got)
	}
	for name, hdr := range map[string]string{
		"no token":          "",
		"an ID token":       "Bearer " + idToken,
		"garbage":           "Bearer abc.def.ghi",
		"basic credentials": "Basic Z3JhZmFuYTp4",
		"tampered":          "Bearer " + tok.AccessToken[:len(tok.AccessToken)-4] + "AAAA",
	} {
		var h []string
		if hdr != "" {
			h = []string{"Authorization", hdr}
		}
		resp, body := newBrowser(t).get(issuerURL()+"/userinfo", h...)
		if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") || strings.Contains(body, `"sub"`) {
			t.Errorf("%s: %d %q %s", name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
		}
	}
}

func TestOIDCAuthorizeErrors(t *testing.T) {
	t.Setenv("PLEXAUTH_TEST_PORTAINER_SECRET", "portainer-secret-0123456789")
	e := newEnv(t, oidcSite)
	b := newBrowser(t)
	e.signIn(b, "owner", "/")
	base := url.Values{"client_id": {"grafana"}, "redirect_uri": {rpGrafana}, "response_type": {"code"}, "scope": {"openid"}, "state": {"st"}}
	with := func(k, v string) string {
		q := url.Values{}
		for kk, vv := range base {
			q[kk] = vv
		}
		if v == "" {
			q.Del(k)
		} else {
			q.Set(k, v)
		}
		return "/_plexauth/authorize?" + q.Encode()
	}
	// Never redirected: the redirect URI cannot be trusted.
	for name, target := range map[string]string{
		"unregistered redirect_uri": with("redirect_uri", "https://evil.example.test/cb"),
		"prefix of a redirect_uri":  with("redirect_uri", "https://grafana.example.test/login/"),
		"unknown client":            with("client_id", "nobody"),
		"no redirect_uri":           with("redirect_uri", ""),
	} {
		resp, _ := b.get(target)
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Location") != "" {
			t.Errorf("%s: %d %q, want 403 and no redirect", name, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	// Redirected with the error the spec names.
	for name, c := range map[string]struct{ target, err string }{
		"implicit flow":   {with("response_type", "id_token"), "unsupported_response_type"},
		"no openid scope": {with("scope", "email"), "invalid_scope"},
		"plain PKCE":      {with("code_challenge_method", "plain") + "&code_challenge=" + strings.Repeat("a", 43), "invalid_request"},
	} {
		resp, _ := b.get(c.target)
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, rpGrafana+"?") || !strings.Contains(loc, "error="+c.err) || !strings.Contains(loc, "state=st") {
			t.Errorf("%s: %d %q, want a redirect with error=%s", name, resp.StatusCode, loc, c.err)
		}
	}
	// prompt=none without a session: login_required, no login page.
	resp, _ := newBrowser(t).get(with("prompt", "none"))
	if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, rpGrafana+"?") || !strings.Contains(loc, "error=login_required") {
		t.Fatalf("prompt=none signed out: %q", loc)
	}
}

func TestOIDCEndedSessionRefusesNewCodesButIssuedTokensLive(t *testing.T) {
	t.Setenv("PLEXAUTH_TEST_PORTAINER_SECRET", "portainer-secret-0123456789")
	e := newEnv(t, oidcSite)
	b := newBrowser(t)
	r := newRP(t, issuerURL(), "grafana", rpSecret, rpGrafana)
	tok, _ := r.flow(e, b, "owner")
	pending, verifier := freshCode(t, e, b, "owner")
	resp, body := b.do(http.MethodPost, "/_plexauth/logout", url.Values{})
	expectStatus(t, resp, http.StatusSeeOther, body)
	// A code issued before the logout is refused.
	resp2, out := tokenCall(t, url.Values{"grant_type": {"authorization_code"}, "code": {pending}, "redirect_uri": {rpGrafana}, "code_verifier": {verifier}}, "grafana", rpSecret)
	if resp2.StatusCode != 400 || out["error"] != "invalid_grant" {
		t.Fatalf("code of an ended session: %d %v", resp2.StatusCode, out)
	}
	// No new code without signing in again.
	resp = e.authorize(b, r.conf.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), "")
	if !strings.HasPrefix(resp.Header.Get("Location"), "/_plexauth/login?") {
		t.Fatalf("authorize after logout: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// Tokens already issued live until they expire (docs/oidc.md).
	if got := userinfoStatus(t, tok.AccessToken); got != 200 {
		t.Fatalf("userinfo with a token issued before the logout: %d", got)
	}
}

func TestOIDCEndSessionSignsOutAndChecksTheRedirect(t *testing.T) {
	t.Setenv("PLEXAUTH_TEST_PORTAINER_SECRET", "portainer-secret-0123456789")
	e := newEnv(t, oidcSite)
	b := newBrowser(t)
	r := newRP(t, issuerURL(), "grafana", rpSecret, rpGrafana)
	tok, _ := r.flow(e, b, "owner")
	hint, _ := tok.Extra("id_token").(string)
	end := func(kv ...string) string {
		q := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			q.Set(kv[i], kv[i+1])
		}
		return "/_plexauth/end_session?" + q.Encode()
	}
	for name, target := range map[string]string{
		"unregistered post_logout_redirect_uri": end("id_token_hint", hint, "post_logout_redirect_uri", "https://evil.example.test/"),
		"redirect without a client":             end("post_logout_redirect_uri", rpLogoutDone),
		"forged hint":                           end("id_token_hint", hint[:len(hint)-4]+"AAAA", "post_logout_redirect_uri", rpLogoutDone),
	} {
		resp, _ := b.get(target, "Sec-Fetch-Site", "cross-site")
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Errorf("%s: %d %q", name, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	if resp, body := b.get("/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("refused end_session requests ended the session: %d %.200s", resp.StatusCode, body)
	}
	// From another site without a hint: the user is asked first.
	resp, body := b.get(end("client_id", "grafana", "post_logout_redirect_uri", rpLogoutDone), "Sec-Fetch-Site", "cross-site")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Sign out?") {
		t.Fatalf("cross-site end_session without hint: %d %.300s", resp.StatusCode, body)
	}
	if resp, _ := b.get("/"); resp.StatusCode != http.StatusOK {
		t.Fatal("asking ended the session")
	}
	// With the account's ID token as hint: signed out, sent back with state.
	resp, _ = b.get(end("id_token_hint", hint, "post_logout_redirect_uri", rpLogoutDone, "state", "bye"), "Sec-Fetch-Site", "cross-site")
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != rpLogoutDone+"?state=bye" {
		t.Fatalf("end_session: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := b.get("/"); resp.StatusCode != http.StatusFound {
		t.Fatalf("still signed in after end_session: %d", resp.StatusCode)
	}
}

func TestOIDCKeyRotationKeepsThePreviousKeyPublished(t *testing.T) {
	t.Setenv("PLEXAUTH_TEST_PORTAINER_SECRET", "portainer-secret-0123456789")
	e := newEnv(t, oidcSite)
	r := newRP(t, issuerURL(), "grafana", rpSecret, rpGrafana)
	before, _ := r.flow(e, newBrowser(t), "owner")
	kids := func() []string {
		resp, body := newBrowser(t).get(issuerURL() + "/jwks")
		expectStatus(t, resp, http.StatusOK, body)
		var set struct{ Keys []struct{ Kid string } }
		_ = json.Unmarshal([]byte(body), &set)
		var out []string
		for _, k := range set.Keys {
			out = append(out, k.Kid)
		}
		return out
	}
	first := kids()
	if len(first) != 1 {
		t.Fatalf("jwks before rotation: %v", first)
	}
	// Age the stored key past its rotation, then reload: the new config
	// rotates it.
	path := filepath.Join(e.storage, filepath.FromSlash(storageOIDCKeys))
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var stored map[string][]map[string]any
	_ = json.Unmarshal(raw, &stored)
	stored["keys"][0]["created"] = time.Now().Add(-oidcKeyRotateEvery - time.Hour).Format(time.RFC3339)
	raw, _ = json.Marshal(stored)
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	// (A config Caddy finds unchanged is not loaded again.)
	e.load(strings.Replace(oidcSite, "reverse_proxy {UP}", "reverse_proxy {UP} {\n\t\theader_up X-Reloaded 1\n\t}", 1))
	after := kids()
	if len(after) != 2 || after[1] != first[0] || after[0] == first[0] {
		t.Fatalf("jwks after rotation %v, want a new kid then the old %v", after, first)
	}
	if got := userinfoStatus(t, before.AccessToken); got != 200 {
		t.Fatalf("a token of the previous key at userinfo: %d", got)
	}
	// A new sign-in is signed by the new key, and go-oidc (whose key cache
	// knows only the old kid) verifies it.
	_, idt := r.flow(e, newBrowser(t), "owner")
	_ = idt
	ks, err := oidc.ParseKeySet(mustRead(t, path))
	if err != nil || ks.Current.ID != after[0] || len(ks.Previous) != 1 {
		t.Fatalf("stored set after rotation: %v %+v", err, ks)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOIDCDiscoveryAndEndpointsOnlyWithClients(t *testing.T) {
	e := newEnv(t, `localhost:SITEPORT {
	plex_auth {
		server `+machineID+`
		{PLEX}
	}
	reverse_proxy {UP}
}`)
	_ = e
	for _, p := range []string{"/.well-known/openid-configuration", "/authorize", "/token", "/userinfo", "/jwks", "/end_session"} {
		resp, _ := newBrowser(t).get("/_plexauth" + p)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s without oidc_client: %d, want 404", p, resp.StatusCode)
		}
	}
}
