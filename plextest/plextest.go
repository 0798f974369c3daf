// Package plextest provides a fake plex.tv for tests, in the manner of
// net/http/httptest.
//
// The fake implements the parts of the plex.tv API that a sign-in flow uses,
// following the Plex OpenAPI description (AuthPinContainer, UserPlexAccount,
// PlexDevice):
//
//   - POST /api/v2/pins            create a pin (201)
//   - GET  /api/v2/pins/{id}       poll a pin (200, 404 code 1020)
//   - GET  /api/v2/user            the account behind X-Plex-Token (200, 401)
//   - GET  /api/v2/resources       servers and devices the account can reach
//   - GET  /api/users              who the token's account shares its servers
//     with (home members, friends, pending invitations)
//
// Answers are JSON when the request's Accept header includes
// application/json and XML otherwise, as plex.tv does; /api/users answers
// XML whatever Accept says unless [Server.SetUsersJSON] is on.
//
// It also serves a stand-in for the Plex sign-in page (app.plex.tv/auth) at
// /auth, see [Server.AppURL], whose buttons approve the pin named in the URL
// fragment as one of the test accounts.
//
// Switches ([Server.SetDown], [Server.SetDelay], [Server.SetStatus]) simulate
// an unreachable, slow or failing plex.tv, [Server.SetOpenerPolicy] the
// Cross-Origin-Opener-Policy app.plex.tv once sent, and every request is logged
// ([Server.Requests], [Server.Count]). All methods are safe for concurrent use.
package plextest

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// Tier is the kind of access an account has to a Plex Media Server.
type Tier string

// The tiers a server can be shared with. In /api/v2/resources, Owner gives
// owned=true, Home gives home=true, and Friend gives neither.
const (
	Owner  Tier = "owner"
	Home   Tier = "home"
	Friend Tier = "friend"
)

// Account is a plex.tv account known to the fake. Values returned by the
// Server are copies; changing them has no effect on the fake.
type Account struct {
	ID       int    // Plex account id
	UUID     string // 16 hex characters
	Username string
	Email    string
	Title    string // display name
	Token    string // current auth token (answers 401 once revoked)
}

// Request is one request received by the fake.
type Request struct {
	Method string
	Path   string // URL path, without the query
	Query  url.Values
	Header http.Header
	Time   time.Time
}

// Server is a fake plex.tv listening on a loopback address.
// Create it with [NewServer] and stop it with [Server.Close].
type Server struct {
	// URL is the base URL of the fake, of the form http://127.0.0.1:port,
	// with no trailing slash. It stands for https://plex.tv.
	URL string

	// PinTTL, when non-zero, is the lifetime of new pins, overriding the
	// plex.tv defaults (1799 seconds for strong pins, 900 otherwise).
	// Set it before the code under test creates pins.
	PinTTL time.Duration

	ts        *httptest.Server
	mux       *http.ServeMux
	closed    chan struct{}
	closeOnce sync.Once

	mu          sync.Mutex
	accounts    map[string]*account // by username
	accountList []*account          // in creation order
	tokens      map[string]*account // live token -> account
	servers     map[string]*mediaServer
	serverList  []*mediaServer
	pins        map[int]*pin
	lastPin     *pin
	nextPinID   int
	nextAcctID  int
	down        bool
	usersJSON   bool
	delay       time.Duration
	status      int
	retryAfter  int
	openerPol   string
	log         []Request
}

type account struct {
	Account
	tokenStatus int // when non-zero, what calls with Token answer
	joined      time.Time
	deviceID    string // clientIdentifier of the account's Plex Web player
	deviceToken string
}

type mediaServer struct {
	machineID string
	name      string
	created   time.Time
	shares    map[string]*share // by username
}

