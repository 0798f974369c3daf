package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
)

// Records are values a store keeps (Caddy's storage, Redis) that only the
// holder of a secret the store never sees can open: a session entry, under
// its session id, which only the browser's cookie carries; an OpenID
// Connect code's grant, under the code, which only the relying party holds.
// The key is derived from that secret, so a copy of the store opens
// nothing. Layout: 8 bytes of expiry (Unix seconds, big-endian, in clear
// and not authenticated, so a store's sweep can drop the record without
// the key; the caller keeps the expiry that counts inside the plaintext),
// a random nonce, then AES-256-GCM of the plaintext with the caller's
// additional data authenticated.

// ErrShortRecord is what OpenRecord answers for bytes too short to be a
// record.
var ErrShortRecord = errors.New("record too short")

// RecordAEAD is the AEAD of the records sealed under secret for label:
// AES-256-GCM under HMAC-SHA256(secret, label). A label per kind of record
// keeps a session entry from opening as a grant.
func RecordAEAD(secret, label string) (cipher.AEAD, error) {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(label))
	block, err := aes.NewCipher(mac.Sum(nil))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// SealRecord seals plain under aead (RecordAEAD) with aad authenticated,
// expires written before it, under a fresh random nonce: the same plain
// sealed twice never gives the same bytes. It panics only if crypto/rand
// fails.
func SealRecord(aead cipher.AEAD, expires int64, plain, aad []byte) []byte {
	ns := aead.NonceSize()
	out := make([]byte, 8+ns, 8+ns+len(plain)+aead.Overhead())
	binary.BigEndian.PutUint64(out, uint64(expires))
	if _, err := rand.Read(out[8:]); err != nil {
		panic("plex_auth: no randomness: " + err.Error()) // crypto/rand never fails on supported platforms
	}
	return aead.Seal(out, out[8:8+ns], plain, aad)
}

// OpenRecord returns the plaintext of a record SealRecord made with the
// same aead and aad: ErrShortRecord when b cannot be one, aead's error when
// it does not authenticate. The expiry is not judged (RecordExpiry).
func OpenRecord(aead cipher.AEAD, b, aad []byte) ([]byte, error) {
	ns := aead.NonceSize()
	if len(b) < 8+ns+aead.Overhead() {
		return nil, ErrShortRecord
	}
	return aead.Open(nil, b[8:8+ns], b[8+ns:], aad)
}

// RecordExpiry is the expiry SealRecord wrote before the record (Unix
// seconds); ok is false when b is shorter than 8 bytes.
func RecordExpiry(b []byte) (expires int64, ok bool) {
	if len(b) < 8 {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(b)), true
}
