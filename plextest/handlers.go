package plextest

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Fixed addresses of the fake's media servers (documentation ranges).
const (
	serverLANAddr    = "192.168.1.10"
	serverPublicAddr = "203.0.113.10"
	serverRelayAddr  = "198.51.100.7"
	serverPort       = 32400
)

func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v2/pins", s.createPin)
	mux.HandleFunc("GET /api/v2/pins/{id}", s.getPin)
	mux.HandleFunc("GET /api/v2/user", s.getUser)
	mux.HandleFunc("GET /api/v2/resources", s.getResources)
	mux.HandleFunc("GET /api/users", s.getUsers)
	mux.HandleFunc("GET /auth", s.authPage)
	mux.HandleFunc("POST /auth/approve", s.authApprove)
	return mux
}

// serveHTTP logs the request, applies the down/delay/status switches and
// hands the request to the routes.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.log = append(s.log, Request{
		Method: r.Method,
		Path:   r.URL.Path,
		Query:  r.URL.Query(),
		Header: r.Header.Clone(),
		Time:   time.Now(),
	})
	down, delay, status, retryAfter := s.down, s.delay, s.status, s.retryAfter
	s.mu.Unlock()

	if down {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler) // closes the connection without answer
	}
	if strings.HasPrefix(r.URL.Path, "/api/") {
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				panic(http.ErrAbortHandler)
			case <-s.closed:
				t.Stop()
				panic(http.ErrAbortHandler)
			}
		}
		if status != 0 {
			if retryAfter > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
			}
			writeError(w, r, status, status, http.StatusText(status))
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

// plexParam returns an X-Plex-* value from the headers or, as plex.tv also
// accepts, from the query string.
func plexParam(r *http.Request, name string) string {
	if v := r.Header.Get(name); v != "" {
		return v
	}
	return r.URL.Query().Get(name)
}

// POST /api/v2/pins
func (s *Server) createPin(w http.ResponseWriter, r *http.Request) {
	clientID := plexParam(r, "X-Plex-Client-Identifier")
	if clientID == "" {
		writeError(w, r, http.StatusBadRequest, codeBadRequest, "X-Plex-Client-Identifier is missing")
		return
	}
	strong, _ := strconv.ParseBool(r.URL.Query().Get("strong"))
	now := time.Now()

	s.mu.Lock()
	ttl := s.PinTTL
	if ttl <= 0 {
		ttl = 900 * time.Second
		if strong {
			ttl = 1799 * time.Second
		}
	}
	p := &pin{
		id:       s.nextPinID,
		strong:   strong,
		product:  plexParam(r, "X-Plex-Product"),
		clientID: clientID,
		created:  now,
		expires:  now.Add(ttl),
	}
	s.nextPinID++
	for p.code == "" || s.livePinByCode(p.code, now) != nil {
		if strong {
			p.code = randomFrom("abcdefghijklmnopqrstuvwxyz0123456789", 25)
		} else {
			p.code = randomFrom("ABCDEFGHJKLMNPQRSTUVWXYZ23456789", 4)
		}
	}
	s.pins[p.id] = p
	s.lastPin = p
	body := s.pinBody(p, now)
	s.mu.Unlock()

	respond(w, r, http.StatusCreated, body, nil)
}

// GET /api/v2/pins/{id}
func (s *Server) getPin(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.Atoi(r.PathValue("id"))
	clientID := plexParam(r, "X-Plex-Client-Identifier")
	now := time.Now()

	s.mu.Lock()
	p := s.pins[id]
	if err != nil || p == nil || !p.live(now) || p.clientID != clientID {
		s.mu.Unlock()
		writeError(w, r, http.StatusNotFound, codeNotFound, "Code not found or expired")
		return
	}
	body := s.pinBody(p, now)
	s.mu.Unlock()

	respond(w, r, http.StatusOK, body, nil)
}

// authenticate returns the account owning the request's live token, or nil.
// s.mu must be held.
func (s *Server) authenticate(r *http.Request) *account {
	tok := plexParam(r, "X-Plex-Token")
	if tok == "" {
		return nil
	}
	return s.tokens[tok]
}

func writeUnauthorized(w http.ResponseWriter, r *http.Request) {
	writeError(w, r, http.StatusUnauthorized, codeUnauthorized, "User could not be authenticated")
}

// writeTokenStatus answers a call whose token SetTokenStatus marked.
func writeTokenStatus(w http.ResponseWriter, r *http.Request, code int) {
	msg := http.StatusText(code)
	switch code {
	case 498:
		msg = "Token expired"
	case http.StatusUnprocessableEntity:
		msg = "Invalid token"
	}
	writeError(w, r, code, code, msg)
}

// GET /api/v2/user
func (s *Server) getUser(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	a := s.authenticate(r)
	if a == nil {
		s.mu.Unlock()
		writeUnauthorized(w, r)
		return
	}
	if code := a.tokenStatus; code != 0 {
		s.mu.Unlock()
		writeTokenStatus(w, r, code)
		return
	}
	body := s.userBody(a)
	s.mu.Unlock()
	respond(w, r, http.StatusOK, body, nil)
}

