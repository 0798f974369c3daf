package plexauth

import (
	"crypto/rand"
	"sync"

	"github.com/caddy-plexauth/caddy-plexauth/internal/seal"
	"github.com/caddy-plexauth/caddy-plexauth/internal/session"
)

// Cookies this module sets are sealed by internal/seal (AES-256-GCM, the
// cookie's name authenticated, an expiry inside); internal/cookieheader
// reads them from the request.

// sealer is a seal.Sealer and, for the session cookie, the values it has
// opened (see internal/session/verified.go). The table lives and dies with
// the sealer, so with its keys. The Sealer is embedded by value: a request
// reaches the keys through h.sessionSealer as directly as before the
// package split.
type sealer struct {
	seal.Sealer
	verified *session.VerifiedCookies
}

// newSealer is seal.New for purpose with an empty verified-cookie table.
func newSealer(purpose string, secrets [][]byte) (*sealer, error) {
	s, err := seal.New(purpose, secrets)
	if err != nil {
		return nil, err
	}
	return &sealer{Sealer: *s, verified: session.NewVerifiedCookies()}, nil
}

// verifiedCookies is the table of h's session sealer, or nil before
// Provision made one.
func (h *PlexAuth) verifiedCookies() *session.VerifiedCookies {
	if h.sessionSealer == nil {
		return nil
	}
	return h.sessionSealer.verified
}

// openBuf is scratch space for opening a session cookie: room for a
// cookie value, its decoding, the payload and the cookie name (see
// seal.Sealer.OpenUntil).
type openBuf [512]byte

// openBufs saves the request path an allocation per request (see
// seal.Sealer.OpenUntil).
var openBufs = sync.Pool{New: func() any { return new(openBuf) }}

// randomBytes returns n bytes from crypto/rand.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("plex_auth: no randomness: " + err.Error())
	}
	return b
}

// sessionIDLen is the length of a session id: 256 random bits.
const sessionIDLen = 32
