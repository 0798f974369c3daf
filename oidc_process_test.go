package plexauth

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// TestProcessOIDCCodeIssuedOnOneInstanceIsRedeemedOnAnother: two Caddy
// processes share Redis (sessions and codes) and a storage (the signing
// key, as instances behind one load balancer share it for certificates).
// A code issued on A is redeemed on B; the tokens verify against A's
// discovery and JWKS and work at B's userinfo; a replay on A revokes them
// on B; Redis holds no code, token or account data in clear.
func TestProcessOIDCCodeIssuedOnOneInstanceIsRedeemedOnAnother(t *testing.T) {
	addr := startRedis(t)
	plex := procPlex(t)
	storage := t.TempDir()
	const secret = "process-oidc-secret-0123"
	const redirect = "https://grafana.example.test/login/generic_oauth"
	cfg := func(admin, port int) string {
		return procConfig(admin, port, storage, plexBlock(plex,
			"\t\tstore redis redis://"+addr+"/0\n\t\tsecret this-is-a-shared-test-secret\n"+
				"\t\toidc_client grafana {\n\t\t\tsecret "+secret+"\n\t\t\tredirect_uri "+redirect+"\n\t\t}"))
	}
	pa, pb := freePort(t), freePort(t)
	startCaddy(t, pa, func(admin int) string { return cfg(admin, pa) })
	startCaddy(t, pb, func(admin int) string { return cfg(admin, pb) })
	a, b := fmt.Sprintf("http://127.0.0.1:%d", pa), fmt.Sprintf("http://127.0.0.1:%d", pb)

	ctx := context.Background()
	provider, err := gooidc.NewProvider(ctx, a+"/_plexauth")
	if err != nil {
		t.Fatal(err)
	}
	conf := oauth2.Config{ClientID: "grafana", ClientSecret: secret, RedirectURL: redirect, Scopes: []string{"openid"},
		Endpoint: oauth2.Endpoint{AuthURL: a + "/_plexauth/authorize", TokenURL: b + "/_plexauth/token"}}

	br := newBrowser(t)
	procSignIn(t, br, plex, a, "owner")
	verifier := oauth2.GenerateVerifier()
	resp, _ := br.get(conf.AuthCodeURL("st", gooidc.Nonce("n-1"), oauth2.S256ChallengeOption(verifier)))
	code := codeFrom(t, resp, redirect, "st", a+"/_plexauth")

	tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("redeeming on B a code issued on A: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := provider.Verifier(&gooidc.Config{ClientID: "grafana"}).Verify(ctx, raw)
	if err != nil || idt.Nonce != "n-1" || idt.Subject != plex.Account("owner").UUID {
		t.Fatalf("ID token from B against A's keys: %v %+v", err, idt)
	}
	userinfo := func(base string) int {
		req, _ := http.NewRequest(http.MethodGet, base+"/_plexauth/userinfo", nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := userinfo(b); got != 200 {
		t.Fatalf("userinfo on B: %d", got)
	}

	var codeKeys int
	for _, e := range redisDump(t, addr) {
		if strings.HasPrefix(e, "plex_auth:oidc_code:") {
			codeKeys++
		}
		for _, s := range []string{code, tok.AccessToken, raw, plex.Account("owner").Email, plex.Account("owner").Token} {
			if strings.Contains(e, s) {
				t.Fatalf("Redis holds a code, a token or account data in clear: %.120q", e)
			}
		}
	}
	if codeKeys == 0 {
		t.Fatal("no code in Redis: the check above could not fail")
	}

	// The replay goes to A; B refuses the tokens.
	conf.Endpoint.TokenURL = a + "/_plexauth/token"
	if _, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier)); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("replay on A: %v, want invalid_grant", err)
	}
	if got := userinfo(b); got != 401 {
		t.Fatalf("userinfo on B after the replay on A: %d, want 401", got)
	}
}
