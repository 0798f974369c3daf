package oidc

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/caddy-plexauth/caddy-plexauth/internal/seal"
)

// CodeTTL is how long an authorization code can be redeemed.
const CodeTTL = 60 * time.Second

// Grant is what an authorization code stands for: who signed in, for
// which client, redirect URI, PKCE challenge and nonce. It travels only
// sealed, in the CodeStore, under a key derived from the code.
type Grant struct {
	Issuer        string   `json:"iss"`
	ClientID      string   `json:"client_id"`
	RedirectURI   string   `json:"redirect_uri"`
	CodeChallenge string   `json:"code_challenge,omitempty"`
	Nonce         string   `json:"nonce,omitempty"`
	Scope         string   `json:"scope,omitempty"`
	AuthTime      int64    `json:"auth_time"`
	Identity      Identity `json:"identity"`
	// Session is the caller's handle on the sign-in the code came from,
	// so the token endpoint can refuse a code whose session ended.
	Session string `json:"session,omitempty"`
	// Expires is when the code stops being redeemable (Unix seconds).
	Expires int64 `json:"expires"`
}

// CodeStore keeps codes between the authorize and token endpoints, shared
// by every instance that may redeem them. Keys are GrantIDs, values opaque.
type CodeStore interface {
	// PutCode stores val under key until expires, replacing what is there.
	PutCode(ctx context.Context, key string, val []byte, expires time.Time) error
	// SwapCode replaces the value under key by val (until expires) and
	// returns the value it replaced, in one step as seen by every other
	// caller; when key holds nothing it writes nothing and returns nil.
	SwapCode(ctx context.Context, key string, val []byte, expires time.Time) ([]byte, error)
	// PeekCode returns the value under key, or nil.
	PeekCode(ctx context.Context, key string) ([]byte, error)
}

// Errors of Redeem: each is answered invalid_grant (RFC 6749 §5.2).
var (
	ErrUnknownCode  = errors.New("code unknown or expired")
	ErrReplayedCode = errors.New("code already used; the tokens issued from it are revoked")
)

// NewCode returns a fresh code: 32 random bytes, base64url.
func NewCode() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return b64(b)
}

// GrantID is the store key of a code, and the jti of the access token
// issued from it: a hash, so neither the store nor a token gives the code
// away.
func GrantID(code string) string {
	sum := sha256.Sum256([]byte("plex_auth oidc code\x00" + code))
	return hex.EncodeToString(sum[:])
}

// Marks left under a code's key once it was redeemed: 8 bytes of expiry
// (as every stored value begins, so a sweep can drop it) and one byte.
const (
	markRedeemed = 'R'
	markRevoked  = 'X'
)

func mark(kind byte, until time.Time) []byte {
	return append(binary.BigEndian.AppendUint64(nil, uint64(until.Unix())), kind)
}

func markOf(b []byte) byte {
	if len(b) == 9 {
		return b[8]
	}
	return 0
}

// Issue stores g under a fresh code, sealed with a key derived from the
// code, and returns the code. g.Expires is set to now + CodeTTL.
func Issue(ctx context.Context, st CodeStore, g *Grant, now time.Time) (string, error) {
	code := NewCode()
	g.Expires = now.Add(CodeTTL).Unix()
	sealed, err := sealGrant(code, g)
	if err != nil {
		return "", err
	}
	return code, st.PutCode(ctx, GrantID(code), sealed, now.Add(CodeTTL))
}

// Redeem takes the grant of code, once. keep is how long the tokens issued
// from it live: the code's mark stays that long, so a second redemption,
// even after the code expired, is recognised, answered ErrReplayedCode and
// revokes those tokens (RFC 6749 §4.1.2). A code past its 60 s is
// ErrUnknownCode. Other errors are the store's.
func Redeem(ctx context.Context, st CodeStore, code string, now time.Time, keep time.Duration) (*Grant, error) {
	if code == "" || len(code) > maxParam {
		return nil, ErrUnknownCode
	}
	key := GrantID(code)
	until := now.Add(keep)
	old, err := st.SwapCode(ctx, key, mark(markRedeemed, until), until)
	if err != nil {
		return nil, err
	}
	switch markOf(old) {
	case 0:
	case markRedeemed, markRevoked:
		// The swap wrote "redeemed" over the mark; a userinfo call in
		// between sees the tokens alive for that instant.
		if err := st.PutCode(ctx, key, mark(markRevoked, until), until); err != nil {
			return nil, err
		}
		return nil, ErrReplayedCode
	}
	if old == nil {
		return nil, ErrUnknownCode
	}
	g, err := openGrant(code, old)
	if err != nil || now.Unix() >= g.Expires {
		return nil, ErrUnknownCode
	}
	return g, nil
}

