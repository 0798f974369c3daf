package plexauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// moduleVersion is sent as X-Plex-Version.
const moduleVersion = "1.0.0"

// maxPlexBody bounds how much of a plex.tv answer we read.
const maxPlexBody = 4 << 20

// statusTokenExpired is what plex.tv answers for an expired token: Plex's
// JWT tokens last 7 days (JWT authentication, developer.plex.tv).
const statusTokenExpired = 498

// userPath is plex.tv's "who is this token" call.
const userPath = "/api/v2/user"

// plexClient talks to plex.tv: the pin, user and resources calls of
// PLEX_API.md. Every call is bounded by timeout.
type plexClient struct {
	base     string // e.g. https://plex.tv, no trailing slash
	product  string
	clientID string
	timeout  time.Duration
	http     *http.Client
}

// Errors of a plex.tv call, as the handler needs to tell them apart.
var (
	// errPinNotFound: plex.tv answered 404 (code 1020): the pin is unknown or expired.
	errPinNotFound = errors.New("plex.tv: pin not found or expired")
	// errTokenRejected: plex.tv no longer accepts the token (revoked,
	// expired or invalid); see do for the statuses that say so.
	errTokenRejected = errors.New("plex.tv: token rejected")
)

// plexUnavailable is plex.tv being unreachable, slow past the timeout, or
// answering 5xx or 429. RetryAfter is set from a 429's Retry-After.
type plexUnavailable struct {
	Status     int // 0 when no answer came
	RetryAfter time.Duration
	Err        error
}

func (e *plexUnavailable) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("plex.tv answered %d", e.Status)
	}
	return "plex.tv unreachable: " + e.Err.Error()
}

func (e *plexUnavailable) Unwrap() error { return e.Err }

// plexPin is the part of AuthPinContainer we use.
type plexPin struct {
	ID        int64   `json:"id"`
	Code      string  `json:"code"`
	ExpiresIn int     `json:"expiresIn"`
	AuthToken *string `json:"authToken"`
}

// plexUser is the part of UserPlexAccount we use.
type plexUser struct {
	ID       int64  `json:"id"`
	UUID     string `json:"uuid"`
	Username string `json:"username"`
	Title    string `json:"title"`
	Email    string `json:"email"`
}

// plexDevice is the part of PlexDevice we use.
type plexDevice struct {
	Name             string `json:"name"`
	ClientIdentifier string `json:"clientIdentifier"`
	Provides         string `json:"provides"`
	Owned            bool   `json:"owned"`
	Home             bool   `json:"home"`
}

func (c *plexClient) do(ctx context.Context, method, path, token string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, nil)
	if err != nil {
		return err
	}
	h := req.Header
	h.Set("Accept", "application/json")
	h.Set("X-Plex-Product", c.product)
	h.Set("X-Plex-Client-Identifier", c.clientID)
	h.Set("X-Plex-Version", moduleVersion)
	h.Set("X-Plex-Platform", "Caddy")
	h.Set("X-Plex-Device", "Caddy")
	h.Set("X-Plex-Device-Name", c.product)
	if token != "" {
		// The token goes in a header, never the URL: URLs end up in logs.
		h.Set("X-Plex-Token", token)
	}
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		observePlexCall(path, 0, start)
		return &plexUnavailable{Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPlexBody))
	observePlexCall(path, resp.StatusCode, start)
	if err != nil {
		return &plexUnavailable{Err: err}
	}
	switch {
	case resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusCreated:
		if err := decodePlexBody(resp.Header.Get("Content-Type"), body, out); err != nil {
			return &plexUnavailable{Status: resp.StatusCode, Err: fmt.Errorf("decoding %s: %w", path, err)}
		}
		return nil
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == statusTokenExpired:
		return fmt.Errorf("%w: %s %s answered %d", errTokenRejected, method, path, resp.StatusCode)
	case resp.StatusCode == http.StatusNotFound && strings.HasPrefix(path, "/api/v2/pins/"):
		return errPinNotFound
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return &plexUnavailable{Status: resp.StatusCode, RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After")), Err: errors.New(resp.Status)}
	case resp.StatusCode >= 400 && path == userPath:
		// The user call takes nothing but the token, so any other 4xx is
		// about the token: python-plexapi's MyPlexAccount.query reads 422
		// "Invalid token" as Unauthorized, and a 403 leaves no use for it.
		return fmt.Errorf("%w: %s %s answered %d", errTokenRejected, method, path, resp.StatusCode)
	default:
		return fmt.Errorf("plex.tv %s %s answered %s", method, path, resp.Status)
	}
}

