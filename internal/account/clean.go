package account

import (
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/caddy-plexauth/caddy-plexauth/internal/plextv"
	"github.com/caddy-plexauth/caddy-plexauth/internal/session"
)

// Account values come from plex.tv as their owner typed them, and go on
// into request headers, placeholders, logs and the session store. A line
// break in a display name made every request of that account fail (the
// upstream request could not be written), and a username of megabytes was
// stored and logged. So they are cleaned once, when a session is made from
// plex.tv's answer, at sign-in and at every re-check.

// MaxValue caps each cleaned value, in bytes.
const MaxValue = 256

// NewSession makes the content of a session from what plex.tv said of the
// token's account and the servers it reaches (machine identifier → tier),
// its values cleaned (Clean) and the session prepared (Session.Prepare).
func NewSession(u *plextv.Account, servers map[string]string, token string) *session.Session {
	s := &session.Session{
		UserID:   u.ID,
		UUID:     Clean(u.UUID),
		Username: Clean(u.Username),
		Email:    Clean(u.Email),
		Title:    Clean(u.Title),
		Thumb:    avatarURL(u.Thumb),
		Servers:  servers,
		Token:    token,
	}
	s.Prepare()
	return s
}

// avatarURL is the account's avatar URL if it is a clean https URL of at
// most MaxValue bytes (plex.tv's are https://plex.tv/users/<uuid>/avatar?c=…),
// else "": it goes to OpenID Connect clients as `picture`, which they may
// show in a page.
func avatarURL(v string) string {
	if len(v) > MaxValue || !isClean(v) || !strings.HasPrefix(v, "https://") || strings.ContainsAny(v, " \"<>\\`") {
		return ""
	}
	if u, err := url.Parse(v); err != nil || u.Host == "" || u.User != nil {
		return ""
	}
	return v
}

// Clean drops control characters (C0, DEL, C1) and bytes that
// are not UTF-8 from v, and cuts the rest to at most MaxValue bytes,
// between two characters.
func Clean(v string) string {
	if len(v) <= MaxValue && isClean(v) {
		return v
	}
	var b strings.Builder
	b.Grow(min(len(v), MaxValue))
	for i := 0; i < len(v); {
		r, size := utf8.DecodeRuneInString(v[i:])
		c := v[i : i+size]
		i += size
		if r == utf8.RuneError && size == 1 || unicode.IsControl(r) {
			continue
		}
		if b.Len()+size > MaxValue {
			break
		}
		b.WriteString(c)
	}
	return b.String()
}

func isClean(v string) bool {
	for i := 0; i < len(v); {
		r, size := utf8.DecodeRuneInString(v[i:])
		if r == utf8.RuneError && size == 1 || unicode.IsControl(r) {
			return false
		}
		i += size
	}
	return true
}
