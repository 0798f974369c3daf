package access

import "strings"

// Tiers of access to a Plex Media Server, as Rules.Tiers, Facts.Devices and
// Decision.Tier spell them.
const (
	TierOwner  = "owner"  // the account owns the server
	TierHome   = "home"   // a member of the owner's Plex Home
	TierFriend = "friend" // the server is shared with the account
)

// TierRank orders the tiers: 3 for TierOwner, 2 for TierHome, 1 for
// TierFriend, and 0 for anything else, which is no tier (compared exactly,
// case included).
func TierRank(t string) int {
	switch t {
	case TierOwner:
		return 3
	case TierHome:
		return 2
	case TierFriend:
		return 1
	}
	return 0
}

// ValidTier reports whether t names a tier once lower-cased
// (strings.ToLower), as allow_tier accepts it.
func ValidTier(t string) bool { return TierRank(strings.ToLower(t)) > 0 }
