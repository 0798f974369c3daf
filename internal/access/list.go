package access

import (
	"maps"
	"slices"
)

// List is the owner's list, reduced to the configured servers: who holds
// which tier. It is never modified once built.
type List struct {
	ownerID int64
	home    map[int64]struct{}
	friends map[int64]struct{} // an accepted share of a configured server
	pending map[int64]struct{} // an invitation to a configured server, not accepted
}

// SharedUser is one entry of the owner's list of shared users (a User of
// plex.tv's GET /api/users), in the terms CompileList needs.
type SharedUser struct {
	ID      int64
	Home    bool           // a member of the owner's Plex Home
	Servers []SharedServer // the owner's servers shared with this user
}

// SharedServer is one of the owner's servers shared with a SharedUser.
type SharedServer struct {
	MachineIdentifier string
	Pending           bool // invited, not accepted yet: no access
}

// CompileList reduces the owner's list of shared users to what the
// decision needs for the configured servers. A user is a home member when
// Home is set; a friend when one of its Servers is a configured server
// (machine identifiers compared exactly) and is not pending; invited when
// one is pending. Entries with an id <= 0 are dropped, and the owner's own
// id is decided as the owner whatever the list says of it. users and
// servers are not kept.
func CompileList(ownerID int64, users []SharedUser, servers []string) *List {
	l := &List{
		ownerID: ownerID,
		home:    make(map[int64]struct{}),
		friends: make(map[int64]struct{}),
		pending: make(map[int64]struct{}),
	}
	for _, u := range users {
		id := u.ID
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

// TierOf is the tier the list gives the account id (TierOwner for the
// owner's id, then TierHome, then TierFriend), or "" for ids <= 0 and ids
// it does not admit, invited ones included.
func (l *List) TierOf(id int64) string {
	if id <= 0 {
		return ""
	}
	if id == l.ownerID {
		return TierOwner
	}
	if _, ok := l.home[id]; ok {
		return TierHome
	}
	if _, ok := l.friends[id]; ok {
		return TierFriend
	}
	return ""
}

// Counts says how many home members, friends and invited accounts the list
// holds (an account can be counted in more than one), for log lines.
func (l *List) Counts() (home, friends, pending int) {
	return len(l.home), len(l.friends), len(l.pending)
}

// Members is a List in plain form, for keeping it and reading it back
// (NewList). Each set of ids is sorted ascending, nil when empty.
type Members struct {
	OwnerID int64
	Home    []int64
	Friends []int64
	Pending []int64
}

// Members is the list in plain form; NewList(l.Members()) decides as l.
func (l *List) Members() Members {
	return Members{OwnerID: l.ownerID, Home: sortedIDs(l.home), Friends: sortedIDs(l.friends), Pending: sortedIDs(l.pending)}
}

// NewList is the List m describes, ids <= 0 dropped from its sets. It
// does not check m.OwnerID: with one <= 0, the list gives nobody
// TierOwner.
func NewList(m Members) *List {
	return &List{ownerID: m.OwnerID, home: idSet(m.Home), friends: idSet(m.Friends), pending: idSet(m.Pending)}
}

func sortedIDs(m map[int64]struct{}) []int64 {
	return slices.Sorted(maps.Keys(m))
}

func idSet(ids []int64) map[int64]struct{} {
	m := make(map[int64]struct{}, len(ids))
	for _, id := range ids {
		if id > 0 {
			m[id] = struct{}{}
		}
	}
	return m
}
