package seal

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"testing"
)

func testRecordAEAD(t *testing.T, secret, label string) cipher.AEAD {
	t.Helper()
	aead, err := RecordAEAD(secret, label)
	if err != nil {
		t.Fatal(err)
	}
	return aead
}

// TestRecordKeepsItsLayout: a record is 8 bytes of expiry, a nonce and
// AES-256-GCM under HMAC-SHA256(secret, label), built here by hand: the
// sessions and codes already in a store (sealed so before this helper
// existed) still open, and a record opens with nothing but the standard
// library.
func TestRecordKeepsItsLayout(t *testing.T) {
	mac := hmac.New(sha256.New, []byte("session-id"))
	mac.Write([]byte("plex_auth session entry key"))
	block, err := aes.NewCipher(mac.Sum(nil))
	if err != nil {
		t.Fatal(err)
	}
	byHand, _ := cipher.NewGCM(block)
	b := SealRecord(testRecordAEAD(t, "session-id", "plex_auth session entry key"), 1700000000, []byte(`{"u":"alice"}`), []byte("name"))
	if got := int64(binary.BigEndian.Uint64(b)); got != 1700000000 {
		t.Fatalf("expiry bytes say %d", got)
	}
	ns := byHand.NonceSize()
	plain, err := byHand.Open(nil, b[8:8+ns], b[8+ns:], []byte("name"))
	if err != nil || string(plain) != `{"u":"alice"}` {
		t.Fatalf("opened by hand: %q, %v", plain, err)
	}
	if bytes.Contains(b, []byte("alice")) {
		t.Fatal("the record shows its plaintext")
	}
	// And one sealed by hand opens with OpenRecord.
	nonce := bytes.Repeat([]byte{7}, ns)
	hand := byHand.Seal(append(binary.BigEndian.AppendUint64(nil, 1), nonce...), nonce, []byte("x"), []byte("name"))
	if got, err := OpenRecord(testRecordAEAD(t, "session-id", "plex_auth session entry key"), hand, []byte("name")); err != nil || string(got) != "x" {
		t.Fatalf("OpenRecord of a record sealed by hand: %q, %v", got, err)
	}
}

// TestRecordOpensOnlyWithItsSecretLabelAndData: another secret, another
// label, other additional data, a changed byte or a truncation are each
// refused; a fresh nonce every time.
func TestRecordOpensOnlyWithItsSecretLabelAndData(t *testing.T) {
	aead := testRecordAEAD(t, "code-1", "grant")
	b := SealRecord(aead, 42, []byte("grant body"), []byte("gid"))
	if got, err := OpenRecord(aead, b, []byte("gid")); err != nil || string(got) != "grant body" {
		t.Fatalf("round trip: %q, %v", got, err)
	}
	if exp, ok := RecordExpiry(b); !ok || exp != 42 {
		t.Fatalf("RecordExpiry = %d, %v", exp, ok)
	}
	if _, ok := RecordExpiry(b[:7]); ok {
		t.Fatal("RecordExpiry read 7 bytes")
	}
	for name, open := range map[string]func() ([]byte, error){
		"other secret": func() ([]byte, error) { return OpenRecord(testRecordAEAD(t, "code-2", "grant"), b, []byte("gid")) },
		"other label":  func() ([]byte, error) { return OpenRecord(testRecordAEAD(t, "code-1", "entry"), b, []byte("gid")) },
		"other data":   func() ([]byte, error) { return OpenRecord(aead, b, []byte("gie")) },
		"changed byte": func() ([]byte, error) {
			c := bytes.Clone(b)
			c[len(c)-1] ^= 1
			return OpenRecord(aead, c, []byte("gid"))
		},
	} {
		if got, err := open(); err == nil {
			t.Errorf("%s: opened as %q", name, got)
		}
	}
	for n := range len(b) {
		got, err := OpenRecord(aead, b[:n], []byte("gid"))
		if err == nil || n < 8+aead.NonceSize()+aead.Overhead() && !errors.Is(err, ErrShortRecord) {
			t.Errorf("the first %d bytes: %q, %v", n, got, err)
		}
	}
	if c := SealRecord(aead, 42, []byte("grant body"), []byte("gid")); bytes.Equal(c[8:8+aead.NonceSize()], b[8:8+aead.NonceSize()]) {
		t.Fatal("two records under one key share a nonce")
	}
}

// TestRecordOfNothingOpensAndItsExpiryReadsFromEightBytes: a record of an
// empty plaintext is as long as a record can be short (8 bytes, the
// nonce, the tag) and still opens; the expiry reads from exactly its 8
// bytes.
func TestRecordOfNothingOpensAndItsExpiryReadsFromEightBytes(t *testing.T) {
	aead := testRecordAEAD(t, "code-1", "grant")
	b := SealRecord(aead, 42, nil, []byte("gid"))
	if len(b) != 8+aead.NonceSize()+aead.Overhead() {
		t.Fatalf("a record of nothing is %d bytes", len(b))
	}
	if got, err := OpenRecord(aead, b, []byte("gid")); err != nil || len(got) != 0 {
		t.Fatalf("a record of nothing: %q, %v", got, err)
	}
	if exp, ok := RecordExpiry(b[:8]); !ok || exp != 42 {
		t.Fatalf("RecordExpiry of the 8 bytes = %d, %v", exp, ok)
	}
}
