package seal

import (
	"bytes"
	"encoding/base64"
	"errors"
	"testing"
	"time"
)

func testSealer(t testing.TB, purpose string, secrets ...string) *Sealer {
	t.Helper()
	var keys [][]byte
	for _, s := range secrets {
		keys = append(keys, []byte(s))
	}
	s, err := New(purpose, keys)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSealedCookieRoundTrips(t *testing.T) {
	s := testSealer(t, "session", "k1")
	now := time.Now()
	v := s.Seal("c", []byte("payload"), now.Add(time.Hour))
	got, err := s.Open("c", v, now, nil)
	if err != nil || string(got) != "payload" {
		t.Fatalf("open = %q, %v", got, err)
	}
	if bytes.Contains([]byte(v), []byte("payload")) {
		t.Fatal("sealed value shows the payload")
	}
}

func TestSealedCookieRefusals(t *testing.T) {
	s := testSealer(t, "session", "k1")
	now := time.Now()
	v := s.Seal("c", []byte("payload"), now.Add(time.Hour))
	raw, _ := base64.RawURLEncoding.DecodeString(v)
	raw[len(raw)-1] ^= 1
	flipped := base64.RawURLEncoding.EncodeToString(raw)

	cases := []struct {
		name  string
		open  func() error
		wantE error
	}{
		{"other cookie name", func() error { _, err := s.Open("d", v, now, nil); return err }, ErrForged},
		{"other purpose", func() error { _, err := testSealer(t, "state", "k1").Open("c", v, now, nil); return err }, ErrForged},
		{"other secret", func() error { _, err := testSealer(t, "session", "k2").Open("c", v, now, nil); return err }, ErrForged},
		{"bit flipped", func() error { _, err := s.Open("c", flipped, now, nil); return err }, ErrForged},
		{"expired", func() error { _, err := s.Open("c", v, now.Add(2*time.Hour), nil); return err }, ErrExpired},
		{"not base64", func() error { _, err := s.Open("c", "%%%", now, nil); return err }, ErrMalformed},
		{"too short", func() error { _, err := s.Open("c", "AAAA", now, nil); return err }, ErrMalformed},
		{"empty", func() error { _, err := s.Open("c", "", now, nil); return err }, ErrMalformed},
		{"oversized", func() error { _, err := s.Open("c", string(make([]byte, 5000)), now, nil); return err }, ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.open(); !errors.Is(err, c.wantE) {
				t.Fatalf("err = %v, want %v", err, c.wantE)
			}
		})
	}
}

// base64url leaves the low bits of a value's last character unused when
// its length is not a multiple of three bytes; a lenient decoder ignores
// them (RFC 4648 section 3.5), so one sealed value would have several
// spellings. Each is a different cookie value that opens to the same bytes:
// it must be refused, not admitted as a second value.
func TestNonCanonicalSpellingOfSealedValueIsRefused(t *testing.T) {
	s := testSealer(t, "session", "k1")
	now := time.Now()
	// A session id (32 bytes) leaves 2 bits unused; 7 bytes leave 4.
	for _, payload := range []string{"0123456789abcdef0123456789abcdef", "payload"} {
		v := s.Seal("c", []byte(payload), now.Add(time.Hour))
		raw, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil {
			t.Fatal(err)
		}
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		spellings := 0
		for _, c := range []byte(alphabet) {
			other := v[:len(v)-1] + string(c)
			if other == v {
				continue
			}
			if b, err := base64.RawURLEncoding.DecodeString(other); err != nil || !bytes.Equal(b, raw) {
				continue // another value, not another spelling of this one
			}
			spellings++
			if got, err := s.Open("c", other, now, nil); !errors.Is(err, ErrMalformed) {
				t.Errorf("%d-byte payload: spelling %q of %q opened to %q, %v; want ErrMalformed", len(payload), other[len(other)-4:], v[len(v)-4:], got, err)
			}
			var scratch [512]byte // what the root's request path passes
			if _, err := s.Open("c", other, now, scratch[:]); !errors.Is(err, ErrMalformed) {
				t.Errorf("%d-byte payload, with scratch space: spelling %q opened: %v", len(payload), other[len(other)-4:], err)
			}
		}
		if want := 1<<(6-8*len(raw)%6) - 1; spellings != want {
			t.Fatalf("%d-byte payload: found %d other spellings, want %d: the test checked nothing", len(payload), spellings, want)
		}
		// Strict decoding still skips line breaks.
		for _, other := range []string{v[:10] + "\n" + v[10:], v[:10] + "\r" + v[10:], v + "\r\n"} {
			if b, err := base64.RawURLEncoding.DecodeString(other); err != nil || !bytes.Equal(b, raw) {
				t.Fatalf("%q is not another spelling of the value; the test checks nothing", other)
			}
			if _, err := s.Open("c", other, now, nil); !errors.Is(err, ErrMalformed) {
				t.Errorf("%d-byte payload: the value with a line break in it opened: %v", len(payload), err)
			}
		}
		if _, err := s.Open("c", v, now, nil); err != nil {
			t.Fatalf("the canonical spelling was refused: %v", err)
		}
	}
}

func TestRotatedSecretStillOpensOldCookies(t *testing.T) {
	now := time.Now()
	old := testSealer(t, "session", "old").Seal("c", []byte("x"), now.Add(time.Hour))
	rotated := testSealer(t, "session", "new", "old")
	if _, err := rotated.Open("c", old, now, nil); err != nil {
		t.Fatalf("cookie under the old secret refused after rotation: %v", err)
	}
	fresh := rotated.Seal("c", []byte("y"), now.Add(time.Hour))
	if _, err := testSealer(t, "session", "new").Open("c", fresh, now, nil); err != nil {
		t.Fatalf("new cookies must be sealed with the first secret: %v", err)
	}
}

func FuzzOpenCookie(f *testing.F) {
	s := testSealer(f, "session", "k1")
	now := time.Now()
	f.Add(s.Seal("c", []byte("0123456789abcdef0123456789abcdef"), now.Add(time.Hour)))
	f.Add("")
	f.Add("AAAA")
	f.Add("%%%")
	f.Add("\"quoted\"")
	f.Fuzz(func(t *testing.T, v string) {
		var scratch [256]byte
		got, err := s.Open("c", v, now, scratch[:])
		if err == nil && len(got) > len(v) {
			t.Fatalf("opened %d bytes from a %d-byte value", len(got), len(v))
		}
		got2, err2 := s.Open("c", v, now, nil)
		if (err == nil) != (err2 == nil) || !bytes.Equal(got, got2) {
			t.Fatalf("scratch and no-scratch disagree: %v/%v", err, err2)
		}
	})
}
