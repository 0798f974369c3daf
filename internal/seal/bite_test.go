package seal

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestNewRefusesNoSecret(t *testing.T) {
	for _, secrets := range [][][]byte{nil, {}} {
		if s, err := New("session", secrets); err == nil || s != nil {
			t.Fatalf("New with %d secrets = %v, %v; want an error: a sealer without a key cannot seal", len(secrets), s, err)
		}
	}
}

// MaxValueLen bounds what is opened, genuine values included: the limit is
// on the value's length, not on whether it decodes.
func TestValueLengthLimitIsMaxValueLen(t *testing.T) {
	s := testSealer(t, "session", "k1")
	now := time.Now()
	// 12-byte nonce, 8-byte expiry, 16-byte tag: a payload of 3036 bytes
	// makes 3072 raw bytes, spelled in exactly 4096 characters.
	at := s.Seal("c", []byte(strings.Repeat("x", 3036)), now.Add(time.Hour))
	if len(at) != MaxValueLen {
		t.Fatalf("value of %d characters, want %d: the test checks nothing", len(at), MaxValueLen)
	}
	if got, err := s.Open("c", at, now, nil); err != nil || len(got) != 3036 {
		t.Fatalf("a genuine value of exactly MaxValueLen characters: %d bytes, %v; want it opened", len(got), err)
	}
	over := s.Seal("c", []byte(strings.Repeat("x", 3037)), now.Add(time.Hour))
	if len(over) <= MaxValueLen {
		t.Fatalf("value of %d characters: the test checks nothing", len(over))
	}
	if got, err := s.Open("c", over, now, nil); !errors.Is(err, ErrMalformed) {
		t.Fatalf("a genuine value longer than MaxValueLen: %d bytes, %v; want ErrMalformed", len(got), err)
	}
}

func TestEmptyPayloadRoundTrips(t *testing.T) {
	s := testSealer(t, "session", "k1")
	now := time.Now()
	v := s.Seal("c", nil, now.Add(time.Hour))
	if got, err := s.Open("c", v, now, nil); err != nil || len(got) != 0 {
		t.Fatalf("open = %q, %v; want an empty payload", got, err)
	}
	// One byte shorter is no sealed value.
	if _, err := s.Open("c", v[:len(v)-2], now, nil); !errors.Is(err, ErrMalformed) {
		t.Fatalf("a value shorter than nonce, expiry and tag: %v, want ErrMalformed", err)
	}
}

// The expiry is the first second the value is refused, not the last it is
// admitted.
func TestValueIsRefusedFromItsExpirySecond(t *testing.T) {
	s := testSealer(t, "session", "k1")
	exp := time.Unix(time.Now().Unix()+60, 0)
	v := s.Seal("c", []byte("p"), exp)
	if _, until, err := s.OpenUntil("c", v, exp.Add(-time.Second), nil); err != nil || until != exp.Unix() {
		t.Fatalf("a second before its expiry: until %d, %v; want %d, nil", until, err, exp.Unix())
	}
	for _, at := range []time.Time{exp, exp.Add(999 * time.Millisecond)} {
		if _, err := s.Open("c", v, at, nil); !errors.Is(err, ErrExpired) {
			t.Fatalf("at %v (expiry %v): %v, want ErrExpired", at, exp, err)
		}
	}
}

// OpenUntil's promise: with scratch space of at least len(value) + 2*decoded
// length + len(name), opening allocates nothing, whatever dst's length.
func TestOpenWithScratchSpaceAllocatesNothing(t *testing.T) {
	s := testSealer(t, "session", "k1")
	now := time.Now()
	v := s.Seal("plex_auth", []byte("0123456789abcdef0123456789abcdef"), now.Add(time.Hour))
	need := len(v) + 2*encoding.DecodedLen(len(v)) + len("plex_auth")
	for _, dst := range [][]byte{make([]byte, need), make([]byte, 0, need), make([]byte, 3, 512)} {
		allocs := testing.AllocsPerRun(50, func() {
			if got, err := s.Open("plex_auth", v, now, dst); err != nil || string(got) != "0123456789abcdef0123456789abcdef" {
				t.Fatalf("open with scratch of len %d cap %d = %q, %v", len(dst), cap(dst), got, err)
			}
		})
		if allocs != 0 {
			t.Errorf("open with scratch of len %d cap %d (%d needed): %v allocations, want 0", len(dst), cap(dst), need, allocs)
		}
	}
}
