package ownerlist

import "github.com/caddy-plexauth/caddy-plexauth/internal/access"

// What a sign-in asks of a block's list: whether it can go on at all, and
// a read on demand for an account not on it.

// CanSignIn reports whether a sign-in can go on. It cannot while the
// set-up needs attention (setup: the token's account does not own the
// servers, or plex.tv rejected the token), nor while no list of the
// owner's is known; in that case it first asks for one read on demand
// (ReadOnDemand, so bounded the same way) and answers from what that read
// left.
func (o *List) CanSignIn() (ok, setup bool) {
	v := o.Current()
	if v.Problem == access.OwnerOK && v.List == nil {
		o.ReadOnDemand(func(v *access.OwnerView) bool { return v.List != nil || v.Problem != access.OwnerOK })
		v = o.Current()
	}
	switch {
	case v.Problem != access.OwnerOK:
		return false, true
	case v.List == nil:
		return false, false
	}
	return true, false
}

// ReadFor reads the list again on demand (ReadOnDemand, at most once per
// OnDemandEvery) for the account id signing in when it is not on the
// list, so that an invitation accepted a moment ago works at once; not
// while the set-up has a problem. It does nothing on a nil List (a block
// without owner_token).
func (o *List) ReadFor(id int64) {
	if o == nil {
		return
	}
	o.ReadOnDemand(func(v *access.OwnerView) bool {
		return v.Problem != access.OwnerOK || (v.List != nil && v.List.TierOf(id) != "")
	})
}