type share struct {
	tier  Tier
	token string // accessToken of the server for that account
	// pending: invited, not accepted yet. The owner's /api/users lists the
	// invitation (pending="1"); the invitee's resources do not list the
	// server.
	pending bool
	// claimed: the account's own resources list the server as owned, but
	// the account is no owner from the owner's side (see ClaimServer).
	claimed bool
}

type pin struct {
	id        int
	code      string
	strong    bool
	product   string
	clientID  string
	created   time.Time
	expires   time.Time
	expired   bool
	authToken string // "" until approved
}

func (p *pin) live(now time.Time) bool {
	return !p.expired && now.Before(p.expires)
}

var (
	errUnknownPin     = errors.New("plextest: code not found or expired")
	errUnknownAccount = errors.New("plextest: unknown account")
)

// NewServer starts and returns a new fake plex.tv listening on
// 127.0.0.1 at a random port. The caller should call Close when finished.
func NewServer() *Server {
	s := &Server{
		closed:     make(chan struct{}),
		accounts:   make(map[string]*account),
		tokens:     make(map[string]*account),
		servers:    make(map[string]*mediaServer),
		pins:       make(map[int]*pin),
		nextPinID:  373040866,
		nextAcctID: 1001,
	}
	s.mux = s.routes()
	s.ts = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	s.URL = s.ts.URL
	return s
}

// Close shuts the fake down, aborting any delayed answers, and blocks until
// all outstanding requests on it have completed.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closed) })
	s.ts.Close()
}

// AppURL returns the URL of the stand-in for the Plex sign-in page
// (https://app.plex.tv/auth): s.URL + "/auth". Append the usual fragment,
// "#?clientID=…&code=…&forwardUrl=…".
func (s *Server) AppURL() string { return s.URL + "/auth" }

// AddAccount creates a plex.tv account with that username and returns a copy
// of it. IDs increase from 1001; the email is username@example.com, the title
// the capitalised username, and the token a fresh opaque JWT-like string.
// If the username already exists, the existing account is returned.
func (s *Server) AddAccount(username string) *Account {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.accounts[username]; ok {
		c := a.Account
		return &c
	}
	title := username
	if r, n := utf8.DecodeRuneInString(username); n > 0 {
		title = string(unicode.ToUpper(r)) + username[n:]
	}
	a := &account{
		Account: Account{
			ID:       s.nextAcctID,
			UUID:     randomHex(8),
			Username: username,
			Email:    username + "@example.com",
			Title:    title,
		},
		joined:      time.Now().Add(-400 * 24 * time.Hour).Truncate(time.Second),
		deviceID:    randomAlnum(24),
		deviceToken: randomAlnum(20),
	}
	s.nextAcctID++
	s.issueToken(a)
	s.accounts[username] = a
	s.accountList = append(s.accountList, a)
	c := a.Account
	return &c
}

// issueToken gives a a fresh live token. s.mu must be held.
func (s *Server) issueToken(a *account) {
	if a.Token != "" {
		delete(s.tokens, a.Token)
	}
	a.Token = newToken()
	s.tokens[a.Token] = a
}

// Account returns a copy of the account with that username, or nil.
// Its Token is the account's latest token: after RevokeToken it is the
// revoked one until a pin approval issues a fresh one.
func (s *Server) Account(username string) *Account {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[username]
	if !ok {
		return nil
	}
	c := a.Account
	return &c
}

// AddServer makes a Plex Media Server with that machine identifier and name
// known to the fake. Calling it again for the same machineID renames it.
func (s *Server) AddServer(machineID, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.servers[machineID]; ok {
		m.name = name
		return
	}
	m := &mediaServer{
		machineID: machineID,
		name:      name,
		created:   time.Now().Add(-200 * 24 * time.Hour).Truncate(time.Second),
		shares:    make(map[string]*share),
	}
	s.servers[machineID] = m
	s.serverList = append(s.serverList, m)
}