// Revoked reports whether the grant gid (an access token's jti) was
// revoked by a replay of its code.
func Revoked(ctx context.Context, st CodeStore, gid string) (bool, error) {
	b, err := st.PeekCode(ctx, gid)
	return markOf(b) == markRevoked, err
}

// grantLabel derives a grant's key from its code (seal.RecordAEAD).
const grantLabel = "plex_auth oidc grant key"

// sealGrant seals g as a record (seal.SealRecord): 8 bytes of expiry,
// nonce, AES-GCM of the JSON, the key derived from the code and the
// GrantID authenticated.
func sealGrant(code string, g *Grant) ([]byte, error) {
	aead, err := seal.RecordAEAD(code, grantLabel)
	if err != nil {
		return nil, err
	}
	plain, err := json.Marshal(g)
	if err != nil {
		return nil, err
	}
	return seal.SealRecord(aead, g.Expires, plain, []byte(GrantID(code))), nil
}

func openGrant(code string, b []byte) (*Grant, error) {
	aead, err := seal.RecordAEAD(code, grantLabel)
	if err != nil {
		return nil, err
	}
	plain, err := seal.OpenRecord(aead, b, []byte(GrantID(code)))
	if err != nil {
		return nil, err
	}
	var g Grant
	if err := json.Unmarshal(plain, &g); err != nil {
		return nil, err
	}
	return &g, nil
}

// S256 is the PKCE challenge of verifier (RFC 7636 §4.2).
func S256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return b64(sum[:])
}

// VerifyPKCE reports whether verifier is a well-formed code_verifier
// (43 to 128 unreserved characters, RFC 7636 §4.1) whose S256 is
// challenge; compared in constant time.
func VerifyPKCE(challenge, verifier string) bool {
	if len(verifier) < 43 || len(verifier) > 128 {
		return false
	}
	for i := 0; i < len(verifier); i++ {
		if !unreserved(verifier[i]) {
			return false
		}
	}
	return subtle.ConstantTimeCompare([]byte(S256(verifier)), []byte(challenge)) == 1
}

// validChallenge: an S256 challenge is 43 base64url characters.
func validChallenge(s string) bool {
	if len(s) != 43 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func unreserved(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

// MemoryCodes is a CodeStore in memory, for a single instance. The zero
// value is ready; it drops expired entries as it goes and runs no
// goroutine.
type MemoryCodes struct {
	mu    sync.Mutex
	m     map[string]memCode
	puts  int
	clock func() time.Time // nil: time.Now
}

type memCode struct {
	val     []byte
	expires time.Time
}

func (m *MemoryCodes) now() time.Time {
	if m.clock != nil {
		return m.clock()
	}
	return time.Now()
}

// PutCode implements CodeStore.
func (m *MemoryCodes) PutCode(_ context.Context, key string, val []byte, expires time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = make(map[string]memCode)
	}
	now := m.now()
	if m.puts++; m.puts%64 == 0 {
		for k, v := range m.m {
			if !now.Before(v.expires) {
				delete(m.m, k)
			}
		}
	}
	if now.Before(expires) {
		m.m[key] = memCode{append([]byte(nil), val...), expires}
	}
	return nil
}

// SwapCode implements CodeStore.
func (m *MemoryCodes) SwapCode(_ context.Context, key string, val []byte, expires time.Time) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.m[key]
	if !ok || !m.now().Before(old.expires) {
		return nil, nil
	}
	m.m[key] = memCode{append([]byte(nil), val...), expires}
	return old.val, nil
}

// PeekCode implements CodeStore.
func (m *MemoryCodes) PeekCode(_ context.Context, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.m[key]
	if !ok || !m.now().Before(v.expires) {
		return nil, nil
	}
	return v.val, nil
}
