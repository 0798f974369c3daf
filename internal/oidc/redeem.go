package oidc

import (
	"encoding/json"
	"time"
)

// Check says why the token request tr, from the authenticated client
// clientID, may not redeem g, or nil when it may: the code was issued to
// that client, for that redirect URI, and the PKCE verifier matches its
// challenge. The error is invalid_grant, or invalid_request for a missing
// code_verifier (RFC 6749 §5.2, RFC 7636 §4.6); reason names the check for
// the audit line.
func (g *Grant) Check(clientID string, tr *TokenRequest) (e *Error, reason string) {
	badGrant := func(desc, reason string) (*Error, string) {
		return &Error{Code: "invalid_grant", Status: 400, Description: desc}, reason
	}
	switch {
	case g.ClientID != clientID:
		return badGrant("the code was issued to another client", "wrong_client")
	case g.RedirectURI != tr.RedirectURI:
		return badGrant("redirect_uri differs from the authorization request's", "wrong_redirect_uri")
	case g.CodeChallenge != "" && tr.CodeVerifier == "":
		return &Error{Code: "invalid_request", Status: 400, Description: "code_verifier is required"}, "pkce_missing"
	case g.CodeChallenge != "" && !VerifyPKCE(g.CodeChallenge, tr.CodeVerifier):
		return badGrant("code_verifier does not match the code_challenge", "pkce_mismatch")
	case g.CodeChallenge == "" && tr.CodeVerifier != "":
		// A verifier for a code issued without a challenge is a
		// downgrade attempt (RFC 9700 §2.1.1).
		return badGrant("code_verifier without a code_challenge", "pkce_unexpected")
	}
	return nil, ""
}

// IssueTokens signs the access token and the ID token of g for the client
// clientID, redeemed from code at now; both expire at now+ttl. The access
// token's jti is GrantID(code), so a replay of the code revokes it; the ID
// token carries its at_hash.
func (ks *KeySet) IssueTokens(g *Grant, clientID, code string, now time.Time, ttl time.Duration) (accessToken, idToken string, err error) {
	exp := now.Add(ttl).Unix()
	at, err := ks.Sign(TypeAccessToken, AccessClaims{
		Issuer: g.Issuer, Audience: clientID, Expires: exp, IssuedAt: now.Unix(),
		ID: GrantID(code), ClientID: clientID, Scope: g.Scope, Identity: g.Identity,
	})
	if err != nil {
		return "", "", err
	}
	idt, err := ks.Sign(TypeIDToken, IDClaims{
		Issuer: g.Issuer, Audience: clientID, Expires: exp, IssuedAt: now.Unix(), AuthTime: g.AuthTime,
		Nonce: g.Nonce, AccessTokenHash: AccessTokenHash(at), Identity: g.Identity,
	})
	if err != nil {
		return "", "", err
	}
	return at, idt, nil
}

// TokenResponse is the token endpoint's successful answer (RFC 6749
// §5.1, Core §3.1.3.3): the two tokens, Bearer, their lifetime in seconds
// and the scope granted.
func TokenResponse(accessToken, idToken, scope string, ttl time.Duration) []byte {
	body, _ := json.Marshal(map[string]any{
		"access_token": accessToken, "token_type": "Bearer", "expires_in": int(ttl / time.Second),
		"id_token": idToken, "scope": scope,
	})
	return body
}
