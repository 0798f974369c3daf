package oidc

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// One key set for the tests that do not test generation: RSA keys take a
// while to make.
var testKeys = sync.OnceValue(func() *KeySet {
	ks, err := NewKeySet(time.Unix(1_700_000_000, 0))
	if err != nil {
		panic(err)
	}
	return ks
})

func TestKeySetSurvivesMarshalAndKeepsItsKid(t *testing.T) {
	ks := testKeys()
	b, err := ks.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseKeySet(b)
	if err != nil {
		t.Fatal(err)
	}
	if back.Current.ID != ks.Current.ID || !back.Current.Created.Equal(ks.Current.Created) {
		t.Fatalf("kid or creation changed: %q %v, want %q %v", back.Current.ID, back.Current.Created, ks.Current.ID, ks.Current.Created)
	}
	tok, _ := ks.Sign(TypeIDToken, map[string]string{"sub": "x"})
	if _, err := back.Verify(tok, TypeIDToken, time.Now()); err != nil {
		t.Fatalf("a token signed before marshalling does not verify after: %v", err)
	}
}

func TestParseKeySetRefusesGarbage(t *testing.T) {
	for _, in := range []string{"", "{}", `{"keys":[]}`, `{"keys":[{"pkcs8":"AAAA"}]}`, "not json"} {
		if _, err := ParseKeySet([]byte(in)); err == nil {
			t.Errorf("ParseKeySet(%q) accepted it", in)
		}
	}
}

func TestRotationKeepsThePreviousKeyUntilItsTokensExpire(t *testing.T) {
	ks := testKeys()
	now := ks.Current.Created.Add(40 * 24 * time.Hour)
	if !ks.RotationDue(now, 30*24*time.Hour) || ks.RotationDue(ks.Current.Created.Add(time.Hour), 30*24*time.Hour) {
		t.Fatal("RotationDue does not follow the key's age")
	}
	old, _ := ks.Sign(TypeAccessToken, map[string]any{"sub": "a"})
	next, err := ks.Rotate(now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if next.Current.ID == ks.Current.ID || len(next.Previous) != 1 || next.Previous[0].ID != ks.Current.ID {
		t.Fatalf("rotation did not make a new current key and keep the old one: %+v", next)
	}
	if ks.Current.RetireAt != (time.Time{}) {
		t.Fatal("Rotate modified the set it was called on")
	}
	var jwks struct {
		Keys []struct{ Kid, Kty, Alg, Use, N, E string }
	}
	_ = json.Unmarshal(next.JWKS(now), &jwks)
	if len(jwks.Keys) != 2 || jwks.Keys[0].Kid != next.Current.ID || jwks.Keys[1].Kid != ks.Current.ID {
		t.Fatalf("JWKS after rotation = %+v, want the new then the old kid", jwks.Keys)
	}
	for _, k := range jwks.Keys {
		if k.Kty != "RSA" || k.Alg != "RS256" || k.Use != "sig" || k.N == "" || k.E != "AQAB" {
			t.Fatalf("JWK %+v is not an RS256 signing key", k)
		}
	}
	if _, err := next.Verify(old, TypeAccessToken, now.Add(59*time.Minute)); err != nil {
		t.Fatalf("token of the previous key refused before it retires: %v", err)
	}
	if _, err := next.Verify(old, TypeAccessToken, now.Add(time.Hour)); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("token of the retired key: %v, want ErrUnknownKey", err)
	}
	_ = json.Unmarshal(next.JWKS(now.Add(time.Hour)), &jwks)
	if len(jwks.Keys) != 1 {
		t.Fatalf("retired key still published: %+v", jwks.Keys)
	}
	if p := next.Prune(now.Add(time.Hour)); len(p.Previous) != 0 || p.Current != next.Current {
		t.Fatalf("Prune kept a retired key: %+v", p)
	}
	b, _ := next.Marshal()
	back, err := ParseKeySet(b)
	if err != nil || len(back.Previous) != 1 || !back.Previous[0].RetireAt.Equal(next.Previous[0].RetireAt) {
		t.Fatalf("previous key and its retirement lost in storage: %v %+v", err, back)
	}
}