// userBody renders a. s.mu must be held.
func (s *Server) userBody(a *account) userBody {
	// The Plex Home of a: the owners and home members of every server where
	// a is owner or home member, when there is any home member.
	members := map[string]bool{}
	homeAdmin := false
	for _, m := range s.serverList {
		sh := m.shares[a.Username]
		if sh == nil || sh.tier == Friend || sh.claimed {
			continue
		}
		var home []string
		var owners []string
		for u, o := range m.shares {
			if o.pending || o.claimed {
				continue
			}
			switch o.tier {
			case Home:
				home = append(home, u)
			case Owner:
				owners = append(owners, u)
			}
		}
		if len(home) == 0 {
			continue
		}
		if sh.tier == Owner {
			homeAdmin = true
		}
		for _, u := range append(home, owners...) {
			members[u] = true
		}
	}
	homeSize := max(len(members), 1)
	now := time.Now()
	return userBody{
		ID:                a.ID,
		UUID:              a.UUID,
		Username:          a.Username,
		Title:             a.Title,
		Email:             a.Email,
		FriendlyName:      a.Title,
		Confirmed:         true,
		JoinedAt:          a.joined.Unix(),
		HasPassword:       true,
		Thumb:             "https://plex.tv/users/" + a.UUID + "/avatar?c=" + strconv.FormatInt(a.joined.Unix(), 10),
		AuthToken:         a.Token,
		MailingListStatus: "unsubscribed",
		ScrobbleTypes:     "",
		Country:           "US",
		Home:              xbool(len(members) > 0),
		HomeSize:          homeSize,
		HomeAdmin:         xbool(homeAdmin),
		MaxHomeSize:       15,
		RememberExpiresAt: now.Add(14 * 24 * time.Hour).Unix(),
		Subscription:      subscription{Status: "Inactive", Features: []string{}},
		Profile: userProfile{
			AutoSelectAudio:  true,
			WatchedIndicator: 1,
		},
		Entitlements: []string{},
		Roles:        []string{},
		Services:     []any{},
	}
}

// GET /api/v2/resources
func (s *Server) getResources(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	includeHTTPS := q.Get("includeHttps") == "1"
	includeRelay := q.Get("includeRelay") == "1"
	now := time.Now()

	s.mu.Lock()
	a := s.authenticate(r)
	if a == nil {
		s.mu.Unlock()
		writeUnauthorized(w, r)
		return
	}
	if code := a.tokenStatus; code != 0 {
		s.mu.Unlock()
		writeTokenStatus(w, r, code)
		return
	}
	// A player comes first and another device last, so that consumers must
	// look at provides rather than at positions.
	devices := []deviceBody{playerDevice(a, now, "Chrome", "Plex Web", "client,player")}
	for _, m := range s.serverList {
		if sh := m.shares[a.Username]; sh != nil && !sh.pending {
			devices = append(devices, s.serverDevice(m, sh, now, includeHTTPS, includeRelay))
		}
	}
	tv := playerDevice(a, now, "Living Room TV", "Plex for Android (TV)", "player,pubsub-player,provider-playback")
	tv.ClientIdentifier = "tv-" + a.deviceID
	devices = append(devices, tv)
	s.mu.Unlock()

	respond(w, r, http.StatusOK, devices, resourcesXML{Size: len(devices), Devices: devices})
}

// playerDevice is a non-server device owned by a.
func playerDevice(a *account, now time.Time, name, product, provides string) deviceBody {
	return deviceBody{
		Name:             name,
		Product:          product,
		ProductVersion:   "4.147.1",
		Platform:         ptr("Chrome"),
		PlatformVersion:  ptr("131.0"),
		Device:           ptr("Linux"),
		ClientIdentifier: a.deviceID,
		CreatedAt:        isoTime(a.joined),
		LastSeenAt:       isoTime(now),
		Provides:         provides,
		PublicAddress:    serverPublicAddr,
		AccessToken:      a.deviceToken,
		Owned:            true,
		Connections:      []connection{},
	}
}

// serverDevice renders media server m as seen by an account with share sh.
// s.mu must be held.
func (s *Server) serverDevice(m *mediaServer, sh *share, now time.Time, https, relay bool) deviceBody {
	d := deviceBody{
		Name:             m.name,
		Product:          "Plex Media Server",
		ProductVersion:   "1.41.3.9314-a0bfb8370",
		Platform:         ptr("Linux"),
		PlatformVersion:  ptr("6.8.0"),
		Device:           ptr("PC"),
		ClientIdentifier: m.machineID,
		CreatedAt:        isoTime(m.created),
		LastSeenAt:       isoTime(now),
		Provides:         "server",
		PublicAddress:    serverPublicAddr,
		AccessToken:      sh.token,
		Owned:            sh.tier == Owner,
		Home:             sh.tier == Home,
		Relay:            true,
		Presence:         true,
	}
	if sh.tier != Owner {
		ownerID, title := 1, "plex-owner"
		for u, o := range m.shares {
			if o.tier == Owner && !o.claimed {
				ownerID, title = s.accounts[u].ID, s.accounts[u].Username
				break
			}
		}
		d.OwnerID, d.SourceTitle = &ownerID, &title
	}
	if !https {
		d.Connections = []connection{{
			Protocol: "http", Address: serverLANAddr, Port: serverPort,
			URI: "http://" + serverLANAddr + ":32400", Local: true,
		}}
	} else {
		host := func(ip string) string {
			return strings.ReplaceAll(ip, ".", "-") + "." + m.machineID + ".plex.direct"
		}
		d.Connections = []connection{
			{Protocol: "https", Address: serverLANAddr, Port: serverPort, URI: "https://" + host(serverLANAddr) + ":32400", Local: true},
			{Protocol: "https", Address: serverPublicAddr, Port: serverPort, URI: "https://" + host(serverPublicAddr) + ":32400"},
		}
	}
	if relay {
		d.Connections = append(d.Connections, connection{
			Protocol: "https", Address: serverRelayAddr, Port: 8443,
			URI:   "https://" + strings.ReplaceAll(serverRelayAddr, ".", "-") + "." + m.machineID + ".plex.direct:8443",
			Relay: true,
		})
	}
	return d
}
