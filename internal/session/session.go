package session

import (
	"strconv"
	"sync/atomic"
	"time"
)

// Session is one signed-in browser. It holds what the rules need to decide
// (the account and the servers it can reach) so that requests never call
// plex.tv; it decides nothing itself. The exported fields but Boxed are
// what the store keeps (sealed, see store.go). A Session a Cache holds is shared by
// every request that finds it: callers read it and never change it (a
// re-check makes a new one and calls Cache.Update).
type Session struct {
	// UserID, UUID, Username, Email and Title are the Plex account's, as
	// the caller made them from plex.tv's answer at sign-in or at the last
	// re-check.
	UserID   int64  `json:"user_id"`
	UUID     string `json:"uuid"`
	Username string `json:"username"`
	Email    string `json:"email"`
	Title    string `json:"title"`
	// Thumb is the account's avatar URL as plex.tv gave it (https only,
	// else empty): what an OpenID Connect client gets as `picture`.
	Thumb string `json:"thumb,omitempty"`
	// Servers maps the machine identifier of every Plex Media Server the
	// account can reach to its tier there, as the decision spells tiers
	// (owner, home or friend): plain strings, this package reads none.
	Servers map[string]string `json:"servers"`
	// Token is the account's Plex token, kept only to re-check access. It
	// never leaves the process in clear: not in a cookie, a header or a log.
	Token string `json:"token"`
	// Created is when the browser signed in; Expires when the session ends
	// whatever else happens; Checked when plex.tv last vouched for the
	// account (the sign-in or a re-check).
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	Checked time.Time `json:"checked"`
	// SignoutMark is the account's sign-out marker the store held when the
	// session was made (0: none; see signout.go). nil in a memory-only
	// cache and in entries stored before sessions recorded it.
	SignoutMark *int64 `json:"signout_mark,omitempty"`
	// Apps are the application sessions app_sign_in made for this session:
	// sealed and stored with it, so every instance knows which application
	// cookie belongs to it. A copy of the session must carry them.
	Apps []AppSession `json:"apps,omitempty"`

	// Runtime state, not stored: when this copy was read from or written
	// to the store, and whether a re-check with plex.tv is running.
	loadedAt atomic.Int64
	checking atomic.Bool
	// evicted is set once memory no longer holds this object under its id
	// (replaced, deleted or expired): a verified cookie that remembered it
	// must then look the session up again (verified.go).
	evicted atomic.Bool
	// gone marks a memory-only placeholder for a session the store does
	// not have, so a stale cookie does not read the store on every request.
	gone bool
	// id is the session's id, the key memory holds this object under (set
	// once, before memory publishes it: see ID).
	id string

	// foldedUsername and foldedEmail are the copies allow_users compares
	// (access.Facts, access.AllowList.Match); idString is the id as a
	// placeholder value.
	foldedUsername, foldedEmail, idString string
	// Boxed holds the placeholder values, boxed once by Prepare; not
	// stored. A field, not a method, so that reading one on the request
	// path costs what reading a field of the session always did.
	Boxed Boxed `json:"-"`
	// Provider is the placeholder provider the root package made for this
	// object at the tier it was last admitted at (placeholders.go), so that
	// it is made once, not on every request; not stored, and a new object
	// starts without one.
	Provider atomic.Pointer[PlaceholderProvider] `json:"-"`
	// Verdict is what a block's rules last said of this object (see
	// Verdict), kept so that they say it once, not on every request; not
	// stored, and a new object starts without one.
	Verdict atomic.Pointer[Verdict] `json:"-"`
}

// Judge names one set of access rules that keeps Verdicts on sessions: the
// caller makes one per set of rules (new(Judge)) and compares pointers. It
// holds nothing; this package decides nothing.
type Judge struct{ _ byte }

