package plexauth

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// allowList is allow_users compiled. Each entry names one kind of value,
// by its shape, so that no field of an account can stand in for another
// (a username "1001" for account id 1001, a username shaped like someone's
// email): all digits is an account id, an entry with @ an email, anything
// else a username. Emails and usernames are compared ignoring ASCII case
// only; Unicode case folding would let "\u212aevin" (KELVIN SIGN) pass as
// "kevin".
type allowList struct {
	ids       map[int64]struct{}
	emails    map[string]struct{} // folded by foldASCII
	usernames map[string]struct{} // folded by foldASCII
}

// newAllowList compiles allow_users; nil when there are no entries.
func newAllowList(entries []string) (*allowList, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	l := &allowList{ids: map[int64]struct{}{}, emails: map[string]struct{}{}, usernames: map[string]struct{}{}}
	for _, e := range entries {
		if msg := allowUserError(e); msg != "" {
			return nil, errors.New(msg)
		}
		switch {
		case allDigits(e):
			id, _ := strconv.ParseInt(e, 10, 64)
			l.ids[id] = struct{}{}
		case strings.Contains(e, "@"):
			l.emails[foldASCII(e)] = struct{}{}
		default:
			l.usernames[foldASCII(e)] = struct{}{}
		}
	}
	return l, nil
}

// allowUserError says what is wrong with an allow_users entry, or "".
func allowUserError(e string) string {
	if e == "" {
		return "allow_users: an entry is empty"
	}
	if allDigits(e) {
		if _, err := strconv.ParseInt(e, 10, 64); err != nil {
			return fmt.Sprintf("allow_users: %q is all digits, so it names a Plex account id, and it is too large to be one", e)
		}
	}
	return ""
}

// admits reports whether the list names the account.
func (l *allowList) admits(id int64, username, email string) bool {
	return l.match(id, foldASCII(username), foldASCII(email))
}

// match is admits for values already folded (Session.prepare does it once).
func (l *allowList) match(id int64, foldedUsername, foldedEmail string) bool {
	if _, ok := l.ids[id]; ok {
		return true
	}
	if _, ok := l.usernames[foldedUsername]; ok && foldedUsername != "" {
		return true
	}
	_, ok := l.emails[foldedEmail]
	return ok && foldedEmail != ""
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// foldASCII lower-cases ASCII letters and leaves every other byte as it is.
func foldASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
