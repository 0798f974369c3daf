package access

import (
	"strings"
	"testing"
)

// machineID is a machine identifier of the shape Plex gives (40 hex
// characters).
const machineID = "9f1c2e3d4b5a6978a1b2c3d4e5f60718293a4b5c"

// The start-up line says whom the block admits.
func TestStartLineSaysWhomTheBlockAdmits(t *testing.T) {
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{AnyPlexUser: true}, "any Plex account"},
		{Options{Servers: []string{"s1", "s2"}}, "owner, home, friend of server s1, s2"},
		{Options{Servers: []string{"s1"}, Tiers: []string{"home"}}, "home of server s1"},
		{Options{Users: []string{"a", "b"}}, "2 account(s) listed in allow_users"},
		{Options{Servers: []string{"s1"}, Users: []string{"a"}}, "owner, home, friend of server s1, and only 1 account(s) listed in allow_users"},
	} {
		if got := c.o.Describe(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.o, got, c.want)
		}
	}
}

// Each combination of admission options that cannot work is refused with
// its own sentence, word for word (the Caddyfile and Validate show it), and
// the combinations that work pass.
func TestOptionsProblemNamesEachBadCombination(t *testing.T) {
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{}, "plex_auth needs server, allow_users or allow_any_plex_user: refusing to admit every Plex account by default"},
		{Options{Tiers: []string{"owner"}}, "allow_tier needs server: tiers are kinds of access to a Plex server (add `server <machineIdentifier>`)"},
		{Options{Users: []string{"a"}, Tiers: []string{"owner"}}, "allow_tier needs server: tiers are kinds of access to a Plex server (add `server <machineIdentifier>`)"},
		{Options{AnyPlexUser: true, Servers: []string{"s"}}, "allow_any_plex_user cannot be combined with server or allow_users"},
		{Options{AnyPlexUser: true, Users: []string{"a"}}, "allow_any_plex_user cannot be combined with server or allow_users"},
		{Options{Users: []string{"a"}, OwnerToken: true}, "owner_token needs server: it reads who that server is shared with"},
		{Options{AnyPlexUser: true, OwnerToken: true}, "owner_token needs server: it reads who that server is shared with"},
		{Options{Servers: []string{"s"}}, ""},
		{Options{Servers: []string{"s"}, Tiers: []string{"home"}, Users: []string{"a"}, OwnerToken: true}, ""},
		{Options{Users: []string{"a"}}, ""},
		{Options{AnyPlexUser: true}, ""},
	} {
		if got := c.o.Problem(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.o, got, c.want)
		}
	}
}

// The access mode of the start-up line follows what decides: the owner's
// list only with owner_token and a server, then the servers, then
// allow_users alone, then nothing.
func TestOptionsModeSaysWhatDecides(t *testing.T) {
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{Servers: []string{"s"}, OwnerToken: true}, "owner_list"},
		{Options{Servers: []string{"s"}, Users: []string{"a"}}, "account_resources"},
		{Options{Users: []string{"a"}, OwnerToken: true}, "allow_users"},
		{Options{Users: []string{"a"}}, "allow_users"},
		{Options{AnyPlexUser: true}, "any_plex_account"},
	} {
		mode, from := c.o.Mode()
		if mode != c.want || from == "" {
			t.Errorf("%+v: mode %q (%q), want %q", c.o, mode, from, c.want)
		}
	}
}

// A machine identifier is letters, digits, '-' and '_'; every other byte
// is refused, wherever it is.
func TestServerIDTakesOnlyLettersDigitsDashAndUnderscore(t *testing.T) {
	for c := 0; c < 256; c++ {
		ok := c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_'
		for _, id := range []string{string(rune(c)) + machineID[1:], machineID[:20] + string([]byte{byte(c)}) + machineID[21:]} {
			if err := CheckServerID(id); (err == nil) != ok {
				t.Errorf("CheckServerID(%q) = %v, want accepted %v", id, err, ok)
			}
		}
	}
}

// What people put in `server` instead of an identifier is refused for what
// it is, with where to find the identifier; a placeholder, and only a
// whole one, is let through.
func TestServerIDRefusesURLsAddressesAndOddLengths(t *testing.T) {
	for id, want := range map[string]string{
		"http://192.168.1.2:32400": "is a URL",
		"192.168.1.2":              "looks like an address or host name",
		"plex.example.com":         "looks like an address or host name",
		"[::1]":                    "looks like an address or host name",
		"abc":                      "is too short or too long",
		strings.Repeat("a", 129):   "is too short or too long",
		machineID + "}":            `has '}'`, // a brace it did not open: no placeholder
		"{" + machineID:            `has '{'`,
	} {
		err := CheckServerID(id)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "machineIdentifier (40 hex characters)") {
			t.Errorf("CheckServerID(%q) = %v, want an error saying %q and where the identifier is", id, err, want)
		}
	}
	for _, id := range []string{"{env.PLEX_SERVER}", machineID, strings.Repeat("a", 16), strings.Repeat("A", 128)} {
		if err := CheckServerID(id); err != nil {
			t.Errorf("CheckServerID(%q) = %v, want nil", id, err)
		}
	}
}
