package plexauth

import (
	"crypto/subtle"
	"hash/maphash"
	"sync"
	"time"
	"unsafe"
)

// A signed-in browser sends the same session cookie value with every
// request, and opening it (base64, then AES-GCM under each secret) was the
// largest single cost of a signed-in request. verifiedCookies remembers,
// per sealer, the values it has already opened: the exact value, the cookie
// name it was opened for, the session id inside and when the entry stops
// counting. A request whose value is in the table skips the opening and
// goes straight to the session lookup.
//
// Why a hit is as safe as opening the value again:
//   - Opening is a pure function of (keys, cookie name, value, clock): the
//     keys are the sealer's and never change (a reload with another secret
//     list builds a new sealer, with a new, empty table, so no value
//     verified under a dropped secret is ever accepted), the name and the
//     whole value are compared, and the clock is checked on every hit
//     against the sealed expiry, exactly as open checks it. A value that
//     differs in any byte (tampered, truncated, another cookie's) is a
//     miss and is opened, and refused, as before; only values that opened
//     and named a live session are ever added.
//   - The table never decides whether the session lives: every request,
//     hit or not, still looks the session up (logout, a re-check ending it,
//     another instance ending it, expiry and each block's session_ttl all
//     apply as before). An entry expires with the sealed expiry or the
//     session's, whichever is first; logout and a re-check that ends the
//     session drop the session's entries at once (in the handler that saw
//     it; any other sharing the cookie drops its entry at the next request,
//     when the lookup finds no session), so the table never outlives
//     either.
//   - The value is found by a 64-bit hash keyed with a per-process random
//     seed and then compared in constant time, so response timing says
//     nothing about how close a guess is to a stored value.
//   - It is bounded (verifiedShards × verifiedPerShard entries); a full
//     shard drops an entry at random. Only values this process sealed can
//     enter, so a client cannot fill it with forgeries.
type verifiedCookies struct {
	seed   maphash.Seed
	shards [verifiedShards]verifiedShard
}

const (
	verifiedShards   = 16 // a power of two: the hash's low bits pick one
	verifiedPerShard = 512
)

type verifiedShard struct {
	mu sync.RWMutex
	m  map[uint64]verifiedEntry
	_  [32]byte // one shard's lock per 64-byte cache line: cores meet less
}

type verifiedEntry struct {
	name, value, id string
	expires         int64 // unix seconds, as sealed: valid while now < expires
}

func newVerifiedCookies() *verifiedCookies {
	return &verifiedCookies{seed: maphash.MakeSeed()}
}

func (v *verifiedCookies) shard(value string) (*verifiedShard, uint64) {
	k := maphash.String(v.seed, value)
	return &v.shards[k&(verifiedShards-1)], k
}

// get returns the session id value was opened to for cookie name, if the
// table holds it and it has not expired at now.
func (v *verifiedCookies) get(name, value string, now time.Time) (string, bool) {
	if v == nil || value == "" {
		return "", false
	}
	sh, k := v.shard(value)
	sh.mu.RLock()
	e, ok := sh.m[k]
	sh.mu.RUnlock()
	if !ok || e.name != name || !constantTimeEqual(e.value, value) {
		return "", false
	}
	if now.Unix() >= e.expires {
		sh.drop(k, value)
		return "", false
	}
	return e.id, true
}

// put records that value, for cookie name, opened to the session id and
// counts until expires (unix seconds).
func (v *verifiedCookies) put(name, value, id string, expires int64) {
	if v == nil {
		return
	}
	sh, k := v.shard(value)
	// The value is a slice of the request's Cookie header: a copy keeps
	// the table from holding on to the whole header.
	e := verifiedEntry{name: name, value: string([]byte(value)), id: id, expires: expires}
	sh.mu.Lock()
	if sh.m == nil {
		sh.m = make(map[uint64]verifiedEntry)
	}
	if _, ok := sh.m[k]; !ok && len(sh.m) >= verifiedPerShard {
		for old := range sh.m { // map order is random: a random victim
			delete(sh.m, old)
			break
		}
	}
	sh.m[k] = e
	sh.mu.Unlock()
}

// drop forgets value.
func (v *verifiedCookies) drop(value string) {
	if v == nil {
		return
	}
	sh, k := v.shard(value)
	sh.drop(k, value)
}

func (sh *verifiedShard) drop(k uint64, value string) {
	sh.mu.Lock()
	if e, ok := sh.m[k]; ok && e.value == value {
		delete(sh.m, k)
	}
	sh.mu.Unlock()
}

// dropSession forgets every value that opened to the session id: on
// logout and when a re-check ends the session. It walks the whole table,
// which is bounded and small, and this happens once per ended session.
func (v *verifiedCookies) dropSession(id string) {
	if v == nil {
		return
	}
	for i := range v.shards {
		sh := &v.shards[i]
		sh.mu.Lock()
		for k, e := range sh.m {
			if e.id == id {
				delete(sh.m, k)
			}
		}
		sh.mu.Unlock()
	}
}

// len is how many values the table holds.
func (v *verifiedCookies) len() int {
	n := 0
	for i := range v.shards {
		sh := &v.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}

// constantTimeEqual compares two strings in time that depends only on
// their lengths, without copying them.
func constantTimeEqual(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	return subtle.ConstantTimeCompare(
		unsafe.Slice(unsafe.StringData(a), len(a)),
		unsafe.Slice(unsafe.StringData(b), len(b))) == 1
}

// verifiedCookies is the table of h's session sealer, or nil before
// Provision made one.
func (h *PlexAuth) verifiedCookies() *verifiedCookies {
	if h.sessionSealer == nil {
		return nil
	}
	return h.sessionSealer.verified
}
