package plexauth

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/caddy-plexauth/caddy-plexauth/internal/access"
)

func TestAllowUsersEntriesMatchOnlyTheirKindThroughCaddy(t *testing.T) {
	e := newEnv(t, basicSite)
	friend, homie := e.plex.Account("friend"), e.plex.Account("homie")
	// Accounts whose username is shaped like another kind of entry.
	for _, name := range []string{
		strconv.Itoa(friend.ID), // a username equal to friend's account id
		homie.Email,             // a username equal to homie's email
		"\u212aevin",            // KELVIN SIGN: Unicode lower-cases it to "k"
		"kevin",
	} {
		e.plex.AddAccount(name)
	}
	e.load(`http://localhost:SITEPORT {
	plex_auth {
		allow_users ` + strconv.Itoa(friend.ID) + ` KEVIN HOMIE@example.COM
		{PLEX}
	}
	reverse_proxy {UP}
}`)
	for _, c := range []struct {
		account string
		want    int
	}{
		{"friend", http.StatusFound},                    // by id
		{strconv.Itoa(friend.ID), http.StatusForbidden}, // username is not an id
		{"kevin", http.StatusFound},                     // by username, ASCII case ignored
		{"\u212aevin", http.StatusForbidden},            // non-ASCII compared exactly
		{"homie", http.StatusFound},                     // by email, ASCII case ignored
		{homie.Email, http.StatusForbidden},             // username is not an email
		{"owner", http.StatusForbidden},
	} {
		t.Run(c.account, func(t *testing.T) {
			resp, body := e.signIn(newBrowser(t), c.account, "/")
			expectStatus(t, resp, c.want, body)
		})
	}
}

// A bad allow_users entry is refused when the Caddyfile is read, with the
// line it is on (the entries' rules are internal/access's).
func TestAllowUsersBadEntriesInTheCaddyfile(t *testing.T) {
	for _, bad := range []string{"", "99999999999999999999"} {
		if _, err := parse(t, "plex_auth {\n\tallow_users ok \""+bad+"\"\n}"); err == nil || !strings.Contains(err.Error(), "allow_users") || !strings.HasSuffix(err.Error(), ":2") {
			t.Errorf("Caddyfile entry %q: err = %v, want one naming allow_users and line 2", bad, err)
		}
	}
}

// The session folds its username and email with its own copy of
// access.FoldASCII; allow_users entries are folded with access's. They
// must agree, or a listed account would be refused (or another admitted).
func TestSessionFoldsAsAllowUsersDo(t *testing.T) {
	// The session's fold, as allow_users reads it.
	foldASCII := func(v string) string {
		s := &Session{Username: v}
		s.Prepare()
		return s.FoldedUsername()
	}
	for _, v := range []string{"alice", "ALICE", "Alice@Example.COM", "\u212aevin", "ÉLODIE", "admİn", "ſam", "ＡＬＩＣＥ", "a\x00B", "\xffZ", "@", "[\\]^_`{", "@ZZ"} {
		if got, want := foldASCII(v), access.FoldASCII(v); got != want {
			t.Errorf("foldASCII(%q) = %q, access.FoldASCII = %q", v, got, want)
		}
		// Listed as written, the account is admitted whatever ASCII case
		// the entry has.
		upper := []byte(v) // ASCII letters only: bytes, so invalid UTF-8 stays as it is
		for i, c := range upper {
			if 'a' <= c && c <= 'z' {
				upper[i] = c - ('a' - 'A')
			}
		}
		for _, entry := range []string{v, string(upper)} {
			l, err := access.NewAllowList([]string{entry})
			if err != nil {
				t.Fatal(err)
			}
			s := &Session{UserID: 1, Username: v, Email: v}
			s.Prepare()
			if !l.Match(s.UserID, s.FoldedUsername(), s.FoldedEmail()) {
				t.Errorf("allow_users %q does not admit the session of %q", entry, v)
			}
		}
	}
	if foldASCII("") != "" || access.FoldASCII("") != "" {
		t.Error("the empty string folds to something")
	}
}
