package access

import (
	"strings"
	"testing"
)

func TestAllowUsersEntriesAreTyped(t *testing.T) {
	type account struct {
		id              int64
		username, email string
	}
	alice := account{1001, "alice", "alice@example.com"}
	cases := []struct {
		name    string
		entries []string
		acct    account
		want    bool
	}{
		{"id", []string{"1001"}, alice, true},
		{"id with leading zeros", []string{"0001001"}, alice, true},
		{"other id", []string{"1002"}, alice, false},
		{"username that is all digits is not an id", []string{"1001"}, account{2002, "1001", "x@example.com"}, false},
		{"username", []string{"alice"}, alice, true},
		{"username, ASCII case ignored", []string{"ALICE"}, alice, true},
		{"username entry does not match the email's local part", []string{"alice"}, account{3, "bob", "alice"}, false},
		{"email", []string{"Alice@Example.COM"}, alice, true},
		{"username shaped like the email entry", []string{"alice@example.com"}, account{4, "alice@example.com", "mallory@example.com"}, false},
		{"email entry never matches an empty email", []string{"@"}, account{5, "x", ""}, false},
		{"KELVIN SIGN is not K", []string{"kevin"}, account{6, "\u212aevin", "k@example.com"}, false},
		{"KELVIN SIGN entry is not K either", []string{"\u212aevin"}, account{6, "kevin", "k@example.com"}, false},
		{"non-ASCII exact", []string{"\u212aevin"}, account{6, "\u212aevin", "k@example.com"}, true},
		{"non-ASCII case not folded", []string{"ÉLODIE"}, account{7, "élodie", "e@example.com"}, false},
		{"dotless i is not i", []string{"admin"}, account{8, "admın", "a@example.com"}, false},
		{"long s is not s", []string{"sam"}, account{9, "ſam", "s@example.com"}, false},
		{"fullwidth is not ASCII", []string{"alice"}, account{10, "ａｌｉｃｅ", "a@example.com"}, false},
		{"email with a KELVIN SIGN", []string{"k@k.example"}, account{11, "k", "k@\u212a.example"}, false},
		{"trailing NUL", []string{"alice"}, account{12, "alice\x00", "a@example.com"}, false},
		{"empty username never matches", []string{"1001"}, account{13, "", ""}, false},
		{"one of several", []string{"bob", "42", "alice@example.com"}, alice, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l, err := NewAllowList(c.entries)
			if err != nil {
				t.Fatal(err)
			}
			if got := l.Admits(c.acct.id, c.acct.username, c.acct.email); got != c.want {
				t.Fatalf("allow_users %q admits %+v = %v, want %v", c.entries, c.acct, got, c.want)
			}
		})
	}
	for _, bad := range []string{"", "99999999999999999999"} {
		if _, err := NewAllowList([]string{bad}); err == nil {
			t.Errorf("entry %q accepted", bad)
		}
		if msg := AllowUserError(bad); !strings.HasPrefix(msg, "allow_users: ") {
			t.Errorf("entry %q: AllowUserError = %q, want a sentence naming allow_users", bad, msg)
		}
	}
	if l, err := NewAllowList(nil); l != nil || err != nil {
		t.Errorf("no entries: %v, %v; want nil, nil", l, err)
	}
}
