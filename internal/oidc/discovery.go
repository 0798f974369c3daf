package oidc

import "encoding/json"

// Endpoint names under the issuer; the discovery document lists them.
const (
	PathDiscovery  = "/.well-known/openid-configuration"
	PathAuthorize  = "/authorize"
	PathToken      = "/token"
	PathUserinfo   = "/userinfo"
	PathJWKS       = "/jwks"
	PathEndSession = "/end_session"
)

// Scopes the provider knows; any other is ignored (Core §3.1.2.1).
var Scopes = []string{"openid", "profile", "email", "groups"}

// Claims lists every claim the tokens and userinfo may carry.
var Claims = []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash",
	"preferred_username", "name", "email", "picture", "groups", "plex_user_id"}

// Discovery is the OpenID Provider Metadata (Discovery 1.0 §3) of the
// provider at issuer (no trailing slash): its endpoints are issuer plus
// the Path constants.
func Discovery(issuer string) []byte {
	b, _ := json.Marshal(map[string]any{
		"issuer":                                         issuer,
		"authorization_endpoint":                         issuer + PathAuthorize,
		"token_endpoint":                                 issuer + PathToken,
		"userinfo_endpoint":                              issuer + PathUserinfo,
		"jwks_uri":                                       issuer + PathJWKS,
		"end_session_endpoint":                           issuer + PathEndSession,
		"response_types_supported":                       []string{"code"},
		"response_modes_supported":                       []string{"query"},
		"grant_types_supported":                          []string{"authorization_code"},
		"subject_types_supported":                        []string{"public"},
		"id_token_signing_alg_values_supported":          []string{"RS256"},
		"scopes_supported":                               Scopes,
		"claims_supported":                               Claims,
		"token_endpoint_auth_methods_supported":          []string{AuthBasic, AuthPost, AuthNone},
		"code_challenge_methods_supported":               []string{"S256"},
		"prompt_values_supported":                        []string{"none", "login", "consent", "select_account"},
		"request_parameter_supported":                    false,
		"request_uri_parameter_supported":                false,
		"claims_parameter_supported":                     false,
		"authorization_response_iss_parameter_supported": true,
	})
	return b
}
