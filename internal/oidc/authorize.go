package oidc

import (
	"net/url"
	"strings"
)

// AuthRequest is an authorization request (Core §3.1.2.1), checked.
type AuthRequest struct {
	Client        *Client
	RedirectURI   string
	State         string
	Nonce         string
	Scope         string
	CodeChallenge string // S256; "" when the client sent none
	// Prompt is the prompt parameter: "none" asks for no interaction.
	Prompt string
}

// AuthError is an authorization request refused. When Redirect is false
// the client or its redirect URI could not be established, and the error
// must be shown to the user, never sent to the redirect URI (RFC 6749
// §4.1.2.1); otherwise it goes to the redirect URI (ErrorRedirect).
type AuthError struct {
	Code        string
	Description string
	Redirect    bool
}

func (e *AuthError) Error() string { return e.Code + ": " + e.Description }

// ParseAuthRequest checks an authorization request's parameters (query,
// or form for a POST) against the registry. Only response_type=code and
// the query response mode are supported; scope must hold openid, other
// scopes are ignored (Core §3.1.2.1); a code_challenge must be S256, and a
// public client must send one (RFC 7636). A parameter given twice is
// invalid_request (RFC 6749 §3.1).
func ParseAuthRequest(reg *Registry, q url.Values) (*AuthRequest, *AuthError) {
	for k, vs := range q {
		if len(vs) > 1 || len(vs[0]) > maxParam {
			// Before the client is known, no redirect.
			c := reg.Lookup(first(q, "client_id"))
			return nil, &AuthError{Code: "invalid_request", Description: k + " is given more than once or is too long",
				Redirect: c != nil && k != "redirect_uri" && k != "client_id" && c.RedirectAllowed(first(q, "redirect_uri"))}
		}
	}
	c := reg.Lookup(q.Get("client_id"))
	if c == nil {
		return nil, &AuthError{Code: "invalid_client", Description: "unknown client_id"}
	}
	ar := &AuthRequest{Client: c, RedirectURI: q.Get("redirect_uri"), State: q.Get("state"),
		Nonce: q.Get("nonce"), Scope: q.Get("scope"), Prompt: q.Get("prompt")}
	// OpenID Connect requires redirect_uri (Core §3.1.2.1): no default.
	if !c.RedirectAllowed(ar.RedirectURI) {
		return nil, &AuthError{Code: "invalid_request", Description: "redirect_uri is not registered for this client"}
	}
	fail := func(code, desc string) (*AuthRequest, *AuthError) {
		return nil, &AuthError{Code: code, Description: desc, Redirect: true}
	}
	switch {
	case q.Get("request") != "":
		return fail("request_not_supported", "request objects are not supported")
	case q.Get("request_uri") != "":
		return fail("request_uri_not_supported", "request_uri is not supported")
	case q.Get("response_type") != "code":
		return fail("unsupported_response_type", "only response_type=code is supported")
	case q.Get("response_mode") != "" && q.Get("response_mode") != "query":
		return fail("invalid_request", "only response_mode=query is supported")
	case !hasScope(ar.Scope, "openid"):
		return fail("invalid_scope", "scope must include openid")
	}
	ar.CodeChallenge = q.Get("code_challenge")
	method := q.Get("code_challenge_method")
	switch {
	case ar.CodeChallenge == "" && method != "":
		return fail("invalid_request", "code_challenge_method without code_challenge")
	case ar.CodeChallenge == "" && c.Public:
		return fail("invalid_request", "a public client must use PKCE (code_challenge with S256)")
	case ar.CodeChallenge != "" && method != "S256":
		// plain is refused: it protects nothing a network observer
		// cannot see (RFC 7636 §7.2).
		return fail("invalid_request", "code_challenge_method must be S256")
	case ar.CodeChallenge != "" && !validChallenge(ar.CodeChallenge):
		return fail("invalid_request", "code_challenge is not an S256 challenge")
	}
	for _, p := range strings.Fields(ar.Prompt) {
		if p != "none" && p != "login" && p != "consent" && p != "select_account" {
			return fail("invalid_request", "unknown prompt value")
		}
	}
	if ar.Prompt != "none" && hasScope(ar.Prompt, "none") {
		return fail("invalid_request", "prompt=none cannot be combined with other values")
	}
	return ar, nil
}

func first(q url.Values, k string) string {
	if vs := q[k]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

func hasScope(scope, want string) bool {
	for _, s := range strings.Fields(scope) {
		if s == want {
			return true
		}
	}
	return false
}

// CodeRedirect is where the browser goes with the code: the redirect URI
// with code, state (when the client sent one) and iss (RFC 9207).
func (ar *AuthRequest) CodeRedirect(code, issuer string) string {
	v := url.Values{"code": {code}, "iss": {issuer}}
	if ar.State != "" {
		v.Set("state", ar.State)
	}
	return withQuery(ar.RedirectURI, v)
}

// ErrorRedirect is where the browser goes with an error (RFC 6749
// §4.1.2.1).
func (ar *AuthRequest) ErrorRedirect(code, desc, issuer string) string {
	v := url.Values{"error": {code}, "iss": {issuer}}
	if desc != "" {
		v.Set("error_description", desc)
	}
	if ar.State != "" {
		v.Set("state", ar.State)
	}
	return withQuery(ar.RedirectURI, v)
}

// ErrorRedirectFor is ErrorRedirect for a request ParseAuthRequest refused
// with e.Redirect set: the client and redirect URI are the request's.
func ErrorRedirectFor(q url.Values, e *AuthError, issuer string) string {
	ar := &AuthRequest{RedirectURI: first(q, "redirect_uri"), State: first(q, "state")}
	return ar.ErrorRedirect(e.Code, e.Description, issuer)
}

// WithState is a post-logout redirect URI with the state the relying
// party sent to end_session, if any.
func WithState(uri, state string) string {
	if state == "" {
		return uri
	}
	return withQuery(uri, url.Values{"state": {state}})
}

// withQuery adds v to uri's query, keeping the query it has (RFC 6749
// §3.1.2: the redirect URI's own query is retained). Registered URIs have
// no fragment (CheckRedirectURI).
func withQuery(uri string, v url.Values) string {
	sep := "?"
	if strings.Contains(uri, "?") {
		sep = "&"
	}
	return uri + sep + v.Encode()
}
