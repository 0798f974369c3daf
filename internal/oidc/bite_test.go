package oidc

import (
	"bytes"
	"context"
	"errors"
	"net/url"
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
