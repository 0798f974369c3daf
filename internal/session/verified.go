package session

import (
	"encoding/binary"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// A signed-in browser sends the same session cookie value with every
// request, and opening it (base64, then AES-GCM under each secret) was the
// largest single cost of a signed-in request. VerifiedCookies remembers,
// per sealer, the values it has already opened: the exact value, the cookie
// name it was opened for, the session id inside, the session object memory
// held for it and when the entry stops counting. A request whose value is
// in the table skips the opening and, while memory still holds that same
// session object and would trust it, the session lookup too.
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
//   - The table never decides whether the session lives. An entry carries
//     the session object memory held when it was added, and a hit uses it
//     only while memory still holds that very object and would trust it
//     without asking the store (Cache.trusts: the same test the
//     lookup makes, cache_ttl and the sign-out counter included). Every
//     write that replaces or removes a session in memory marks the object
//     it drops as evicted (Cache.set, and go-cache's eviction hook
//     for deletions and expiry), so a session logged out, ended by a
//     re-check, by the admin API or by another instance, or reloaded from
//     the store, sends the next request through the full lookup, which
//     decides as it always did. The session's own expiry and each block's
//     session_ttl are checked on every request, hit or not. An entry
//     expires with the sealed expiry or the session's, whichever is first;
//     logout and a re-check that ends the session also drop the session's
//     entries at once (in the handler that saw it; any other sharing the
//     cookie drops its entry at the next request, when the lookup finds no
//     session).
//   - The value is found by a 64-bit hash keyed with a per-process random
//     seed and then compared in constant time, so response timing says
//     nothing about how close a guess is to a stored value.
//   - It is bounded (verifiedShards × verifiedPerShard entries); a full
//     shard drops an entry at random. Only values this process sealed can
//     enter, so a client cannot fill it with forgeries.
//
// A hit writes nothing shared: each shard's map is replaced whole on a
// change (copy on write, under the shard's lock) and read through an
// atomic pointer, so the cores serving one busy session do not pass a
// lock's cache line back and forth on every request. Changes are rare
// (a browser's first request, a session replaced or ended).
//
// A nil *VerifiedCookies is an empty table that keeps nothing.
type VerifiedCookies struct {
	seed   maphash.Seed
	shards [verifiedShards]verifiedShard
}

const (
	verifiedShards   = 64  // a power of two: the hash's low bits pick one
	verifiedPerShard = 128 // a change copies one shard: kept small
)

type verifiedShard struct {
	m  atomic.Pointer[map[uint64]VerifiedEntry] // read without a lock
	mu sync.Mutex                               // writers: copy, change, swap
	_  [48]byte                                 // one shard per 64-byte cache line
}

// VerifiedEntry is what the table remembers of a cookie value that opened.
type VerifiedEntry struct {
	name, value string
	// ID is the session id the value opened to.
	ID string
	// Session is the object memory held for ID when the entry was made:
	// use it only while Cache.Trusts does, else look ID up again.
	Session *Session
	// Sealed is the value's sealed expiry (unix seconds).
	Sealed  int64
	expires int64 // unix seconds: valid while now < expires
}

// NewVerifiedCookies returns an empty table. Make one per set of keys: a
// value is remembered as opened under the keys of the sealer that opened
// it.
func NewVerifiedCookies() *VerifiedCookies {
	return &VerifiedCookies{seed: maphash.MakeSeed()}
}

func (v *VerifiedCookies) shard(value string) (*verifiedShard, uint64) {
	k := maphash.String(v.seed, value)
	return &v.shards[k&(verifiedShards-1)], k
}

// Get returns the entry value was opened to for cookie name, if the table
// holds that exact value for that name and the entry has not expired at
// now (an expired one is dropped). A miss says nothing about the value:
// open it as usual. Get writes nothing shared on a hit.
func (v *VerifiedCookies) Get(name, value string, now time.Time) (VerifiedEntry, bool) {
	if v == nil || value == "" {
		return VerifiedEntry{}, false
	}
	sh, k := v.shard(value)
	m := sh.m.Load()
	if m == nil {
		return VerifiedEntry{}, false
	}
	e, ok := (*m)[k]
	if !ok || e.name != name || !constantTimeEqual(e.value, value) {
		return VerifiedEntry{}, false
	}
	if now.Unix() >= e.expires {
		sh.drop(k, value)
		return VerifiedEntry{}, false
	}
	return e, true
}

// Put records that value, for cookie name, opened to the session id, held
// in memory as s, sealed until sealed and counting until expires (unix
// seconds; the entry lasts until the earlier of the two). Only values that
// opened may be put. The table is bounded: a full shard forgets an entry
// at random. value is copied.
func (v *VerifiedCookies) Put(name, value, id string, s *Session, sealed, expires int64) {
	if v == nil {
		return
	}
	sh, k := v.shard(value)
	// The value is a slice of the request's Cookie header: a copy keeps
	// the table from holding on to the whole header.
	e := VerifiedEntry{name: name, value: string([]byte(value)), ID: id, Session: s, Sealed: sealed, expires: min(sealed, expires)}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	old := sh.load()
	m := make(map[uint64]VerifiedEntry, len(old)+1)
	for ek, oe := range old {
		m[ek] = oe
	}
	if _, ok := m[k]; !ok && len(m) >= verifiedPerShard {
		for victim := range m { // map order is random: a random victim
			delete(m, victim)
			break
		}
	}
	m[k] = e
	sh.m.Store(&m)
}

// load is the shard's current map, nil when empty; hold sh.mu to change it.
func (sh *verifiedShard) load() map[uint64]VerifiedEntry {
	if m := sh.m.Load(); m != nil {
		return *m
	}
	return nil
}

// without swaps in a copy of the shard's map without the entries drop
// picks, if it picks any. Hold sh.mu.
func (sh *verifiedShard) without(drop func(uint64, VerifiedEntry) bool) {
	old := sh.load()
	n := 0
	for k, e := range old {
		if drop(k, e) {
			n++
		}
	}
	if n == 0 {
		return
	}
	m := make(map[uint64]VerifiedEntry, len(old)-n)
	for k, e := range old {
		if !drop(k, e) {
			m[k] = e
		}
	}
	sh.m.Store(&m)
}

// Drop forgets value, under whatever name it was put.
func (v *VerifiedCookies) Drop(value string) {
	if v == nil {
		return
	}
	sh, k := v.shard(value)
	sh.drop(k, value)
}

func (sh *verifiedShard) drop(k uint64, value string) {
	sh.mu.Lock()
	sh.without(func(ek uint64, e VerifiedEntry) bool { return ek == k && e.value == value })
	sh.mu.Unlock()
}

// DropSession forgets every value that opened to the session id: on
// logout and when a re-check ends the session. It walks the whole table,
// which is bounded and small, and this happens once per ended session.
func (v *VerifiedCookies) DropSession(id string) {
	if v == nil {
		return
	}
	for i := range v.shards {
		sh := &v.shards[i]
		sh.mu.Lock()
		sh.without(func(_ uint64, e VerifiedEntry) bool { return e.ID == id })
		sh.mu.Unlock()
	}
}

// Len is how many values the table holds.
func (v *VerifiedCookies) Len() int {
	n := 0
	for i := range v.shards {
		if m := v.shards[i].m.Load(); m != nil {
			n += len(*m)
		}
	}
	return n
}

// constantTimeEqual compares two strings in time that depends only on
// their lengths, without copying them. It is crypto/subtle's
// ConstantTimeCompare (https://pkg.go.dev/crypto/subtle#ConstantTimeCompare:
// the XOR of every byte ORed together, no branch on the contents) taken
// eight bytes at a time: a session cookie value is about 200 bytes, and a
// byte at a time was 640 instructions of every signed-in request.
func constantTimeEqual(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	x := unsafe.Slice(unsafe.StringData(a), len(a))
	y := unsafe.Slice(unsafe.StringData(b), len(b))
	var v uint64
	for len(x) >= 8 && len(y) >= 8 {
		v |= binary.LittleEndian.Uint64(x) ^ binary.LittleEndian.Uint64(y)
		x, y = x[8:], y[8:]
	}
	for i := 0; i < len(x) && i < len(y); i++ {
		v |= uint64(x[i] ^ y[i])
	}
	return v == 0 // the answer itself is no secret: the caller acts on it
}
