package plexauth

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
	"sync"
	"time"
)

// Cookies this module sets are sealed with AES-256-GCM. The cookie's name is
// the additional authenticated data, so a value sealed for one cookie (the
// login state) can never be replayed as another (the session). Each value
// also carries its own expiry, so a cookie kept past its Max-Age by a client
// is refused by the server too.

// maxCookieValue bounds what we try to open; anything larger is garbage.
const maxCookieValue = 4096

// cookieEncoding spells sealed values. Strict: the unused low bits of the
// last character must be zero (RFC 4648 section 3.5), so a value has one
// spelling only; a lenient decoder would open several cookie values to the
// same bytes, and the verified-cookie table (verified.go), which compares
// values, would take each as another value that opened. Strict decoding
// still skips CR and LF (see the encoding/base64 documentation of
// Encoding.Strict), so openUntil refuses values holding them.
var cookieEncoding = base64.RawURLEncoding.Strict()

var (
	errCookieMalformed = errors.New("cookie is malformed")
	errCookieForged    = errors.New("cookie does not authenticate")
	errCookieExpired   = errors.New("cookie has expired")
)

// sealer seals and opens cookie values under one or more keys. The first
// key seals; every key opens, so an old secret keeps working while it is
// rotated out.
type sealer struct {
	aeads []cipher.AEAD
	// verified holds the session cookie values this sealer has opened
	// (see verified.go). It lives and dies with the sealer, so with its
	// keys.
	verified *verifiedCookies
}

