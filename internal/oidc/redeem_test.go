package oidc

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// A code redeems only for its client and redirect URI, with the verifier
// of its challenge; every other request gets the error RFC 6749 §5.2 names.
func TestGrantCheckRefusesEveryMismatch(t *testing.T) {
	verifier := strings.Repeat("v", 43)
	withPKCE := &Grant{ClientID: "grafana", RedirectURI: "https://g.example/cb", CodeChallenge: S256(verifier)}
	plain := &Grant{ClientID: "grafana", RedirectURI: "https://g.example/cb"}
	for _, c := range []struct {
		name         string
		g            *Grant
		client       string
		tr           TokenRequest
		code, reason string
	}{
		{"all matches", withPKCE, "grafana", TokenRequest{RedirectURI: "https://g.example/cb", CodeVerifier: verifier}, "", ""},
		{"no PKCE, no verifier", plain, "grafana", TokenRequest{RedirectURI: "https://g.example/cb"}, "", ""},
		{"another client", withPKCE, "other", TokenRequest{RedirectURI: "https://g.example/cb", CodeVerifier: verifier}, "invalid_grant", "wrong_client"},
		{"another redirect URI", withPKCE, "grafana", TokenRequest{RedirectURI: "https://g.example/cb2", CodeVerifier: verifier}, "invalid_grant", "wrong_redirect_uri"},
		{"verifier missing", withPKCE, "grafana", TokenRequest{RedirectURI: "https://g.example/cb"}, "invalid_request", "pkce_missing"},
		{"wrong verifier", withPKCE, "grafana", TokenRequest{RedirectURI: "https://g.example/cb", CodeVerifier: strings.Repeat("w", 43)}, "invalid_grant", "pkce_mismatch"},
		{"verifier without a challenge", plain, "grafana", TokenRequest{RedirectURI: "https://g.example/cb", CodeVerifier: verifier}, "invalid_grant", "pkce_unexpected"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, reason := c.g.Check(c.client, &c.tr)
			switch {
			case c.code == "" && e != nil:
				t.Fatalf("refused: %v (%s)", e, reason)
			case c.code != "" && (e == nil || e.Code != c.code || e.Status != 400 || reason != c.reason):
				t.Fatalf("got %v, %q; want %s, %q", e, reason, c.code, c.reason)
			}
		})
	}
}

// The tokens issued verify under the set, say who and for whom, expire
// together, and the ID token's at_hash is the access token's.
func TestIssueTokensSignsBothForTheClient(t *testing.T) {
	now := time.Now()
	ks, err := NewKeySet(now)
	if err != nil {
		t.Fatal(err)
	}
	g := &Grant{Issuer: "https://site.example/_plexauth", Nonce: "n-1", Scope: "openid email", AuthTime: now.Add(-time.Minute).Unix(),
		Identity: Identity{Subject: "uuid-1", PreferredUsername: "alice"}}
	at, idt, err := ks.IssueTokens(g, "grafana", "the-code", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ac, err := ks.VerifyAccessToken(at, now)
	if err != nil || ac.ClientID != "grafana" || ac.Audience != "grafana" || ac.ID != GrantID("the-code") || ac.Subject != "uuid-1" ||
		ac.Expires != now.Add(time.Hour).Unix() || ac.Scope != "openid email" || ac.Issuer != g.Issuer {
		t.Fatalf("access token claims %+v, %v", ac, err)
	}
	raw, err := ks.Verify(idt, TypeIDToken, now)
	if err != nil {
		t.Fatal(err)
	}
	var ic IDClaims
	if err := json.Unmarshal(raw, &ic); err != nil || ic.Audience != "grafana" || ic.Nonce != "n-1" || ic.AuthTime != g.AuthTime ||
		ic.AccessTokenHash != AccessTokenHash(at) || ic.Expires != ac.Expires || ic.PreferredUsername != "alice" {
		t.Fatalf("ID token claims %+v, %v", ic, err)
	}
	var body map[string]any
	if err := json.Unmarshal(TokenResponse(at, idt, g.Scope, time.Hour), &body); err != nil || body["access_token"] != at ||
		body["id_token"] != idt || body["token_type"] != "Bearer" || body["expires_in"] != float64(3600) || body["scope"] != g.Scope {
		t.Fatalf("token response %v, %v", body, err)
	}
}
