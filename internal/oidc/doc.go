// Package oidc is the OpenID Connect provider's protocol, without Caddy and
// without HTTP handlers (those are internal/oidcprovider's): the discovery document, the RS256 signing keys and
// their rotation, ID and access tokens (compact JWS, RFC 7515/7519),
// authorization codes and their one-shot redemption, the client registry,
// and the parsing of authorize, token and userinfo requests with the errors
// the specifications name.
//
// Specifications followed: OpenID Connect Core 1.0
// (https://openid.net/specs/openid-connect-core-1_0.html), OpenID Connect
// Discovery 1.0, RFC 6749 (OAuth 2.0), RFC 6750 (bearer tokens), RFC 7636
// (PKCE, S256 only), RFC 7638 (JWK thumbprint, used as kid), RFC 9068
// (access tokens as JWTs, typ at+jwt), RFC 9207 (iss in the authorization
// response) and OpenID Connect RP-Initiated Logout 1.0.
//
// Signing is done with crypto/rsa and encoding/json rather than a JOSE
// library: the provider signs one algorithm (RS256) and verifies only its
// own tokens, so the whole of JWS it needs is a few dozen lines that can be
// read in one sitting, and the tests check them against an independent
// implementation (go-jose, through go-oidc, acting as the relying party).
//
// Every value the package returns is never modified afterwards (KeySet,
// Registry, Client), so it may be shared between goroutines. The package
// does no I/O except through the stores the caller passes: the CodeStore,
// and the KeyStorage a Keyring keeps the signing keys in. A code's grant
// is sealed as internal/seal seals the records of a store.
package oidc
