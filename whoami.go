package plexauth

import (
	"encoding/json"
	"net/http"
	"time"
)

// whoami is the answer of GET {prefix}/whoami for a signed-in, admitted
// browser: who it is, for dashboards (Homepage, Homarr) and small
// front-ends, in the manner of oauth2-proxy's /oauth2/userinfo and
// caddy-security's /whoami. It never holds the token.
type whoami struct {
	ID       int64     `json:"id"`
	UUID     string    `json:"uuid"`
	Username string    `json:"username"`
	Title    string    `json:"title"`
	Email    string    `json:"email"`
	Tier     string    `json:"tier"`
	Expires  time.Time `json:"expires"`
}

// serveWhoami answers GET {prefix}/whoami: 200 JSON for a signed-in
// browser this block admits, 401 JSON otherwise (503 when the session
// store could not be asked). Never cached.
func (h *PlexAuth) serveWhoami(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Content-Type", "application/json")
	s, _, err := h.sessionFromRequest(r)
	if err != nil {
		hdr.Set("Retry-After", "5")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"error":"session store unavailable"}` + "\n"))
		return
	}
	if s == nil {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":"not signed in"}` + "\n"))
		return
	}
	tier, ok := h.admit(s)
	if !ok {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":"this Plex account is not allowed here"}` + "\n"))
		return
	}
	ends := s.Created.Add(time.Duration(h.SessionTTL))
	if s.Expires.Before(ends) {
		ends = s.Expires
	}
	b, _ := json.Marshal(whoami{ID: s.UserID, UUID: s.UUID, Username: s.Username, Title: s.Title,
		Email: s.Email, Tier: tier, Expires: ends.UTC().Truncate(time.Second)})
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(append(b, '\n'))
	}
}
