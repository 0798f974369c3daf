package access

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// AllowList is allow_users compiled. Each entry names one kind of value,
// by its shape, so that no field of an account can stand in for another
// (a username "1001" for account id 1001, a username shaped like someone's
// email): all digits is an account id, an entry with @ an email, anything
// else a username. Emails and usernames are compared ignoring ASCII case
// only (FoldASCII); Unicode case folding would let "\u212aevin" (KELVIN
// SIGN) pass as "kevin". It is never modified once built.
type AllowList struct {
	ids       map[int64]struct{}
	emails    map[string]struct{} // folded by FoldASCII
	usernames map[string]struct{} // folded by FoldASCII
}

// NewAllowList compiles allow_users; nil, and no error, when there are no
// entries. The error is AllowUserError's sentence for the first bad entry.
func NewAllowList(entries []string) (*AllowList, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	l := &AllowList{ids: map[int64]struct{}{}, emails: map[string]struct{}{}, usernames: map[string]struct{}{}}
	for _, e := range entries {
		if msg := AllowUserError(e); msg != "" {
			return nil, errors.New(msg)
		}
		switch {
		case allDigits(e):
			id, _ := strconv.ParseInt(e, 10, 64)
			l.ids[id] = struct{}{}
		case strings.Contains(e, "@"):
			l.emails[FoldASCII(e)] = struct{}{}
		default:
			l.usernames[FoldASCII(e)] = struct{}{}
		}
	}
	return l, nil
}

// AllowUserError says what is wrong with one allow_users entry, as a
// sentence beginning "allow_users: " for a config error, or "" when
// nothing is: an entry must not be empty, and one of digits only must fit
// an int64 account id.
func AllowUserError(e string) string {
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

// Admits reports whether the list names the account: its id, its
// username or its email. An empty username or email matches nothing.
func (l *AllowList) Admits(id int64, username, email string) bool {
	return l.Match(id, FoldASCII(username), FoldASCII(email))
}

// Match is Admits for a username and email already through FoldASCII (the
// caller folds once per account); it does not allocate.
func (l *AllowList) Match(id int64, foldedUsername, foldedEmail string) bool {
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

// FoldASCII lower-cases the ASCII letters A to Z and leaves every other
// byte as it is, so that only ASCII case is ignored. It returns s itself,
// without allocating, when s has no upper-case ASCII letter.
func FoldASCII(s string) string {
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
