package plexauth

import (
	"slices"

	"github.com/caddy-plexauth/caddy-plexauth/internal/plextv"
)

// Who may pass a plex_auth block is decided here, in one pure function, from
// the block's rules and the facts known about the account. The facts come
// from one of two places:
//
//   - without owner_token, the account's own server list at plex.tv
//     (/api/v2/resources with the account's own token): an entry for a
//     configured server makes the account owner (owned), home (home) or
//     friend there. That list is about devices the account registered
//     itself, and machine identifiers are not secret;
//   - with owner_token, the owner's side: the owner's account id, and the
//     owner's list of people the servers are shared with (/api/users with
//     the owner's token, as Overseerr, Tautulli and python-plexapi read it).
//     The account's own list is not consulted.
//
// A refusal carries its reason, for the log line and for choosing the
// answer (403, or 503 while the block cannot decide).

// Tiers of access to a Plex Media Server.
const (
	tierOwner  = "owner"
	tierHome   = "home"
	tierFriend = "friend"
)

// refusal is why an account was not admitted; "" admits.
type refusal string

const (
	// refusedNoAccess: no configured server in the account's own list, or
	// not on the owner's list.
	refusedNoAccess refusal = "no_access"
	// refusedPending: on the owner's list with an invitation to a
	// configured server not accepted yet.
	refusedPending refusal = "invitation_pending"
	// refusedTier: access of a tier allow_tier does not admit.
	refusedTier refusal = "tier_not_allowed"
	// refusedNotListed: allow_users is set and does not name the account
	// (decided in rules.go, before decideAccess).
	refusedNotListed refusal = "not_in_allow_users"
	// refusedSetup: the owner_token's account does not own every
	// configured server, so its list says nothing about who may enter.
	refusedSetup refusal = "setup_needs_attention"
	// refusedNoList: owner mode, and no list of the owner's has been read
	// or stored yet.
	refusedNoList refusal = "owner_list_unavailable"
)

// unavailable reports whether the refusal is the block being unable to
// decide (503) rather than a decision about the account (403).
func (r refusal) unavailable() bool { return r == refusedSetup || r == refusedNoList }

// decision is a tier, or a refusal.
type decision struct {
	tier    string // owner, home or friend; "" when no server is configured
	refusal refusal
}

// accessRules are the server-related rules of one block.
type accessRules struct {
	servers []string        // machine identifiers; none: the account decides alone (allow_users, allow_any_plex_user)
	tiers   map[string]bool // admitted tiers
	owner   bool            // owner_token is set: decide from the owner's side
}

// accountFacts is what is known of the account asking.
type accountFacts struct {
	id int64
	// devices maps machine identifiers of the servers in the account's own
	// list at plex.tv to its tier there. Not consulted in owner mode.
	devices map[string]string
}

// ownerView is what the owner's side said last: a list, and whether the
// block's set-up needs attention.
type ownerView struct {
	list    *accessList // nil: none read or stored yet
	problem ownerProblem
}

// ownerProblem is what keeps a block with owner_token from working normally.
type ownerProblem int

const (
	ownerOK ownerProblem = iota
	// ownerNotOwned: a configured server is not owned by the token's
	// account. Nothing is decided until a reload.
	ownerNotOwned
	// ownerTokenRejected: plex.tv refused the token. Signed-in users are
	// decided from the last list; sign-ins wait for a reload.
	ownerTokenRejected
)

// accessList is the owner's list, reduced to the configured servers: who
// holds which tier. It is never modified once built.
type accessList struct {
	ownerID int64
	home    map[int64]struct{}
	friends map[int64]struct{} // an accepted share of a configured server
	pending map[int64]struct{} // an invitation to a configured server, not accepted
}

// compileAccessList reduces the owner's list of shared users to what the
// decision needs for the configured servers. A User is a home member when
// home is set; a friend when one of its Server children is a configured
// server and is not pending. Entries without a valid id are dropped, and
// the owner's own id is decided as the owner whatever the list says of it.
func compileAccessList(ownerID int64, users []plextv.SharedUser, servers []string) *accessList {
	l := &accessList{
		ownerID: ownerID,
		home:    make(map[int64]struct{}),
		friends: make(map[int64]struct{}),
		pending: make(map[int64]struct{}),
	}
	for _, u := range users {
		id := int64(u.ID)
		if id <= 0 || id == ownerID {
			continue
		}
		if u.Home {
			l.home[id] = struct{}{}
		}
		for _, s := range u.Servers {
			if !slices.Contains(servers, s.MachineIdentifier) {
				continue
			}
			if s.Pending {
				l.pending[id] = struct{}{}
			} else {
				l.friends[id] = struct{}{}
			}
		}
	}
	return l
}

// tierOf is the tier the list gives the account id, or "".
func (l *accessList) tierOf(id int64) string {
	if id <= 0 {
		return ""
	}
	if id == l.ownerID {
		return tierOwner
	}
	if _, ok := l.home[id]; ok {
		return tierHome
	}
	if _, ok := l.friends[id]; ok {
		return tierFriend
	}
	return ""
}

// decideAccess is the decision: the tier the account holds on the
// configured servers and whether the rules admit it. owner is what the
// owner's side said (owner mode only). allow_users and ended sessions are
// checked before this (rules.go).
func decideAccess(r accessRules, owner *ownerView, a accountFacts) decision {
	if len(r.servers) == 0 {
		return decision{}
	}
	if r.owner {
		switch {
		case owner != nil && owner.problem == ownerNotOwned:
			return decision{refusal: refusedSetup}
		case owner == nil || owner.list == nil:
			return decision{refusal: refusedNoList}
		}
		t := owner.list.tierOf(a.id)
		switch {
		case t == "":
			if _, ok := owner.list.pending[a.id]; ok {
				return decision{refusal: refusedPending}
			}
			return decision{refusal: refusedNoAccess}
		case !r.tiers[t]:
			return decision{refusal: refusedTier}
		}
		return decision{tier: t}
	}
	best, reachable := "", false
	for _, id := range r.servers {
		t := a.devices[id]
		if tierRank(t) == 0 {
			continue
		}
		reachable = true
		if r.tiers[t] && tierRank(t) > tierRank(best) {
			best = t
		}
	}
	switch {
	case best != "":
		return decision{tier: best}
	case reachable:
		return decision{refusal: refusedTier}
	}
	return decision{refusal: refusedNoAccess}
}