// parseRetryAfter reads Retry-After in seconds or as an HTTP date.
func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

// createPin asks plex.tv for a new strong pin. The calls browsers cause
// are limited before they come here (limits.go).
func (c *plexClient) createPin(ctx context.Context) (*plexPin, error) {
	return c.newPin(ctx, "/api/v2/pins?strong=true")
}

// createCodePin asks plex.tv for a pin whose code is short enough to type
// at https://plex.tv/link: without strong=true, plex.tv makes a
// four-character code (python-plexapi's MyPlexPinLogin does the same).
func (c *plexClient) createCodePin(ctx context.Context) (*plexPin, error) {
	return c.newPin(ctx, "/api/v2/pins")
}

func (c *plexClient) newPin(ctx context.Context, path string) (*plexPin, error) {
	var p plexPin
	if err := c.do(ctx, http.MethodPost, path, "", &p); err != nil {
		return nil, err
	}
	if p.ID == 0 || p.Code == "" {
		return nil, &plexUnavailable{Status: http.StatusCreated, Err: errors.New("plex.tv returned a pin without id or code")}
	}
	return &p, nil
}

// checkPin returns the pin; its AuthToken is set once the user approved.
func (c *plexClient) checkPin(ctx context.Context, id int64) (*plexPin, error) {
	var p plexPin
	if err := c.do(ctx, http.MethodGet, "/api/v2/pins/"+strconv.FormatInt(id, 10), "", &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// user returns the account the token belongs to.
func (c *plexClient) user(ctx context.Context, token string) (*plexUser, error) {
	var u plexUser
	if err := c.do(ctx, http.MethodGet, userPath, token, &u); err != nil {
		return nil, err
	}
	if u.ID == 0 {
		return nil, &plexUnavailable{Status: http.StatusOK, Err: errors.New("plex.tv returned a user without id")}
	}
	return &u, nil
}

// servers returns the machine identifier and tier of every Plex Media
// Server the token's account can reach.
func (c *plexClient) servers(ctx context.Context, token string) (map[string]string, error) {
	var devices []plexDevice
	if err := c.do(ctx, http.MethodGet, "/api/v2/resources?includeHttps=1&includeRelay=1", token, &devices); err != nil {
		return nil, err
	}
	out := make(map[string]string)
	for _, d := range devices {
		if d.ClientIdentifier == "" || !providesServer(d.Provides) {
			continue // players and clients share the list
		}
		tier := tierFriend
		switch {
		case d.Owned:
			tier = tierOwner
		case d.Home:
			tier = tierHome
		}
		// A server listed twice keeps its highest tier, whatever the order.
		if tierRank(tier) > tierRank(out[d.ClientIdentifier]) {
			out[d.ClientIdentifier] = tier
		}
	}
	return out, nil
}

func providesServer(provides string) bool {
	for p := range strings.SplitSeq(provides, ",") {
		if strings.TrimSpace(p) == "server" {
			return true
		}
	}
	return false
}

// identify runs the user and resources calls for a token and makes the
// session content from them (accountSession, which cleans the values).
func (c *plexClient) identify(ctx context.Context, token string) (*Session, error) {
	u, err := c.user(ctx, token)
	if err != nil {
		return nil, err
	}
	servers, err := c.servers(ctx, token)
	if err != nil {
		return nil, err
	}
	return accountSession(u, servers, token), nil
}

// appURL is where the browser signs in at Plex. The parameters travel in
// the fragment, as Plex expects: a browser never sends a fragment, so they
// stay out of app.plex.tv's logs. They are not out of every log: the
// same-tab flow sends this URL in a Location header, which Caddy's access
// log records (it lists response headers). Whoever reads that log while a
// sign-in is pending could approve the pin with their own Plex account,
// but cannot collect anyone's session: the pin id stays in the sealed
// state cookie, and only the browser holding it finishes the sign-in.
func appURL(base, clientID, code, product, forward string) string {
	v := url.Values{}
	v.Set("clientID", clientID)
	v.Set("code", code)
	v.Set("context[device][product]", product)
	if forward != "" {
		v.Set("forwardUrl", forward)
	}
	// url.Values sorts keys; Plex does not care about order.
	return base + "#?" + v.Encode()
}
