package oidc

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// Token types, the JWS header's typ: an access token is marked at+jwt
// (RFC 9068 §2.1) so that an ID token, which a relying party may hand to
// others, can never be used as an access token at userinfo.
const (
	TypeIDToken     = "JWT"
	TypeAccessToken = "at+jwt"
)

// Identity is who the tokens speak of: the claims an ID token, an access
// token and userinfo carry about the account. Empty fields are left out.
type Identity struct {
	// Subject (sub) is stable per account and never reassigned.
	Subject           string `json:"sub"`
	PreferredUsername string `json:"preferred_username,omitempty"`
	Name              string `json:"name,omitempty"`
	Email             string `json:"email,omitempty"`
	Picture           string `json:"picture,omitempty"`
	// Groups holds the account's tier (owner, home or friend) when the
	// provider's rules name a server.
	Groups []string `json:"groups,omitempty"`
	// PlexUserID is the Plex account id (a private claim).
	PlexUserID int64 `json:"plex_user_id,omitempty"`
}

// IDClaims are the claims of an ID token (OpenID Connect Core §2).
type IDClaims struct {
	Issuer   string `json:"iss"`
	Audience string `json:"aud"`
	Expires  int64  `json:"exp"`
	IssuedAt int64  `json:"iat"`
	AuthTime int64  `json:"auth_time,omitempty"`
	Nonce    string `json:"nonce,omitempty"`
	// AccessTokenHash is at_hash (Core §3.1.3.6) of the access token
	// issued with this ID token.
	AccessTokenHash string `json:"at_hash,omitempty"`
	Identity
}

// AccessClaims are the claims of an access token (RFC 9068 §2.2) plus the
// identity, which userinfo answers.
type AccessClaims struct {
	Issuer   string `json:"iss"`
	Audience string `json:"aud"`
	Expires  int64  `json:"exp"`
	IssuedAt int64  `json:"iat"`
	// ID (jti) is the grant the token was issued from (GrantID of the
	// code): a replay of that code revokes the token.
	ID       string `json:"jti"`
	ClientID string `json:"client_id"`
	Scope    string `json:"scope,omitempty"`
	Identity
}

// Errors of Verify and VerifyAccessToken. The caller answers them all
// alike (401 invalid_token); they differ for tests and logs.
var (
	ErrMalformedToken = errors.New("token is not a compact JWS")
	ErrUnknownKey     = errors.New("token is not signed by a live key")
	ErrBadSignature   = errors.New("token signature does not verify")
	ErrWrongType      = errors.New("token is of another type")
	ErrExpiredToken   = errors.New("token expired")
)

type header struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ,omitempty"`
}

// Sign returns claims as a compact JWS signed RS256 by the current key,
// with typ in the header.
func (ks *KeySet) Sign(typ string, claims any) (string, error) {
	hdr, _ := json.Marshal(header{Alg: "RS256", Kid: ks.Current.ID, Typ: typ})
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	input := b64(hdr) + "." + b64(payload)
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, ks.Current.priv, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return input + "." + b64(sig), nil
}

// maxTokenLen bounds what Verify parses; the tokens Sign makes are far
// shorter.
const maxTokenLen = 16 << 10

// Verify checks that token is a compact JWS of type typ signed RS256 by a
// key of ks live at now, and returns its payload. It checks nothing in the
// payload: VerifyAccessToken does, for access tokens.
func (ks *KeySet) Verify(token, typ string, now time.Time) ([]byte, error) {
	if len(token) > maxTokenLen {
		return nil, ErrMalformedToken
	}
	h64, rest, ok1 := strings.Cut(token, ".")
	p64, s64, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(s64, ".") {
		return nil, ErrMalformedToken
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(h64)
	payload, err2 := base64.RawURLEncoding.DecodeString(p64)
	sig, err3 := base64.RawURLEncoding.DecodeString(s64)
	var hdr header
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(hb, &hdr) != nil {
		return nil, ErrMalformedToken
	}
	// Only RS256: "none" and HMAC with the public key as secret are the
	// classic forgeries (RFC 8725 §2.1).
	if hdr.Alg != "RS256" {
		return nil, ErrMalformedToken
	}
	k := ks.live(hdr.Kid, now)
	if k == nil {
		return nil, ErrUnknownKey
	}
	sum := sha256.Sum256([]byte(token[:len(h64)+1+len(p64)]))
	if rsa.VerifyPKCS1v15(&k.priv.PublicKey, crypto.SHA256, sum[:], sig) != nil {
		return nil, ErrBadSignature
	}
	// Compared after the signature, so a forger learns nothing from it.
	if !strings.EqualFold(hdr.Typ, typ) {
		return nil, ErrWrongType
	}
	return payload, nil
}

// VerifyAccessToken verifies an access token Sign made from AccessClaims
// and returns its claims when it has not expired at now. Whether its grant
// was revoked is the caller's question (Revoked).
func (ks *KeySet) VerifyAccessToken(token string, now time.Time) (*AccessClaims, error) {
	payload, err := ks.Verify(token, TypeAccessToken, now)
	if err != nil {
		return nil, err
	}
	var c AccessClaims
	if json.Unmarshal(payload, &c) != nil || c.ID == "" || c.Subject == "" {
		return nil, ErrMalformedToken
	}
	if now.Unix() >= c.Expires {
		return nil, ErrExpiredToken
	}
	return &c, nil
}

// AccessTokenHash is at_hash for an RS256-signed ID token: the left half
// of the SHA-256 of the access token, base64url (Core §3.1.3.6).
func AccessTokenHash(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return b64(sum[:16])
}

// IDTokenHint reads the ID token a relying party sends to end_session as
// id_token_hint: signed by a key of ks live at now; expired is fine (the
// specification expects expired hints). It returns the claims.
func (ks *KeySet) IDTokenHint(token string, now time.Time) (*IDClaims, error) {
	payload, err := ks.Verify(token, TypeIDToken, now)
	if err != nil {
		return nil, err
	}
	var c IDClaims
	if json.Unmarshal(payload, &c) != nil || c.Audience == "" {
		return nil, ErrMalformedToken
	}
	return &c, nil
}
