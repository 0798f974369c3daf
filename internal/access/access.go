// Package access is the decision of who may pass a plex_auth block: the
// block's rules and what is known of an account in, a tier or a refusal
// with its reason out. It does no I/O and keeps no state; every value it
// builds is never modified afterwards, so it may be shared between
// goroutines.
//
// The facts come from one of two places, and the caller says which by the
// rules it passes:
//
//   - without owner_token, the account's own server list at plex.tv
//     (/api/v2/resources with the account's own token): an entry for a
//     configured server makes the account owner (owned), home (home) or
//     friend there. That list is about devices the account registered
//     itself, and machine identifiers are not secret;
//   - with owner_token, the owner's side: the owner's account id, and the
//     owner's list of people the servers are shared with (/api/users with
//     the owner's token, as Overseerr, Tautulli and python-plexapi read it),
//     compiled by CompileList. The account's own list is not consulted.
//
// A refusal carries its reason, for the log line and for choosing the
// answer (403, or 503 while the block cannot decide: Refusal.Unavailable).
package access

// Refusal is why an account was not admitted; "" admits. Its value is the
// reason written in log and audit lines, and does not change.
type Refusal string

const (
	// RefusedNoAccess: no configured server in the account's own list, or
	// not on the owner's list.
	RefusedNoAccess Refusal = "no_access"
	// RefusedPending: on the owner's list with an invitation to a
	// configured server not accepted yet.
	RefusedPending Refusal = "invitation_pending"
	// RefusedTier: access of a tier the rules do not admit.
	RefusedTier Refusal = "tier_not_allowed"
	// RefusedNotListed: the rules have an allow_users list and it does not
	// name the account. It is decided before the servers.
	RefusedNotListed Refusal = "not_in_allow_users"
	// RefusedSetup: the owner_token's account does not own every
	// configured server, so its list says nothing about who may enter.
	RefusedSetup Refusal = "setup_needs_attention"
	// RefusedNoList: owner mode, and no list of the owner's has been read
	// or stored yet.
	RefusedNoList Refusal = "owner_list_unavailable"
)

// Unavailable reports whether the refusal is the block being unable to
// decide (RefusedSetup, RefusedNoList: 503) rather than a decision about
// the account (403).
func (r Refusal) Unavailable() bool { return r == RefusedSetup || r == RefusedNoList }

// Decision is a tier, or a refusal. Tier is set only when Refusal is "",
// and then only when the rules name a server: it is then TierOwner,
// TierHome or TierFriend.
type Decision struct {
	Tier    string
	Refusal Refusal
}

// Rules are the access rules of one block.
type Rules struct {
	// Users is allow_users compiled; nil: not set, the servers decide
	// alone. When set, it must name the account as well.
	Users *AllowList
	// Servers are the machine identifiers of the configured servers. None:
	// the account is decided by Users alone (allow_users,
	// allow_any_plex_user) and admitted without a tier.
	Servers []string
	// Tiers are the admitted tiers, keyed by the Tier constants.
	Tiers map[string]bool
	// Owner: owner_token is set, decide from the owner's side (the
	// OwnerView passed to Decide), never from Facts.Devices.
	Owner bool
}

// Facts are what is known of the account asking.
type Facts struct {
	// ID is the Plex account id; ids <= 0 are on no list.
	ID int64
	// FoldedUsername and FoldedEmail are the account's username and email
	// through FoldASCII, for Rules.Users; the caller folds them once per
	// account, not per decision. Not read when Rules.Users is nil.
	FoldedUsername, FoldedEmail string
	// Devices maps machine identifiers of the servers in the account's own
	// list at plex.tv to its tier there. Not consulted in owner mode.
	Devices map[string]string
}

// OwnerView is what the owner's side said last: a list, and whether the
// block's set-up needs attention.
type OwnerView struct {
	List    *List // nil: none read or stored yet
	Problem OwnerProblem
}

// OwnerProblem is what keeps a block with owner_token from working normally.
type OwnerProblem int

const (
	// OwnerOK: nothing is wrong.
	OwnerOK OwnerProblem = iota
	// OwnerNotOwned: a configured server is not owned by the token's
	// account. Decide refuses everyone with RefusedSetup.
	OwnerNotOwned
	// OwnerTokenRejected: plex.tv refused the token. Decide goes on
	// deciding from the last List; what sign-ins do is the caller's.
	OwnerTokenRejected
)

// Decide is the decision: allow_users first (Rules.Users), then the tier
// the account holds on the configured servers and whether Rules.Tiers
// admits it. owner is what the owner's side said, read only when
// Rules.Owner is set (nil there refuses with RefusedNoList). Decide does
// not allocate.
//
// Device mode (Rules.Owner unset): the best admitted tier among the
// configured servers the account's own list names; RefusedTier when it
// reaches one only with tiers not admitted, RefusedNoAccess when it
// reaches none. Owner mode: the tier the owner's list gives the account
// id (List.TierOf), RefusedPending for an invitation not accepted,
// RefusedNoAccess otherwise, RefusedTier for a tier not admitted.
func Decide(r Rules, owner *OwnerView, a Facts) Decision {
	if r.Users != nil && !r.Users.Match(a.ID, a.FoldedUsername, a.FoldedEmail) {
		return Decision{Refusal: RefusedNotListed}
	}
	if len(r.Servers) == 0 {
		return Decision{}
	}
	if r.Owner {
		switch {
		case owner != nil && owner.Problem == OwnerNotOwned:
			return Decision{Refusal: RefusedSetup}
		case owner == nil || owner.List == nil:
			return Decision{Refusal: RefusedNoList}
		}
		t := owner.List.TierOf(a.ID)
		switch {
		case t == "":
			if _, ok := owner.List.pending[a.ID]; ok {
				return Decision{Refusal: RefusedPending}
			}
			return Decision{Refusal: RefusedNoAccess}
		case !r.Tiers[t]:
			return Decision{Refusal: RefusedTier}
		}
		return Decision{Tier: t}
	}
	best, reachable := "", false
	for _, id := range r.Servers {
		t := a.Devices[id]
		if TierRank(t) == 0 {
			continue
		}
		reachable = true
		if r.Tiers[t] && TierRank(t) > TierRank(best) {
			best = t
		}
	}
	switch {
	case best != "":
		return Decision{Tier: best}
	case reachable:
		return Decision{Refusal: RefusedTier}
	}
	return Decision{Refusal: RefusedNoAccess}
}
