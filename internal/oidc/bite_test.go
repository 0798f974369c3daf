package oidc

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"math/big"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Tests written for the survivors of scripts/mutants.sh over this package
// (issue 19): each holds a rule the tests before them did not.

// A code is 32 random bytes (RFC 6749 §10.10: the probability of guessing
// one must be negligible): two are never the same, and neither is the
// encoding of 32 zero bytes.
func TestNewCodeIsRandom(t *testing.T) {
	a, b := NewCode(), NewCode()
	if len(a) != 43 || a == b || a == b64(make([]byte, 32)) {
		t.Fatalf("NewCode gave %q then %q", a, b)
	}
}

// failingCodes is a CodeStore in memory whose operations fail on demand.
type failingCodes struct {
	MemoryCodes
	failSwap, failPut bool
}

var errStoreDown = errors.New("store down")

func (f *failingCodes) PutCode(ctx context.Context, key string, val []byte, expires time.Time) error {
	if f.failPut {
		return errStoreDown
	}
	return f.MemoryCodes.PutCode(ctx, key, val, expires)
}

func (f *failingCodes) SwapCode(ctx context.Context, key string, val []byte, expires time.Time) ([]byte, error) {
	if f.failSwap {
		return nil, errStoreDown
	}
	return f.MemoryCodes.SwapCode(ctx, key, val, expires)
}

// A store that fails is the store's error (the token endpoint answers 503
// temporarily_unavailable), never "unknown code" (400, a client told to
// give up) nor a replay it could not record as revoked.
func TestRedeemPassesOnTheStoresFailure(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	st := &failingCodes{MemoryCodes: MemoryCodes{clock: func() time.Time { return now }}}
	code, err := Issue(ctx, st, &Grant{ClientID: "a", RedirectURI: "https://a/cb"}, now)
	if err != nil {
		t.Fatal(err)
	}
	st.failSwap = true
	if _, err := Redeem(ctx, st, code, now, time.Hour); !errors.Is(err, errStoreDown) {
		t.Fatalf("the swap failed: %v, want the store's error", err)
	}
	st.failSwap = false
	if g, err := Redeem(ctx, st, code, now, time.Hour); err != nil || g.ClientID != "a" {
		t.Fatalf("first redemption once the store answers: %+v, %v", g, err)
	}
	// The replay's revocation cannot be written: the store's error, so
	// the caller does not report a revocation that did not happen.
	st.failPut = true
	if _, err := Redeem(ctx, st, code, now, time.Hour); !errors.Is(err, errStoreDown) {
		t.Fatalf("the revocation could not be written: %v, want the store's error", err)
	}
	if _, err := Issue(ctx, st, &Grant{ClientID: "a"}, now); !errors.Is(err, errStoreDown) {
		t.Fatalf("Issue with a failing store: %v", err)
	}
}

