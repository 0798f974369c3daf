// Package seal seals and opens cookie values with AES-256-GCM.
//
// A sealed value carries its payload and its expiry, encrypted and
// authenticated; the cookie's name is the additional authenticated data, so
// a value sealed for one cookie (the login state) never opens as another
// (the session), and a value kept past its expiry is refused by the server
// whatever the client does with Max-Age. It also seals the records a store
// keeps under a key derived from a secret the store never sees (record.go:
// session entries, OpenID Connect grants). The package is pure: no I/O but
// crypto/rand, no HTTP.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"
	"time"
)

// MaxValueLen bounds what Open and OpenUntil try to open: a longer value is
// refused as malformed without being decoded.
const MaxValueLen = 4096

// encoding spells sealed values. Strict: the unused low bits of the last
// character must be zero (RFC 4648 section 3.5), so a value has one
// spelling only; a lenient decoder would open several cookie values to the
// same bytes, and a caller that remembers values it has opened (the root's
// verified-cookie table) would take each as another value that opened.
// Strict decoding still skips CR and LF (see the encoding/base64
// documentation of Encoding.Strict), so OpenUntil refuses values holding
// them.
var encoding = base64.RawURLEncoding.Strict()

// The errors Open and OpenUntil return; each is returned as is, so a
// caller may compare with == or errors.Is.
var (
	// ErrMalformed: the value is empty, longer than MaxValueLen, holds CR
	// or LF, is not canonical unpadded base64url, or is too short to be
	// sealed.
	ErrMalformed = errors.New("cookie is malformed")
	// ErrForged: no key opens the value for this name (another key,
	// another purpose, another cookie name, or a changed byte).
	ErrForged = errors.New("cookie does not authenticate")
	// ErrExpired: the value authenticates but its sealed expiry has come.
	ErrExpired = errors.New("cookie has expired")
)

// Sealer seals and opens cookie values under one or more keys. The first
// key seals; every key opens, so an old secret keeps working while it is
// rotated out. A Sealer is safe for concurrent use and never changes after
// New; a copy of it holds the same keys (so a caller may embed it by
// value). The zero Sealer has no key: use New.
type Sealer struct {
	aeads []cipher.AEAD
}

// New derives a cookie key for purpose from each secret, in order. Deriving
// per purpose keeps, say, the state-cookie key and the session-cookie key
// apart though the operator gives one secret: a value sealed under one
// purpose never opens under another. It fails only when secrets is empty.
func New(purpose string, secrets [][]byte) (*Sealer, error) {
	if len(secrets) == 0 {
		return nil, errors.New("no secret")
	}
	s := &Sealer{}
	for _, secret := range secrets {
		mac := hmac.New(sha256.New, secret)
		mac.Write([]byte("plex_auth cookie key: " + purpose))
		block, err := aes.NewCipher(mac.Sum(nil))
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		s.aeads = append(s.aeads, aead)
	}
	return s, nil
}

// Seal returns the cookie value for name carrying payload until expires
// (to the second), sealed under the first key with a fresh random nonce,
// so two calls never return the same value. The value is unpadded
// base64url: safe in a cookie as is. It panics only if crypto/rand fails.
func (s *Sealer) Seal(name string, payload []byte, expires time.Time) string {
	aead := s.aeads[0]
	ns := aead.NonceSize()
	plain := make([]byte, 8+len(payload))
	binary.BigEndian.PutUint64(plain, uint64(expires.Unix()))
	copy(plain[8:], payload)
	buf := make([]byte, ns, ns+len(plain)+aead.Overhead())
	if _, err := rand.Read(buf); err != nil {
		panic("plex_auth: no randomness: " + err.Error()) // crypto/rand never fails on supported platforms
	}
	buf = aead.Seal(buf, buf[:ns], plain, []byte(name))
	return encoding.EncodeToString(buf)
}

// Open returns the payload of a value Seal made for name, if some key opens
// it and its expiry is after now; else ErrMalformed, ErrForged or
// ErrExpired. dst is scratch space, as for OpenUntil.
func (s *Sealer) Open(name, value string, now time.Time, dst []byte) ([]byte, error) {
	payload, _, err := s.OpenUntil(name, value, now, dst)
	return payload, err
}

// OpenUntil is Open that also returns the sealed expiry (unix seconds).
//
// dst is scratch space the caller may provide to avoid allocations: when
// cap(dst) is at least len(value) + 2*decoded length + len(name) (for a
// 32-byte payload, 227 bytes plus len(name)), opening allocates nothing; otherwise it allocates what it needs and dst
// is unused. The payload returned may live in dst, so it is valid only
// until the caller reuses dst. nil is a valid dst.
func (s *Sealer) OpenUntil(name, value string, now time.Time, dst []byte) ([]byte, int64, error) {
	if len(value) == 0 || len(value) > MaxValueLen || strings.ContainsAny(value, "\r\n") {
		return nil, 0, ErrMalformed
	}
	// aead.Open is an interface call, so everything handed to it escapes to
	// the heap: the ciphertext, the additional data and the output all go
	// in dst when it is large enough (the request path passes a pooled
	// buffer), and are allocated otherwise.
	n := encoding.DecodedLen(len(value))
	var src, raw, aad []byte
	if cap(dst) >= len(value)+2*n+len(name) {
		dst = dst[:cap(dst)]
		src, dst = dst[:copy(dst, value)], dst[len(value):]
		raw, dst = dst[:n], dst[n:]
		aad, dst = dst[:copy(dst, name)], dst[len(name):]
	} else {
		src, raw, aad, dst = []byte(value), make([]byte, n), []byte(name), nil
	}
	n, err := encoding.Decode(raw, src)
	if err != nil {
		return nil, 0, ErrMalformed
	}
	raw = raw[:n]
	for _, aead := range s.aeads {
		ns := aead.NonceSize()
		if len(raw) < ns+aead.Overhead()+8 {
			return nil, 0, ErrMalformed
		}
		plain, err := aead.Open(dst[:0], raw[:ns], raw[ns:], aad)
		if err != nil {
			continue
		}
		exp := int64(binary.BigEndian.Uint64(plain))
		if now.Unix() >= exp {
			return nil, 0, ErrExpired
		}
		return plain[8:], exp, nil
	}
	return nil, 0, ErrForged
}
