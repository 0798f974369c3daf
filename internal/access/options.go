package access

import (
	"fmt"
	"strings"
)

// Options are a block's admission options as the operator wrote them,
// before they are compiled into Rules.
type Options struct {
	Servers     []string // server: machine identifiers
	Tiers       []string // allow_tier, as written
	Users       []string // allow_users, as written
	AnyPlexUser bool     // allow_any_plex_user
	OwnerToken  bool     // owner_token is set
}

// Problem says what is wrong with the combination of options, as a
// sentence for a config error, or "" when nothing is. The Caddyfile parser
// and Validate both ask it, so the rule is stated once; the sentences do
// not change (operators and tests match them).
func (o Options) Problem() string {
	switch {
	case len(o.Tiers) > 0 && len(o.Servers) == 0:
		return "allow_tier needs server: tiers are kinds of access to a Plex server (add `server <machineIdentifier>`)"
	case len(o.Servers) == 0 && len(o.Users) == 0 && !o.AnyPlexUser:
		return "plex_auth needs server, allow_users or allow_any_plex_user: refusing to admit every Plex account by default"
	case o.AnyPlexUser && (len(o.Servers) > 0 || len(o.Users) > 0):
		return "allow_any_plex_user cannot be combined with server or allow_users"
	case o.OwnerToken && len(o.Servers) == 0:
		return "owner_token needs server: it reads who that server is shared with"
	}
	return ""
}

// Describe says in words whom the options admit, for the start-up log
// line: "any Plex account", the tiers of the servers (all three when
// allow_tier is not set), and how many accounts allow_users lists.
func (o Options) Describe() string {
	if o.AnyPlexUser {
		return "any Plex account"
	}
	var parts []string
	if len(o.Servers) > 0 {
		tiers := o.Tiers
		if len(tiers) == 0 {
			tiers = []string{TierOwner, TierHome, TierFriend}
		}
		parts = append(parts, fmt.Sprintf("%s of server %s", strings.Join(tiers, ", "), strings.Join(o.Servers, ", ")))
	}
	if len(o.Users) > 0 {
		parts = append(parts, fmt.Sprintf("%d account(s) listed in allow_users", len(o.Users)))
	}
	return strings.Join(parts, ", and only ")
}

// Mode names what the access of options that passed Problem is decided
// from, for the start-up line: a mode (owner_list, account_resources,
// allow_users, any_plex_account) and the same in words.
func (o Options) Mode() (mode, from string) {
	switch {
	case o.OwnerToken && len(o.Servers) > 0:
		return "owner_list", "the owner's list of people the servers are shared with, read with owner_token"
	case len(o.Servers) > 0:
		return "account_resources", "each signing-in account's own server list at plex.tv; set owner_token to decide from the owner's side"
	case len(o.Users) > 0:
		return "allow_users", "the allow_users list alone"
	}
	return "any_plex_account", "nothing: every Plex account is admitted"
}

// CheckServerID refuses what people put in `server` instead of a machine
// identifier: a URL, an address or a host name, or anything but letters,
// digits, '-' and '_' between 16 and 128 characters. Plex shows the
// identifier at http://<server>:32400/identity (machineIdentifier, 40 hex
// characters). A placeholder ("{…}") is let through, to be expanded. The
// error names the value and says where to find the identifier.
func CheckServerID(id string) error {
	const where = "open http://<your-plex>:32400/identity and copy machineIdentifier (40 hex characters)"
	if strings.HasPrefix(id, "{") && strings.HasSuffix(id, "}") {
		return nil
	}
	switch {
	case strings.Contains(id, "://"):
		return fmt.Errorf("%q is a URL, not a Plex machine identifier: %s", id, where)
	case strings.ContainsAny(id, ".:/[]"):
		return fmt.Errorf("%q looks like an address or host name, not a Plex machine identifier: %s", id, where)
	case len(id) < 16 || len(id) > 128:
		return fmt.Errorf("%q is too short or too long to be a Plex machine identifier: %s", id, where)
	}
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_') {
			return fmt.Errorf("%q has %q, which no Plex machine identifier has: %s", id, c, where)
		}
	}
	return nil
}