func TestVerifyRefusesForgeries(t *testing.T) {
	ks := testKeys()
	now := time.Now()
	good, _ := ks.Sign(TypeAccessToken, AccessClaims{ID: "g", Identity: Identity{Subject: "s"}, Expires: now.Add(time.Hour).Unix()})
	parts := strings.Split(good, ".")
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	other, _ := NewKeySet(now)
	foreign, _ := other.Sign(TypeAccessToken, map[string]string{"sub": "s", "jti": "g"})
	cases := map[string]struct {
		tok  string
		want error
	}{
		"alg none":           {enc(`{"alg":"none","kid":"`+ks.Current.ID+`","typ":"at+jwt"}`) + "." + parts[1] + ".", ErrMalformedToken},
		"alg HS256":          {enc(`{"alg":"HS256","kid":"`+ks.Current.ID+`","typ":"at+jwt"}`) + "." + parts[1] + "." + parts[2], ErrMalformedToken},
		"payload changed":    {parts[0] + "." + enc(`{"sub":"admin","jti":"g"}`) + "." + parts[2], ErrBadSignature},
		"another key's kid":  {foreign, ErrUnknownKey},
		"two parts":          {parts[0] + "." + parts[1], ErrMalformedToken},
		"four parts":         {good + ".x", ErrMalformedToken},
		"not base64":         {"!!." + parts[1] + "." + parts[2], ErrMalformedToken},
		"empty":              {"", ErrMalformedToken},
		"huge":               {strings.Repeat("a", maxTokenLen+1), ErrMalformedToken},
		"kid swapped header": {enc(`{"alg":"RS256","kid":"nope","typ":"at+jwt"}`) + "." + parts[1] + "." + parts[2], ErrUnknownKey},
	}
	for name, c := range cases {
		if _, err := ks.Verify(c.tok, TypeAccessToken, now); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	if _, err := ks.Verify(good, TypeAccessToken, now); err != nil {
		t.Fatalf("the genuine token: %v", err)
	}
}

func TestIDTokenIsNoAccessToken(t *testing.T) {
	ks := testKeys()
	now := time.Now()
	id, _ := ks.Sign(TypeIDToken, IDClaims{Audience: "c", Expires: now.Add(time.Hour).Unix(), Identity: Identity{Subject: "s"}})
	if _, err := ks.VerifyAccessToken(id, now); !errors.Is(err, ErrWrongType) {
		t.Fatalf("an ID token used as access token: %v, want ErrWrongType", err)
	}
	at, _ := ks.Sign(TypeAccessToken, AccessClaims{ID: "g", Expires: now.Add(time.Hour).Unix(), Identity: Identity{Subject: "s"}})
	if _, err := ks.VerifyAccessToken(at, now.Add(time.Hour)); !errors.Is(err, ErrExpiredToken) {
		t.Fatalf("an expired access token: %v, want ErrExpiredToken", err)
	}
	if c, err := ks.VerifyAccessToken(at, now); err != nil || c.Subject != "s" || c.ID != "g" {
		t.Fatalf("a valid access token: %+v, %v", c, err)
	}
	if _, err := ks.IDTokenHint(at, now); !errors.Is(err, ErrWrongType) {
		t.Fatalf("an access token as id_token_hint: %v", err)
	}
	if c, err := ks.IDTokenHint(id, now.Add(48*time.Hour)); err != nil || c.Audience != "c" {
		t.Fatalf("an expired ID token as hint should still name its client: %+v %v", c, err)
	}
}

func testRegistry(t *testing.T) *Registry {
	t.Helper()
	r, err := NewRegistry([]Client{
		{ID: "grafana", Secret: "s3cret-with:colon&amp", RedirectURIs: []string{"https://grafana.example.com/login/generic_oauth"}},
		{ID: "immich", Public: true, RedirectURIs: []string{"app.immich:///oauth-callback", "https://photos.example.com/auth/login?x=1"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRegistryRefusesBadClients(t *testing.T) {
	for name, cs := range map[string][]Client{
		"no redirect":        {{ID: "a", Secret: "x"}},
		"public with secret": {{ID: "a", Public: true, Secret: "x", RedirectURIs: []string{"https://a/cb"}}},
		"confidential bare":  {{ID: "a", RedirectURIs: []string{"https://a/cb"}}},
		"duplicate":          {{ID: "a", Secret: "x", RedirectURIs: []string{"https://a/cb"}}, {ID: "a", Secret: "y", RedirectURIs: []string{"https://b/cb"}}},
		"fragment":           {{ID: "a", Secret: "x", RedirectURIs: []string{"https://a/cb#x"}}},
		"relative":           {{ID: "a", Secret: "x", RedirectURIs: []string{"/cb"}}},
		"no host":            {{ID: "a", Secret: "x", RedirectURIs: []string{"https:///cb"}}},
		"space in id":        {{ID: "a b", Secret: "x", RedirectURIs: []string{"https://a/cb"}}},
	} {
		if _, err := NewRegistry(cs); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestRedirectURIsMatchExactly(t *testing.T) {
	c := testRegistry(t).Lookup("grafana")
	for _, u := range []string{
		"https://grafana.example.com/login/generic_oauth/", "https://grafana.example.com/login/generic_oauth?x",
		"https://GRAFANA.example.com/login/generic_oauth", "https://grafana.example.com/login/generic_oaut",
		"https://grafana.example.com/login/generic_oauth#", "https://grafana.example.com.evil.test/login/generic_oauth",
		"http://grafana.example.com/login/generic_oauth", "https://grafana.example.com/login/%67eneric_oauth", "",
	} {
		if c.RedirectAllowed(u) {
			t.Errorf("%q accepted", u)
		}
	}
	if !c.RedirectAllowed("https://grafana.example.com/login/generic_oauth") {
		t.Fatal("the registered URI is refused")
	}
}

func TestAuthenticateClients(t *testing.T) {
	r := testRegistry(t)
	basic := func(id, secret string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
	}
	cases := []struct {
		name   string
		auth   string
		form   url.Values
		status int // 0: accepted
		code   string
	}{
		{"basic ok", basic("grafana", "s3cret-with:colon&amp"), url.Values{"grant_type": {"authorization_code"}}, 0, ""},
		{"post ok", "", url.Values{"grant_type": {"authorization_code"}, "client_id": {"grafana"}, "client_secret": {"s3cret-with:colon&amp"}}, 0, ""},
		{"public ok", "", url.Values{"grant_type": {"authorization_code"}, "client_id": {"immich"}}, 0, ""},
		{"public by basic without password", basic("immich", ""), url.Values{"grant_type": {"authorization_code"}}, 0, ""},
		{"public by basic with a password", basic("immich", "x"), url.Values{"grant_type": {"authorization_code"}}, 401, "invalid_client"},
		{"wrong secret", basic("grafana", "nope"), url.Values{"grant_type": {"authorization_code"}}, 401, "invalid_client"},
		{"no secret for confidential", "", url.Values{"grant_type": {"authorization_code"}, "client_id": {"grafana"}}, 401, "invalid_client"},
		{"secret for public", "", url.Values{"grant_type": {"authorization_code"}, "client_id": {"immich"}, "client_secret": {"x"}}, 401, "invalid_client"},
		{"unknown client", basic("nobody", "x"), url.Values{"grant_type": {"authorization_code"}}, 401, "invalid_client"},
		{"both ways", basic("grafana", "s3cret-with:colon&amp"), url.Values{"grant_type": {"authorization_code"}, "client_secret": {"s3cret-with:colon&amp"}}, 400, "invalid_request"},
		{"basic garbage", "Basic !!!", url.Values{"grant_type": {"authorization_code"}}, 401, "invalid_client"},
		{"bearer header", "Bearer x", url.Values{"grant_type": {"authorization_code"}}, 401, "invalid_client"},
		{"no client at all", "", url.Values{"grant_type": {"authorization_code"}}, 401, "invalid_client"},
		{"twice", "", url.Values{"grant_type": {"authorization_code"}, "client_id": {"immich", "immich"}}, 400, "invalid_request"},
		{"no grant type", "", url.Values{"client_id": {"immich"}}, 400, "invalid_request"},
	}
	for _, c := range cases {
		tr, e := ParseTokenRequest(c.auth, c.form)
		if e == nil {
			_, e = r.Authenticate(tr)
		}
		switch {
		case c.status == 0 && e != nil:
			t.Errorf("%s: refused: %v", c.name, e)
		case c.status != 0 && (e == nil || e.Status != c.status || e.Code != c.code):
			t.Errorf("%s: %+v, want %d %s", c.name, e, c.status, c.code)
		}
	}
}

func TestAuthRequests(t *testing.T) {
	r := testRegistry(t)
	ch := S256(strings.Repeat("v", 43))
	base := func(kv ...string) url.Values {
		q := url.Values{"client_id": {"immich"}, "redirect_uri": {"app.immich:///oauth-callback"}, "response_type": {"code"},
			"scope": {"openid email"}, "code_challenge": {ch}, "code_challenge_method": {"S256"}, "state": {"st"}}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				q.Del(kv[i])
			} else {
				q.Set(kv[i], kv[i+1])
			}
		}
		return q
	}
	cases := []struct {
		name     string
		q        url.Values
		code     string // "" accepted
		redirect bool
	}{
		{"ok", base(), "", false},
		{"unknown client", base("client_id", "nobody"), "invalid_client", false},
		{"unregistered redirect", base("redirect_uri", "https://evil.test/cb"), "invalid_request", false},
		{"no redirect", base("redirect_uri", ""), "invalid_request", false},
		{"implicit flow", base("response_type", "token"), "unsupported_response_type", true},
		{"no openid", base("scope", "email"), "invalid_scope", true},
		{"public without pkce", base("code_challenge", "", "code_challenge_method", ""), "invalid_request", true},
		{"plain pkce", base("code_challenge_method", "plain"), "invalid_request", true},
		{"short challenge", base("code_challenge", "abc"), "invalid_request", true},
		{"fragment mode", base("response_mode", "fragment"), "invalid_request", true},
		{"request object", base("request", "x.y.z"), "request_not_supported", true},
		{"prompt none+login", base("prompt", "none login"), "invalid_request", true},
		{"state twice", func() url.Values { q := base(); q["state"] = []string{"a", "b"}; return q }(), "invalid_request", true},
		{"redirect twice", func() url.Values {
			q := base()
			q["redirect_uri"] = []string{"app.immich:///oauth-callback", "x"}
			return q
		}(), "invalid_request", false},
	}
	for _, c := range cases {
		ar, e := ParseAuthRequest(r, c.q)
		switch {
		case c.code == "" && e != nil:
			t.Errorf("%s: refused %v", c.name, e)
		case c.code != "" && (e == nil || e.Code != c.code || e.Redirect != c.redirect):
			t.Errorf("%s: %+v, want %s redirect=%v", c.name, e, c.code, c.redirect)
		case c.code == "" && (ar.Client.ID != "immich" || ar.CodeChallenge != ch):
			t.Errorf("%s: parsed %+v", c.name, ar)
		}
	}
	ar, _ := ParseAuthRequest(r, base("redirect_uri", "https://photos.example.com/auth/login?x=1"))
	if got := ar.CodeRedirect("C", "https://i"); got != "https://photos.example.com/auth/login?x=1&code=C&iss=https%3A%2F%2Fi&state=st" {
		t.Fatalf("CodeRedirect = %q", got)
	}
	ar, _ = ParseAuthRequest(r, base())
	if got := ar.ErrorRedirect("access_denied", "", "https://i"); got != "app.immich:///oauth-callback?error=access_denied&iss=https%3A%2F%2Fi&state=st" {
		t.Fatalf("ErrorRedirect = %q", got)
	}
}

func TestPKCE(t *testing.T) {
	v := "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	// RFC 7636 Appendix B.
	if S256(v) != "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM" {
		t.Fatalf("S256 = %s", S256(v))
	}
	if !VerifyPKCE("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", v) {
		t.Fatal("the RFC's example does not verify")
	}
	for _, bad := range []string{"", v[:42], v + "!", strings.Repeat("a", 129), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"} {
		if VerifyPKCE("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", bad) {
			t.Errorf("verifier %q accepted", bad)
		}
	}
}

type clock struct{ t time.Time }

func TestCodesAreSingleUseAndAReplayRevokes(t *testing.T) {
	ctx := context.Background()
	c := &clock{time.Unix(1_700_000_000, 0)}
	st := &MemoryCodes{clock: func() time.Time { return c.t }}
	g := &Grant{ClientID: "grafana", RedirectURI: "https://g/cb", Nonce: "n", Identity: Identity{Subject: "u"}}
	code, err := Issue(ctx, st, g, c.t)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := st.PeekCode(ctx, GrantID(code))
	if strings.Contains(string(raw), "grafana") || strings.Contains(string(raw), "https://g/cb") {
		t.Fatal("the stored grant is readable without the code")
	}
	if _, err := Redeem(ctx, st, code+"x", c.t, time.Hour); !errors.Is(err, ErrUnknownCode) {
		t.Fatalf("a wrong code: %v", err)
	}
	got, err := Redeem(ctx, st, code, c.t.Add(59*time.Second), time.Hour)
	if err != nil || got.ClientID != "grafana" || got.Nonce != "n" || got.Identity.Subject != "u" {
		t.Fatalf("first redemption: %+v, %v", got, err)
	}
	gid := GrantID(code)
	if rev, _ := Revoked(ctx, st, gid); rev {
		t.Fatal("revoked before any replay")
	}
	// The replay comes after the code's 60 s: still recognised.
	c.t = c.t.Add(5 * time.Minute)
	if _, err := Redeem(ctx, st, code, c.t, time.Hour); !errors.Is(err, ErrReplayedCode) {
		t.Fatalf("replay: %v, want ErrReplayedCode", err)
	}
	if rev, _ := Revoked(ctx, st, gid); !rev {
		t.Fatal("a replay did not revoke the grant's tokens")
	}
	if _, err := Redeem(ctx, st, code, c.t, time.Hour); !errors.Is(err, ErrReplayedCode) {
		t.Fatalf("second replay: %v", err)
	}
	if rev, _ := Revoked(ctx, st, gid); !rev {
		t.Fatal("a second replay un-revoked the grant")
	}
}

func TestExpiredCodeIsRefused(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	st := &MemoryCodes{clock: func() time.Time { return now }}
	code, _ := Issue(ctx, st, &Grant{ClientID: "a"}, now)
	if _, err := Redeem(ctx, st, code, now.Add(CodeTTL), time.Hour); !errors.Is(err, ErrUnknownCode) {
		t.Fatalf("a code at 60 s: %v, want ErrUnknownCode", err)
	}
}

func TestDiscoveryNamesTheEndpointsUnderTheIssuer(t *testing.T) {
	var d map[string]any
	if err := json.Unmarshal(Discovery("https://auth.example.com/_plexauth"), &d); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"issuer":                 "https://auth.example.com/_plexauth",
		"authorization_endpoint": "https://auth.example.com/_plexauth/authorize",
		"token_endpoint":         "https://auth.example.com/_plexauth/token",
		"userinfo_endpoint":      "https://auth.example.com/_plexauth/userinfo",
		"jwks_uri":               "https://auth.example.com/_plexauth/jwks",
		"end_session_endpoint":   "https://auth.example.com/_plexauth/end_session",
	} {
		if d[k] != want {
			t.Errorf("%s = %v, want %s", k, d[k], want)
		}
	}
}

func TestBearerToken(t *testing.T) {
	cases := []struct {
		auth string
		form url.Values
		tok  string
		ok   bool
	}{
		{"Bearer abc", nil, "abc", true},
		{"bearer abc", nil, "abc", true},
		{"", url.Values{"access_token": {"abc"}}, "abc", true},
		{"Bearer abc", url.Values{"access_token": {"abc"}}, "", false},
		{"", url.Values{"access_token": {"a", "b"}}, "", false},
		{"Basic abc", nil, "", false},
		{"Bearer ", nil, "", false},
		{"", nil, "", false},
	}
	for _, c := range cases {
		tok, ok := BearerToken(c.auth, c.form)
		if tok != c.tok || ok != c.ok {
			t.Errorf("BearerToken(%q, %v) = %q %v", c.auth, c.form, tok, ok)
		}
	}
}

// FuzzParseTokenRequest: whatever the header and body, the parser answers
// a request or an error with a 400 or 401, never panics, and never says a
// client authenticated with a method it did not use.
func FuzzParseTokenRequest(f *testing.F) {
	f.Add("", "grant_type=authorization_code&code=x&client_id=a")
	f.Add("Basic YTpi", "grant_type=authorization_code&code=x")
	f.Add("Basic JTpi", "grant_type=authorization_code")
	f.Add("Basic Og==", "client_id=a&client_id=a")
	f.Add("Bearer x", "client_secret=s")
	f.Add("", "grant_type=%zz&code_verifier="+strings.Repeat("a", 5000))
	r, _ := NewRegistry([]Client{{ID: "a", Secret: "b", RedirectURIs: []string{"https://a/cb"}}, {ID: "p", Public: true, RedirectURIs: []string{"x:/cb"}}})
	f.Fuzz(func(t *testing.T, auth, body string) {
		form, err := url.ParseQuery(body)
		if err != nil {
			return // the endpoint answers 400 before the parser
		}
		tr, e := ParseTokenRequest(auth, form)
		if e != nil {
			if e.Status != 400 && e.Status != 401 {
				t.Fatalf("status %d", e.Status)
			}
			if e.Code != "invalid_request" && e.Code != "invalid_client" {
				t.Fatalf("code %q", e.Code)
			}
			return
		}
		if tr.ClientID == "" || tr.GrantType == "" {
			t.Fatalf("accepted without client or grant type: %+v", tr)
		}
		if (tr.AuthMethod == AuthBasic) != (auth != "") {
			t.Fatalf("method %s with Authorization %q", tr.AuthMethod, auth)
		}
		c, e := r.Authenticate(tr)
		if e == nil && c.ID == "a" && tr.ClientSecret != "b" {
			t.Fatalf("client a authenticated with secret %q", tr.ClientSecret)
		}
		if e != nil && e.Status != 401 {
			t.Fatalf("Authenticate status %d", e.Status)
		}
	})
}

// FuzzParseAuthRequest: whatever the query, the parser never panics, and
// whatever it accepts has a registered client and redirect URI; a refusal
// it would redirect names a registered redirect URI.
func FuzzParseAuthRequest(f *testing.F) {
	f.Add("client_id=immich&redirect_uri=app.immich%3A%2F%2F%2Foauth-callback&response_type=code&scope=openid&code_challenge=" + S256(strings.Repeat("v", 43)) + "&code_challenge_method=S256")
	f.Add("client_id=grafana&redirect_uri=https%3A%2F%2Fgrafana.example.com%2Flogin%2Fgeneric_oauth&response_type=token&scope=openid&state=a&state=b")
	f.Add("client_id=grafana&client_id=immich&redirect_uri=x")
	r, _ := NewRegistry([]Client{
		{ID: "grafana", Secret: "s", RedirectURIs: []string{"https://grafana.example.com/login/generic_oauth"}},
		{ID: "immich", Public: true, RedirectURIs: []string{"app.immich:///oauth-callback"}},
	})
	f.Fuzz(func(t *testing.T, query string) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		ar, e := ParseAuthRequest(r, q)
		if e == nil {
			if ar.Client == nil || !ar.Client.RedirectAllowed(ar.RedirectURI) {
				t.Fatalf("accepted %+v", ar)
			}
			if ar.Client.Public && ar.CodeChallenge == "" {
				t.Fatal("a public client without PKCE")
			}
			return
		}
		if e.Redirect {
			c := r.Lookup(first(q, "client_id"))
			if c == nil || !c.RedirectAllowed(first(q, "redirect_uri")) {
				t.Fatalf("would redirect %v to an unregistered URI", q)
			}
		}
	})
}