// newSealer derives a cookie key for purpose from each secret. Deriving per
// purpose keeps the state-cookie key and the session-cookie key apart even
// though the operator gives one secret.
func newSealer(purpose string, secrets [][]byte) (*sealer, error) {
	if len(secrets) == 0 {
		return nil, errors.New("no secret")
	}
	s := &sealer{verified: newVerifiedCookies()}
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

// seal returns the cookie value for name carrying payload until expires.
func (s *sealer) seal(name string, payload []byte, expires time.Time) string {
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
	return cookieEncoding.EncodeToString(buf)
}

// open returns the payload of a value sealed by seal for name. dst is
// scratch space the caller may provide to avoid allocations; the payload
// returned may live in it.
func (s *sealer) open(name, value string, now time.Time, dst []byte) ([]byte, error) {
	payload, _, err := s.openUntil(name, value, now, dst)
	return payload, err
}

// openUntil is open that also returns the sealed expiry (unix seconds).
func (s *sealer) openUntil(name, value string, now time.Time, dst []byte) ([]byte, int64, error) {
	if len(value) == 0 || len(value) > maxCookieValue || strings.ContainsAny(value, "\r\n") {
		return nil, 0, errCookieMalformed
	}
	// aead.Open is an interface call, so everything handed to it escapes to
	// the heap: the ciphertext, the additional data and the output all go
	// in dst when it is large enough (the request path passes a pooled
	// openBuf), and are allocated otherwise.
	n := cookieEncoding.DecodedLen(len(value))
	var src, raw, aad []byte
	if cap(dst) >= len(value)+2*n+len(name) {
		dst = dst[:cap(dst)]
		src, dst = dst[:copy(dst, value)], dst[len(value):]
		raw, dst = dst[:n], dst[n:]
		aad, dst = dst[:copy(dst, name)], dst[len(name):]
	} else {
		src, raw, aad, dst = []byte(value), make([]byte, n), []byte(name), nil
	}
	n, err := cookieEncoding.Decode(raw, src)
	if err != nil {
		return nil, 0, errCookieMalformed
	}
	raw = raw[:n]
	for _, aead := range s.aeads {
		ns := aead.NonceSize()
		if len(raw) < ns+aead.Overhead()+8 {
			return nil, 0, errCookieMalformed
		}
		plain, err := aead.Open(dst[:0], raw[:ns], raw[ns:], aad)
		if err != nil {
			continue
		}
		exp := int64(binary.BigEndian.Uint64(plain))
		if now.Unix() >= exp {
			return nil, 0, errCookieExpired
		}
		return plain[8:], exp, nil
	}
	return nil, 0, errCookieForged
}

// openBuf is scratch space for opening a session cookie: room for a
// cookie value, its decoding, the payload and the cookie name.
type openBuf [512]byte

// openBufs saves the request path an allocation per request (see open).
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

// findCookie returns the value of the first cookie name in the request
// headers, or "". It scans the raw header instead of r.Cookie, which
// parses and allocates every cookie on every request.
func findCookie(h map[string][]string, name string) string {
	for _, line := range h["Cookie"] {
		if v, _, ok := nextCookie(line, name); ok {
			return v
		}
	}
	return ""
}

// cookieValues returns the value of every cookie name in the request
// headers, in the order sent. A browser holding cookies of one name with
// different Domain attributes sends them all, the oldest first
// (RFC 6265 section 5.4).
func cookieValues(h map[string][]string, name string) []string {
	var vs []string
	for _, line := range h["Cookie"] {
		for {
			v, rest, ok := nextCookie(line, name)
			if !ok {
				break
			}
			vs = append(vs, v)
			line = rest
		}
	}
	return vs
}

// nextCookie finds the first cookie name in one Cookie line and returns
// its value and what follows it in the line.
func nextCookie(line, name string) (value, rest string, ok bool) {
	for len(line) > 0 {
		var part string
		if i := strings.IndexByte(line, ';'); i >= 0 {
			part, line = line[:i], line[i+1:]
		} else {
			part, line = line, ""
		}
		part = strings.TrimSpace(part)
		if len(part) > len(name) && part[len(name)] == '=' && part[:len(name)] == name {
			v := part[len(name)+1:]
			if len(v) > 1 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			return v, line, true
		}
	}
	return "", "", false
}

// stripCookie removes the cookie name from the Cookie header, keeping the
// others, so the next handler never sees the session cookie.
func stripCookie(h map[string][]string, name string) {
	if lines := h["Cookie"]; len(lines) == 1 {
		if kept, ok := stripCanonical(lines[0], name); ok {
			if kept == "" {
				delete(h, "Cookie")
			} else {
				lines[0] = kept
			}
			return
		}
	}
	stripCookieParts(h, name)
}

// stripCookieParts is stripCookie for any Cookie header: it splits every
// line into its parts and joins those it keeps with "; ".
func stripCookieParts(h map[string][]string, name string) {
	lines := h["Cookie"]
	if len(lines) == 0 {
		return
	}
	var kept []string
	changed := false
	for _, line := range lines {
		var b strings.Builder
		rest := line
		for len(rest) > 0 {
			var part string
			if i := strings.IndexByte(rest, ';'); i >= 0 {
				part, rest = rest[:i], rest[i+1:]
			} else {
				part, rest = rest, ""
			}
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			if len(part) > len(name) && part[len(name)] == '=' && part[:len(name)] == name {
				changed = true
				continue
			}
			if b.Len() > 0 {
				b.WriteString("; ")
			}
			b.WriteString(part)
		}
		if b.Len() > 0 {
			kept = append(kept, b.String())
		}
	}
	if !changed {
		return
	}
	if len(kept) == 0 {
		delete(h, "Cookie")
		return
	}
	h["Cookie"] = kept
}

// stripCanonical is stripCookie for one line without allocating, in the
// cases where the result is a substring of the line: the line is in the
// form browsers send ("a=1; b=2": parts joined by "; ", none empty or
// padded) and holds the cookie once, first or last, or not at all. ok is
// false otherwise, and stripCookie takes the general way.
func stripCanonical(line, name string) (kept string, ok bool) {
	start, end := -1, -1 // where the cookie's part is
	for pos := 0; ; {
		part := line[pos:]
		i := strings.IndexByte(part, ';')
		if i >= 0 {
			part = part[:i]
		}
		// Bytes outside printable ASCII at either end could be space that
		// TrimSpace would remove.
		if part == "" || part[0] <= ' ' || part[0] >= 0x7f || part[len(part)-1] <= ' ' || part[len(part)-1] >= 0x7f {
			return "", false
		}
		if len(part) > len(name) && part[len(name)] == '=' && part[:len(name)] == name {
			if start >= 0 {
				return "", false
			}
			start, end = pos, pos+len(part)
		}
		if i < 0 {
			break
		}
		pos += i + 1
		if pos >= len(line) || line[pos] != ' ' {
			return "", false
		}
		pos++
	}
	switch {
	case start < 0:
		return line, true
	case start == 0 && end == len(line):
		return "", true
	case start == 0:
		return line[end+2:], true
	case end == len(line):
		return line[:start-2], true
	}
	return "", false
}

// validCookieName reports whether name is an RFC 6265 token.
func validCookieName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", c) >= 0 {
			return false
		}
	}
	return true
}