// Verdict is what the rules Judge names said of one session object:
// admitted or not, at Tier. It is the caller's to trust, and only valid
// while the rules say the same of the same facts: a session object's facts
// never change once a cache holds it, and a caller whose rules read
// anything else (the owner's list, which changes) must not keep one.
// Callers may share one Verdict between sessions and never change it.
type Verdict struct {
	Judge    *Judge
	Tier     string
	Admitted bool
}

// PlaceholderProvider is a replacer provider made for one session object
// at one tier. Its answers come from that object alone, which no one
// changes once a cache holds it.
type PlaceholderProvider struct {
	Tier string
	Func func(key string) (any, bool)
}

// AppSession is an application session app_sign_in made for a session:
// the application it belongs to and the cookie the application set. It is
// a fact kept with the session; what to do with it is the caller's.
type AppSession struct {
	// Kind and URL name the application as the block configured it.
	Kind string `json:"kind"`
	URL  string `json:"url"`
	// Name, Value, Path and Expires are the cookie the application set.
	Name    string    `json:"name"`
	Value   string    `json:"value"`
	Path    string    `json:"path,omitempty"`
	Expires time.Time `json:"expires,omitzero"`
}

// Prepare fills the derived values (FoldedUsername, FoldedEmail, Boxed)
// from the exported fields, so the hot path only compares and
// copies. The cache calls it on every session it stores; call it again
// after changing a field of a session no cache holds yet.
func (s *Session) Prepare() {
	s.foldedUsername = foldASCII(s.Username)
	s.foldedEmail = foldASCII(s.Email)
	s.idString = strconv.FormatInt(s.UserID, 10)
	s.Boxed = Boxed{ID: s.idString, Username: s.Username, Email: s.Email, UUID: s.UUID, Title: s.Title}
}

// Succeed makes s, what a re-check of old found at plex.tv (the account,
// its servers, the token), old's successor: it keeps old's own facts
// (Created, Expires, SignoutMark, Apps), sets Checked to checked, and
// prepares s (Prepare). s must be a new session no cache holds yet.
func (s *Session) Succeed(old *Session, checked time.Time) {
	s.Created, s.Expires, s.Checked = old.Created, old.Expires, checked
	s.SignoutMark = old.SignoutMark
	s.Apps = old.Apps
	s.Prepare()
}

// FoldedUsername is Username with ASCII letters lower-cased (Prepare), as
// allow_users compares it.
func (s *Session) FoldedUsername() string { return s.foldedUsername }

// FoldedEmail is Email with ASCII letters lower-cased (Prepare), as
// allow_users compares it.
func (s *Session) FoldedEmail() string { return s.foldedEmail }

// Boxed is a session's values each boxed in an interface once (Prepare),
// so that storing them as an `any` (a placeholder value) allocates
// nothing: ID is UserID in decimal, the others the fields of those names;
// nil interfaces before Prepare. Callers read them and never change them.
type Boxed struct {
	ID, Username, Email, UUID, Title any
}

// BeginCheck marks a re-check of s as running and reports true, unless
// one is running already (then false, and nothing changes): of concurrent
// callers exactly one gets true until EndCheck.
func (s *Session) BeginCheck() bool { return s.checking.CompareAndSwap(false, true) }

// EndCheck marks the re-check BeginCheck let through as finished.
func (s *Session) EndCheck() { s.checking.Store(false) }

// Checking reports whether a re-check of s is running.
func (s *Session) Checking() bool { return s.checking.Load() }

// foldASCII lower-cases ASCII letters and leaves every other byte as it
// is. It is a copy of access.FoldASCII on purpose: this package may not
// import internal/access (a session holds facts; it does not decide), and
// the two must fold alike, or allow_users would miss
// (TestSessionFoldsAsAllowUsersDo, in the root package, compares them).
func foldASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// ID is the session's id: the key memory holds this object under, and
// the one its cookie seals. Every object a Cache hands out has it; it is
// "" only for an object that never entered one.
func (s *Session) ID() string { return s.id }

// live is s, or nil for a placeholder of a session that is gone.
func (s *Session) live() *Session {
	if s.gone {
		return nil
	}
	return s
}