// Whatever the store holds under a code's key that is not that code's
// sealed grant (a record of another code, garbage, a truncated value) is
// an unknown code, never a grant nor a panic.
func TestRedeemRefusesWhatIsNotTheCodesGrant(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	st := &MemoryCodes{clock: func() time.Time { return now }}
	other, err := Issue(ctx, st, &Grant{ClientID: "a"}, now)
	if err != nil {
		t.Fatal(err)
	}
	sealedForOther, _ := st.PeekCode(ctx, GrantID(other))
	code := NewCode()
	for name, v := range map[string][]byte{
		"another code's grant": sealedForOther,
		"garbage":              bytes.Repeat([]byte{7}, 64),
		"truncated":            sealedForOther[:20],
		"eight bytes":          sealedForOther[:8],
	} {
		if err := st.PutCode(ctx, GrantID(code), v, now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if g, err := Redeem(ctx, st, code, now, time.Hour); !errors.Is(err, ErrUnknownCode) || g != nil {
			t.Errorf("%s: %+v, %v; want ErrUnknownCode", name, g, err)
		}
	}
}

// A code_verifier is 43 to 128 unreserved characters (RFC 7636 §4.1)
// even when the challenge is its S256: a client that made its challenge
// from a shorter, longer or ill-formed verifier is refused.
func TestVerifyPKCEHoldsTheVerifiersForm(t *testing.T) {
	for _, c := range []struct {
		verifier string
		ok       bool
	}{
		{strings.Repeat("a", 42), false},
		{strings.Repeat("a", 43), true},
		{strings.Repeat("Z", 128), true},
		{strings.Repeat("a", 129), false},
		{"AZaz09-._~" + strings.Repeat("m", 33), true},
		{strings.Repeat("a", 42) + "!", false},
		{strings.Repeat("a", 42) + " ", false},
		{strings.Repeat("a", 42) + "+", false},
		{strings.Repeat("a", 42) + "/", false},
		{strings.Repeat("a", 42) + "=", false},
		{"é" + strings.Repeat("a", 42), false},
	} {
		if got := VerifyPKCE(S256(c.verifier), c.verifier); got != c.ok {
			t.Errorf("VerifyPKCE(S256(%q), itself) = %v, want %v", c.verifier, got, c.ok)
		}
	}
}

// Every byte is tried against the alphabets of RFC 7636: a verifier is
// unreserved characters (§4.1), an S256 challenge is base64url without
// padding (§4.2), 43 of them.
func TestPKCEAlphabetsByteForByte(t *testing.T) {
	const b64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := 0; i < 256; i++ {
		c := byte(i)
		if got, want := unreserved(c), strings.IndexByte(b64url+".~", c) >= 0; got != want {
			t.Errorf("unreserved(%q) = %v, want %v", c, got, want)
		}
		s := strings.Repeat("A", 21) + string([]byte{c}) + strings.Repeat("A", 21)
		if got, want := validChallenge(s), strings.IndexByte(b64url, c) >= 0; got != want {
			t.Errorf("validChallenge with %q = %v, want %v", c, got, want)
		}
	}
	for _, s := range []string{"", strings.Repeat("A", 42), strings.Repeat("A", 44)} {
		if validChallenge(s) {
			t.Errorf("validChallenge accepted %d characters", len(s))
		}
	}
	if !validChallenge(S256("any verifier")) {
		t.Error("validChallenge refused an S256 challenge")
	}
}

// MemoryCodes keeps a value until its expiry and not an instant longer:
// an expired code cannot be swapped (redeemed) nor peeked, a swap of a
// key that holds nothing writes nothing, a value given an expiry already
// past is not kept, and expired entries are dropped as it goes (every 64
// writes), so codes nobody redeems do not pile up.
func TestMemoryCodesForgetsAtExpiry(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	m := &MemoryCodes{clock: func() time.Time { return now }}
	put := func(key, val string, ttl time.Duration) {
		t.Helper()
		if err := m.PutCode(ctx, key, []byte(val), now.Add(ttl)); err != nil {
			t.Fatal(err)
		}
	}
	peek := func(key string) string {
		t.Helper()
		b, err := m.PeekCode(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	put("short", "s", time.Second)
	put("long", "l", time.Hour)
	put("past", "p", -time.Second)
	if peek("short") != "s" || peek("long") != "l" || peek("past") != "" {
		t.Fatalf("before expiry: %q %q %q", peek("short"), peek("long"), peek("past"))
	}
	if old, _ := m.SwapCode(ctx, "none", []byte("x"), now.Add(time.Hour)); old != nil || peek("none") != "" {
		t.Fatalf("a swap of nothing answered %q and wrote %q", old, peek("none"))
	}
	now = now.Add(time.Second)
	if peek("short") != "" {
		t.Fatal("peeked at its expiry")
	}
	if old, _ := m.SwapCode(ctx, "short", []byte("used"), now.Add(time.Hour)); old != nil || peek("short") != "" {
		t.Fatalf("swapped at its expiry: answered %q, wrote %q", old, peek("short"))
	}
	if old, _ := m.SwapCode(ctx, "long", []byte("used"), now.Add(time.Hour)); string(old) != "l" || peek("long") != "used" {
		t.Fatalf("a live swap answered %q and left %q", old, peek("long"))
	}
	for i := 0; i < 64; i++ {
		put("long", "again", time.Hour)
	}
	if _, ok := m.m["short"]; ok || len(m.m) != 1 {
		t.Fatalf("after 64 writes the expired entries are still held: %d entries", len(m.m))
	}
}

// The authorization request's rules case by case (Core §3.1.2.1, RFC 6749
// §3.1 and §4.1.2.1, RFC 7636 §4.3): what is refused, whether the refusal
// may go to the redirect URI, and what is accepted.
func TestAuthRequestRulesOneByOne(t *testing.T) {
	r := testRegistry(t)
	ch := S256(strings.Repeat("v", 43))
	const grafanaCB = "https://grafana.example.com/login/generic_oauth"
	public := func(kv ...string) url.Values {
		q := url.Values{"client_id": {"immich"}, "redirect_uri": {"app.immich:///oauth-callback"}, "response_type": {"code"},
			"scope": {"openid"}, "code_challenge": {ch}, "code_challenge_method": {"S256"}, "state": {"st"}}
		for i := 0; i+1 < len(kv); i += 2 {
			q[kv[i]] = strings.Split(kv[i+1], "|")
			if kv[i+1] == "" {
				delete(q, kv[i])
			}
		}
		return q
	}
	confidential := func(kv ...string) url.Values {
		q := public("client_id", "grafana", "redirect_uri", grafanaCB, "code_challenge", "", "code_challenge_method", "")
		for i := 0; i+1 < len(kv); i += 2 {
			q[kv[i]] = strings.Split(kv[i+1], "|")
			if kv[i+1] == "" {
				delete(q, kv[i])
			}
		}
		return q
	}
	long := strings.Repeat("s", maxParam)
	for _, c := range []struct {
		name     string
		q        url.Values
		code     string // "": accepted
		redirect bool
	}{
		{"confidential without PKCE", confidential(), "", false},
		{"confidential with PKCE", confidential("code_challenge", ch, "code_challenge_method", "S256"), "", false},
		{"method without challenge", confidential("code_challenge_method", "S256"), "invalid_request", true},
		{"challenge without method", confidential("code_challenge", ch), "invalid_request", true},
		{"empty challenge", confidential("code_challenge", "", "code_challenge_method", ""), "", false},
		{"response_mode query", public("response_mode", "query"), "", false},
		{"response_mode form_post", public("response_mode", "form_post"), "invalid_request", true},
		{"request_uri", public("request_uri", "https://x/r"), "request_uri_not_supported", true},
		{"prompt none", public("prompt", "none"), "", false},
		{"prompt login", public("prompt", "login"), "", false},
		{"prompt consent", public("prompt", "consent"), "", false},
		{"prompt select_account", public("prompt", "select_account"), "", false},
		{"prompt login consent select_account", public("prompt", "login consent select_account"), "", false},
		{"prompt unknown", public("prompt", "bogus"), "invalid_request", true},
		{"prompt login and unknown", public("prompt", "login bogus"), "invalid_request", true},
		{"prompt consent none", public("prompt", "consent none"), "invalid_request", true},
		{"state at the bound", public("state", long), "", false},
		{"state over the bound", public("state", long+"s"), "invalid_request", true},
		{"redirect_uri over the bound", public("redirect_uri", long+"s"), "invalid_request", false},
		{"state twice", public("state", "a|b"), "invalid_request", true},
		{"state twice, no client", public("state", "a|b", "client_id", ""), "invalid_request", false},
		{"state twice, unknown client", public("state", "a|b", "client_id", "nobody"), "invalid_request", false},
		{"state twice, unregistered redirect", public("state", "a|b", "redirect_uri", "https://evil.test/cb"), "invalid_request", false},
		{"state twice, no redirect", public("state", "a|b", "redirect_uri", ""), "invalid_request", false},
		{"client_id twice, the same", public("client_id", "immich|immich"), "invalid_request", false},
		{"redirect_uri twice, the same", public("redirect_uri", "app.immich:///oauth-callback|app.immich:///oauth-callback"), "invalid_request", false},
	} {
		ar, e := ParseAuthRequest(r, c.q)
		switch {
		case c.code == "" && e != nil:
			t.Errorf("%s: refused %v", c.name, e)
		case c.code != "" && (e == nil || e.Code != c.code || e.Redirect != c.redirect):
			t.Errorf("%s: %+v, want %s redirect=%v", c.name, e, c.code, c.redirect)
		case c.code == "" && (ar.RedirectURI != first(c.q, "redirect_uri") || ar.State != first(c.q, "state") ||
			ar.Prompt != first(c.q, "prompt") || ar.CodeChallenge != first(c.q, "code_challenge")):
			t.Errorf("%s: parsed %+v", c.name, ar)
		}
	}
}

// The redirects that carry an answer to the client: error_description when
// there is one, state only when the client sent one, the redirect URI's
// own query kept (RFC 6749 §4.1.2.1, §3.1.2).
func TestRedirectsCarryDescriptionAndState(t *testing.T) {
	q := url.Values{"redirect_uri": {"https://c.example/cb"}, "response_type": {"token"}}
	if got := ErrorRedirectFor(q, &AuthError{Code: "unsupported_response_type", Description: "only code"}, "https://i"); got !=
		"https://c.example/cb?error=unsupported_response_type&error_description=only+code&iss=https%3A%2F%2Fi" {
		t.Errorf("ErrorRedirectFor without state = %q", got)
	}
	q.Set("state", "s 1")
	if got := ErrorRedirectFor(q, &AuthError{Code: "access_denied"}, "https://i"); got !=
		"https://c.example/cb?error=access_denied&iss=https%3A%2F%2Fi&state=s+1" {
		t.Errorf("ErrorRedirectFor with state = %q", got)
	}
	if got := (&AuthRequest{RedirectURI: "https://c.example/cb"}).CodeRedirect("C", "https://i"); got != "https://c.example/cb?code=C&iss=https%3A%2F%2Fi" {
		t.Errorf("CodeRedirect without state = %q", got)
	}
	for _, c := range [][3]string{
		{"https://c.example/bye", "", "https://c.example/bye"},
		{"https://c.example/bye?x=1", "", "https://c.example/bye?x=1"},
		{"https://c.example/bye", "s/1", "https://c.example/bye?state=s%2F1"},
		{"https://c.example/bye?x=1", "s", "https://c.example/bye?x=1&state=s"},
	} {
		if got := WithState(c[0], c[1]); got != c[2] {
			t.Errorf("WithState(%q, %q) = %q, want %q", c[0], c[1], got, c[2])
		}
	}
	if first(url.Values{}, "state") != "" || first(url.Values{"state": {}}, "state") != "" {
		t.Error("first of a missing parameter is not empty")
	}
}

// The token request's client credentials, case by case (RFC 6749 §2.3.1,
// §5.2): an Authorization header that is not Basic with a client id and a
// form-urlencoded secret is invalid_client with Basic set (the endpoint
// then answers WWW-Authenticate: Basic); the id may be repeated in the
// body, never contradicted; every parameter is bounded.
func TestTokenRequestCredentialsOneByOne(t *testing.T) {
	enc := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	form := func(kv ...string) url.Values {
		f := url.Values{"grant_type": {"authorization_code"}}
		for i := 0; i+1 < len(kv); i += 2 {
			f.Set(kv[i], kv[i+1])
		}
		return f
	}
	atBound := "grafana:" + strings.Repeat("s", 2*maxParam/4*3-len("grafana:"))
	for _, c := range []struct {
		name, auth string
		form       url.Values
		id, secret string // accepted with these
		method     string
		code       string // refused with this
		basic      bool
	}{
		{"basic", "Basic " + enc("grafana:s3cret"), form(), "grafana", "s3cret", AuthBasic, "", false},
		{"basic, lower-case scheme", "basic " + enc("grafana:s3cret"), form(), "grafana", "s3cret", AuthBasic, "", false},
		{"basic, form-urlencoded", "Basic " + enc("graf%61na:s3c+ret%3A"), form(), "grafana", "s3c ret:", AuthBasic, "", false},
		{"basic and the same client_id", "Basic " + enc("grafana:s3cret"), form("client_id", "grafana"), "grafana", "s3cret", AuthBasic, "", false},
		{"basic and another client_id", "Basic " + enc("grafana:s3cret"), form("client_id", "immich"), "", "", "", "invalid_request", false},
		{"basic and client_secret", "Basic " + enc("grafana:s3cret"), form("client_secret", "s3cret"), "", "", "", "invalid_request", false},
		{"basic with a public client's empty secret", "Basic " + enc("immich:"), form(), "immich", "", AuthBasic, "", false},
		{"another scheme", "Digest " + enc("grafana:s3cret"), form(), "", "", "", "invalid_client", true},
		{"no space", "Basic" + enc("grafana:s3cret"), form(), "", "", "", "invalid_client", true},
		{"scheme alone", "Basic", form(), "", "", "", "invalid_client", true},
		{"not base64", "Basic !!!", form(), "", "", "", "invalid_client", true},
		{"base64 then garbage", "Basic " + enc("immich:") + "!!", form(), "", "", "", "invalid_client", true},
		{"no colon", "Basic " + enc("immich"), form(), "", "", "", "invalid_client", true},
		{"empty id", "Basic " + enc(":s3cret"), form(), "", "", "", "invalid_client", true},
		{"id not urlencoded", "Basic " + enc("%zz:s3cret"), form(), "", "", "", "invalid_client", true},
		{"secret not urlencoded", "Basic " + enc("immich:%zz"), form(), "", "", "", "invalid_client", true},
		{"credentials at the bound", "Basic " + enc(atBound), form(), "grafana", atBound[len("grafana:"):], AuthBasic, "", false},
		{"credentials over the bound", "Basic " + enc(atBound+"sss"), form(), "", "", "", "invalid_client", true},
		{"post", "", form("client_id", "grafana", "client_secret", "s3cret"), "grafana", "s3cret", AuthPost, "", false},
		{"public", "", form("client_id", "immich"), "immich", "", AuthNone, "", false},
		{"no client", "", form(), "", "", "", "invalid_client", false},
		{"code at the bound", "", form("client_id", "immich", "code", strings.Repeat("c", maxParam)), "immich", "", AuthNone, "", false},
		{"code over the bound", "", form("client_id", "immich", "code", strings.Repeat("c", maxParam+1)), "", "", "", "invalid_request", false},
	} {
		tr, e := ParseTokenRequest(c.auth, c.form)
		switch {
		case c.code == "" && e != nil:
			t.Errorf("%s: refused %+v", c.name, e)
		case c.code == "" && (tr.ClientID != c.id || tr.ClientSecret != c.secret || tr.AuthMethod != c.method):
			t.Errorf("%s: %+v", c.name, tr)
		case c.code != "" && (e == nil || e.Code != c.code || e.Basic != c.basic || (c.code == "invalid_client") != (e.Status == 401)):
			t.Errorf("%s: %+v, want %s, Basic %v", c.name, e, c.code, c.basic)
		}
	}
}

// A userinfo request's token (RFC 6750 §2.1, §2.2): the spaces around it
// do not count, and an empty one is none.
func TestBearerTokenTrimsAndRefusesEmpty(t *testing.T) {
	if tok, ok := BearerToken("Bearer  abc ", nil); tok != "abc" || !ok {
		t.Errorf("spaced Bearer: %q %v", tok, ok)
	}
	if tok, ok := BearerToken("Bearer   ", nil); ok {
		t.Errorf("Bearer of spaces: %q accepted", tok)
	}
	if tok, ok := BearerToken("", url.Values{"access_token": {""}}); ok {
		t.Errorf("empty access_token: %q accepted", tok)
	}
}

// The registry's rules on a client (RFC 6749 §2.2, §3.1.2): an id is
// required, a redirect URI is absolute, without a fragment, an http(s) one
// names a host, none holds a space; post-logout URIs default to the
// redirect URIs, else only they are allowed; a secret matches only a
// confidential client's own.
func TestClientRulesOneByOne(t *testing.T) {
	for _, u := range []string{"https://a/cb#", "http:///cb", "https:///cb", "https://a/c b", "app.x:/c b", "https://a/%zz", "https://a/c\x7f", "https://a/c\tb", ""} {
		if CheckRedirectURI(u) == nil {
			t.Errorf("CheckRedirectURI(%q) accepted it", u)
		}
	}
	for _, u := range []string{"https://a/cb", "http://127.0.0.1:8080/cb", "app.immich:///oauth-callback", "https://a/cb?x=1&y=%20"} {
		if err := CheckRedirectURI(u); err != nil {
			t.Errorf("CheckRedirectURI(%q): %v", u, err)
		}
	}
	if _, err := NewRegistry([]Client{{ID: "", Secret: "x", RedirectURIs: []string{"https://a/cb"}}}); err == nil {
		t.Error("a client without id was registered")
	}
	if _, err := NewRegistry([]Client{{ID: "a", Secret: "x", RedirectURIs: []string{"https://a/cb"}, PostLogoutRedirectURIs: []string{"https://a/bye#x"}}}); err == nil {
		t.Error("a post-logout URI with a fragment was registered")
	}
	r, err := NewRegistry([]Client{
		{ID: "plain", Secret: "x", RedirectURIs: []string{"https://a/cb"}},
		{ID: "apart", Secret: "y", RedirectURIs: []string{"https://b/cb"}, PostLogoutRedirectURIs: []string{"https://b/bye"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if p := r.Lookup("plain"); !p.PostLogoutAllowed("https://a/cb") || p.PostLogoutAllowed("https://a/bye") {
		t.Error("without post-logout URIs, the redirect URIs are not the ones allowed")
	}
	if a := r.Lookup("apart"); !a.PostLogoutAllowed("https://b/bye") || a.PostLogoutAllowed("https://b/cb") {
		t.Error("with post-logout URIs, others than they are allowed")
	}
	if (*Registry)(nil).Lookup("plain") != nil || r.Lookup("nobody") != nil {
		t.Error("Lookup found a client that is not there")
	}
	for _, c := range []struct {
		c      Client
		secret string
		ok     bool
	}{
		{Client{Secret: "x"}, "x", true},
		{Client{Secret: "x"}, "y", false},
		{Client{Secret: "x"}, "", false},
		{Client{}, "", false},
		{Client{Public: true}, "", false},
		{Client{Public: true, Secret: "x"}, "x", false},
	} {
		if got := c.c.SecretMatches(c.secret); got != c.ok {
			t.Errorf("%+v.SecretMatches(%q) = %v", c.c, c.secret, got)
		}
	}
}

// A failed client authentication carries Basic exactly when the client
// tried HTTP Basic, so the endpoint's 401 names that scheme (RFC 6749
// §5.2) and no other answer does.
func TestAuthenticateFailureSaysWhetherBasicWasTried(t *testing.T) {
	r := testRegistry(t)
	for _, c := range []struct {
		tr    TokenRequest
		basic bool
	}{
		{TokenRequest{ClientID: "grafana", ClientSecret: "nope", AuthMethod: AuthBasic}, true},
		{TokenRequest{ClientID: "nobody", ClientSecret: "nope", AuthMethod: AuthBasic}, true},
		{TokenRequest{ClientID: "grafana", ClientSecret: "nope", AuthMethod: AuthPost}, false},
		{TokenRequest{ClientID: "grafana", AuthMethod: AuthNone}, false},
		{TokenRequest{ClientID: "immich", ClientSecret: "x", AuthMethod: AuthPost}, false},
	} {
		if _, e := r.Authenticate(&c.tr); e == nil || e.Status != 401 || e.Code != "invalid_client" || e.Basic != c.basic {
			t.Errorf("%+v: %+v, want 401 invalid_client Basic=%v", c.tr, e, c.basic)
		}
	}
}

// signText signs text as a JWS signing input with ks's current key, as Sign
// does, whatever text is: the forms no genuine token has, but a key holder
// (or a bug in Sign) could make.
func signText(t *testing.T, ks *KeySet, text string) string {
	t.Helper()
	sum := sha256.Sum256([]byte(text))
	sig, err := rsa.SignPKCS1v15(rand.Reader, ks.Current.priv, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return text + "." + b64(sig)
}

// Verify accepts only a compact JWS (RFC 7515 §7.1): three base64url
// parts, bounded. Even with a signature that verifies, a part that is not
// base64url, or a token over the bound, is malformed.
func TestVerifyRefusesWhatIsNoCompactJWSEvenSigned(t *testing.T) {
	ks := testKeys()
	now := time.Now()
	hdr := b64([]byte(`{"alg":"RS256","kid":"` + ks.Current.ID + `","typ":"at+jwt"}`))
	payload := b64([]byte(`{"sub":"s","jti":"g","exp":` + strconv.FormatInt(now.Add(time.Hour).Unix(), 10) + `}`))
	good := signText(t, ks, hdr+"."+payload)
	if _, err := ks.VerifyAccessToken(good, now); err != nil {
		t.Fatalf("the well-formed token: %v", err)
	}
	parts := strings.Split(good, ".")
	// A header of whole base64 quanta decodes entirely before the stray
	// character: only the decoder's error tells it is no base64url.
	whole := `{"alg":"RS256","kid":"` + ks.Current.ID + `","typ":"at+jwt"}`
	for len(whole)%3 != 0 {
		whole += " "
	}
	for name, tok := range map[string]string{
		"header not base64url":                     signText(t, ks, hdr+"!."+payload),
		"header, whole quanta, then not base64url": signText(t, ks, b64([]byte(whole))+"!."+payload),
		"payload not base64url":                    signText(t, ks, hdr+"."+payload+"!"),
		"payload padded":                           signText(t, ks, hdr+"."+b64([]byte(`{"sub":"s","jti":"g"}`))+"=="),
		"signature not base64url":                  parts[0] + "." + parts[1] + "." + parts[2] + "!",
		"signature with a dot":                     parts[0] + "." + parts[1] + "." + parts[2][:10] + "." + parts[2][10:],
	} {
		if _, err := ks.Verify(tok, TypeAccessToken, now); !errors.Is(err, ErrMalformedToken) {
			t.Errorf("%s: %v, want ErrMalformedToken", name, err)
		}
	}
	// A genuine token over the bound is refused unread; one at the bound
	// is read.
	pad := func(n int) string {
		tok, err := ks.Sign(TypeAccessToken, AccessClaims{ID: "g", Expires: now.Add(time.Hour).Unix(), Identity: Identity{Subject: "s", Name: strings.Repeat("n", n)}})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	over := pad(maxTokenLen)
	if _, err := ks.Verify(over, TypeAccessToken, now); !errors.Is(err, ErrMalformedToken) {
		t.Errorf("a signed token of %d bytes: %v, want ErrMalformedToken", len(over), err)
	}
	// The payload grows by 4 characters for 3 bytes of name: search near
	// the bound for the longest token that fits.
	var at string
	for n := (maxTokenLen-len(pad(0)))*3/4 - 40; n < maxTokenLen; n++ {
		tok := pad(n)
		if len(tok) > maxTokenLen {
			break
		}
		at = tok
	}
	if len(at) < maxTokenLen-2 {
		t.Fatalf("no token near the bound: %d bytes", len(at))
	}
	if _, err := ks.Verify(at, TypeAccessToken, now); err != nil {
		t.Errorf("a signed token of %d bytes (the bound is %d): %v", len(at), maxTokenLen, err)
	}
}

// What verifies but lacks what the endpoints rely on is malformed: an
// access token needs its grant (jti) and subject, an ID token hint its
// client (aud), and both a JSON object.
func TestVerifiedTokensMustCarryTheirClaims(t *testing.T) {
	ks := testKeys()
	now := time.Now()
	exp := now.Add(time.Hour).Unix()
	for name, claims := range map[string]any{
		"no jti":         AccessClaims{Expires: exp, Identity: Identity{Subject: "s"}},
		"no sub":         AccessClaims{ID: "g", Expires: exp},
		"not an object":  "a string",
		"a list":         []AccessClaims{{ID: "g", Expires: exp, Identity: Identity{Subject: "s"}}},
		"jti not string": map[string]any{"jti": 7, "sub": "s", "exp": exp},
		"scope not text": map[string]any{"jti": "g", "sub": "s", "exp": exp, "scope": 7},
	} {
		tok, err := ks.Sign(TypeAccessToken, claims)
		if err != nil {
			t.Fatal(err)
		}
		if c, err := ks.VerifyAccessToken(tok, now); !errors.Is(err, ErrMalformedToken) {
			t.Errorf("access token, %s: %+v, %v; want ErrMalformedToken", name, c, err)
		}
	}
	for name, claims := range map[string]any{
		"no aud":         IDClaims{Expires: exp, Identity: Identity{Subject: "s"}},
		"not an object":  "a string",
		"aud not text":   map[string]any{"aud": 7, "sub": "s"},
		"nonce not text": map[string]any{"aud": "c", "sub": "s", "nonce": 7},
	} {
		tok, err := ks.Sign(TypeIDToken, claims)
		if err != nil {
			t.Fatal(err)
		}
		if c, err := ks.IDTokenHint(tok, now); !errors.Is(err, ErrMalformedToken) {
			t.Errorf("ID token hint, %s: %+v, %v; want ErrMalformedToken", name, c, err)
		}
	}
}

// Sign returns an error, never a token, when the claims cannot be encoded
// or the key cannot sign.
func TestSignFailsRatherThanSignNothing(t *testing.T) {
	ks := testKeys()
	if tok, err := ks.Sign(TypeAccessToken, map[string]any{"sub": make(chan int)}); err == nil {
		t.Errorf("claims that are no JSON signed: %q", tok)
	}
	// A 62-bit key (p = 2147483647, q = 2147483629): far too small to hold
	// a SHA-256 PKCS #1 v1.5 signature.
	p, q := big.NewInt(2147483647), big.NewInt(2147483629)
	tiny := &rsa.PrivateKey{PublicKey: rsa.PublicKey{N: new(big.Int).Mul(p, q), E: 65537}, Primes: []*big.Int{p, q}}
	phi := new(big.Int).Mul(new(big.Int).Sub(p, big.NewInt(1)), new(big.Int).Sub(q, big.NewInt(1)))
	tiny.D = new(big.Int).ModInverse(big.NewInt(65537), phi)
	weak := &KeySet{Current: &Key{ID: "tiny", priv: tiny}}
	if tok, err := weak.Sign(TypeAccessToken, map[string]string{"sub": "s"}); err == nil {
		t.Errorf("a key that cannot sign signed: %q", tok)
	}
	if at, idt, err := weak.IssueTokens(&Grant{ClientID: "c"}, "c", "code", time.Now(), time.Hour); err == nil {
		t.Errorf("IssueTokens with a key that cannot sign: %q, %q", at, idt)
	}
}