// Share gives the account access to the server with that tier, replacing
// any earlier tier. It panics if the server or the account is unknown.
func (s *Server) Share(machineID, username string, tier Tier) {
	switch tier {
	case Owner, Home, Friend:
	default:
		panic(fmt.Sprintf("plextest: Share: unknown tier %q", tier))
	}
	s.setShare("Share", machineID, username, &share{tier: tier, token: randomAlnum(20)})
}

// Invite records an invitation of the account to the server, not accepted
// yet: the owner's /api/users lists it with pending="1", and the account's
// own resources do not list the server. Share(machineID, username, Friend)
// is the invitation accepted. It replaces any earlier share, and panics if
// the server or the account is unknown.
func (s *Server) Invite(machineID, username string) {
	s.setShare("Invite", machineID, username, &share{tier: Friend, token: randomAlnum(20), pending: true})
}

// ClaimServer makes the account's own /api/v2/resources list the server as
// owned (owned=true), as a second registration of a copied machine
// identifier might, while nothing changes on the owner's side: the account
// is on no owner's /api/users list, and the owner's answers stay the same.
// It replaces any earlier share, and panics if the server or the account is
// unknown.
func (s *Server) ClaimServer(machineID, username string) {
	s.setShare("ClaimServer", machineID, username, &share{tier: Owner, token: randomAlnum(20), claimed: true})
}

// setShare replaces the account's share of the server; op names the caller
// in the panic for an unknown server or account.
func (s *Server) setShare(op, machineID, username string, sh *share) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.mustServer(machineID)
	if _, ok := s.accounts[username]; !ok {
		panic(fmt.Sprintf("plextest: %s: unknown account %q", op, username))
	}
	m.shares[username] = sh
}

// Unshare removes the account's access to the server. It panics if the
// server is unknown.
func (s *Server) Unshare(machineID, username string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.mustServer(machineID).shares, username)
}

func (s *Server) mustServer(machineID string) *mediaServer {
	m, ok := s.servers[machineID]
	if !ok {
		panic(fmt.Sprintf("plextest: unknown server %q (call AddServer first)", machineID))
	}
	return m
}

// RevokeToken makes the account's current token answer 401 everywhere.
// The next approval of a pin by that account issues a fresh token.
// It does nothing for an unknown account.
func (s *Server) RevokeToken(username string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.accounts[username]; ok {
		delete(s.tokens, a.Token)
	}
}

// Approve approves the live pin with that code as the account, as if the
// user had signed in on the Plex page: polling the pin then yields the
// account's token. It fails if no live pin has that code or the account is
// unknown.
func (s *Server) Approve(code, username string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.livePinByCode(code, time.Now())
	if p == nil {
		return fmt.Errorf("%w: %q", errUnknownPin, code)
	}
	return s.approve(p, username)
}

// ApproveLatest approves the most recently created pin as the account.
// It fails if no pin was created, the latest one expired, or the account is
// unknown.
func (s *Server) ApproveLatest(username string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.lastPin
	if p == nil || !p.live(time.Now()) {
		return fmt.Errorf("%w: no live pin", errUnknownPin)
	}
	return s.approve(p, username)
}

// approve sets the pin's token. s.mu must be held.
func (s *Server) approve(p *pin, username string) error {
	a, ok := s.accounts[username]
	if !ok {
		return fmt.Errorf("%w: %q", errUnknownAccount, username)
	}
	if s.tokens[a.Token] != a { // revoked: sign-in issues a new token
		s.issueToken(a)
	}
	p.authToken = a.Token
	return nil
}

// livePinByCode returns the live pin with that code, or nil. s.mu must be held.
func (s *Server) livePinByCode(code string, now time.Time) *pin {
	for _, p := range s.pins {
		if p.code == code && p.live(now) {
			return p
		}
	}
	return nil
}

// ExpirePins expires every pin created so far: polling them answers
// 404 code 1020 and they can no longer be approved.
func (s *Server) ExpirePins() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.pins {
		p.expired = true
	}
}
