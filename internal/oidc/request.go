package oidc

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
)

// Error is an error the token or userinfo endpoint answers (RFC 6749
// §5.2, RFC 6750 §3.1): Code is the error code, Status the HTTP status
// (400 or 401, 503 when the store failed; never 500).
type Error struct {
	Code        string
	Description string
	Status      int
	// Basic: the client tried HTTP Basic, so the 401 carries
	// WWW-Authenticate: Basic (RFC 6749 §5.2).
	Basic bool
}

func (e *Error) Error() string { return e.Code + ": " + e.Description }

// JSON is the error's body.
func (e *Error) JSON() []byte {
	b, _ := json.Marshal(struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{e.Code, e.Description})
	return b
}

func invalidRequest(desc string) *Error {
	return &Error{Code: "invalid_request", Status: 400, Description: desc}
}

// How a client authenticated at the token endpoint.
const (
	AuthNone  = "none"
	AuthBasic = "client_secret_basic"
	AuthPost  = "client_secret_post"
)

// TokenRequest is a token endpoint request, parsed.
type TokenRequest struct {
	GrantType    string
	Code         string
	RedirectURI  string
	CodeVerifier string
	ClientID     string
	ClientSecret string
	// AuthMethod is AuthNone, AuthBasic or AuthPost.
	AuthMethod string
}

// maxParam bounds each parameter; none the provider accepts is longer.
const maxParam = 4096

// ParseTokenRequest reads a token request from its Authorization header
// and its form body (already parsed; the caller bounds the body). It
// answers invalid_request (400) for a parameter given twice (RFC 6749 §3.2),
// a missing grant_type, or credentials given both ways (§2.3); and
// invalid_client (401) for an Authorization header that is not Basic with
// a client id. It never panics, whatever the input (FuzzParseTokenRequest).
// Whether the grant type is supported and the client authentic is for the
// caller (Registry.Authenticate).
func ParseTokenRequest(authorization string, form url.Values) (*TokenRequest, *Error) {
	tr := &TokenRequest{AuthMethod: AuthNone}
	get := func(name string) (string, *Error) {
		vs := form[name]
		switch {
		case len(vs) > 1:
			return "", invalidRequest(name + " is given more than once")
		case len(vs) == 0:
			return "", nil
		case len(vs[0]) > maxParam:
			return "", invalidRequest(name + " is too long")
		}
		return vs[0], nil
	}
	var e *Error
	for _, p := range []struct {
		name string
		to   *string
	}{
		{"grant_type", &tr.GrantType}, {"code", &tr.Code}, {"redirect_uri", &tr.RedirectURI},
		{"code_verifier", &tr.CodeVerifier}, {"client_id", &tr.ClientID}, {"client_secret", &tr.ClientSecret},
	} {
		if *p.to, e = get(p.name); e != nil {
			return nil, e
		}
	}
	if authorization != "" {
		id, secret, ok := parseBasic(authorization)
		if !ok {
			return nil, &Error{Code: "invalid_client", Status: 401, Description: "Authorization must be Basic with the client id and secret", Basic: true}
		}
		if tr.ClientSecret != "" || (tr.ClientID != "" && tr.ClientID != id) {
			return nil, invalidRequest("client credentials are given in both the Authorization header and the body")
		}
		tr.ClientID, tr.ClientSecret, tr.AuthMethod = id, secret, AuthBasic
	} else if tr.ClientSecret != "" {
		tr.AuthMethod = AuthPost
	}
	if tr.GrantType == "" {
		return nil, invalidRequest("grant_type is missing")
	}
	if tr.ClientID == "" {
		return nil, &Error{Code: "invalid_client", Status: 401, Description: "client_id is missing"}
	}
	return tr, nil
}

// parseBasic reads HTTP Basic credentials. RFC 6749 §2.3.1 has the client
// id and secret form-urlencoded before they are joined, so they are
// decoded here (golang.org/x/oauth2 encodes them so).
func parseBasic(h string) (id, secret string, ok bool) {
	scheme, cred, found := strings.Cut(h, " ")
	if !found || !strings.EqualFold(scheme, "Basic") || len(cred) > 2*maxParam {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	if err != nil {
		return "", "", false
	}
	u, p, found := strings.Cut(string(raw), ":")
	if !found {
		return "", "", false
	}
	if id, err = url.QueryUnescape(u); err != nil {
		return "", "", false
	}
	if secret, err = url.QueryUnescape(p); err != nil {
		return "", "", false
	}
	return id, secret, id != ""
}

// BearerToken reads the access token of a userinfo request: from the
// Authorization header (Bearer), or, for a POST, the access_token form
// parameter (RFC 6750 §2.1, §2.2), never both. ok is false when there is
// none or it is given twice; the caller answers 401 (RFC 6750 §3.1).
func BearerToken(authorization string, form url.Values) (token string, ok bool) {
	body := form["access_token"]
	if authorization != "" {
		scheme, tok, found := strings.Cut(authorization, " ")
		if !found || !strings.EqualFold(scheme, "Bearer") || len(body) > 0 {
			return "", false
		}
		tok = strings.TrimSpace(tok)
		return tok, tok != ""
	}
	if len(body) != 1 || body[0] == "" {
		return "", false
	}
	return body[0], true
}
