// Package plextv is the plex.tv client: pins and the link codes of
// `caddy plex-auth setup`, the account behind a token, the servers and
// devices it reaches, and the owner's list of people it shares with. It
// speaks Plex and nothing else: it returns Plex's own shapes (Pin, Account,
// Device, SharedUser) and tells Plex's failures apart (ErrPinNotFound,
// ErrTokenRejected, *Unavailable), and leaves what they mean for access,
// sessions and answers to its caller.
//
// The calls are those of the Plex API descriptions (LukeHagar/plex-api-spec,
// developer.plex.tv) that well-known clients make (python-plexapi,
// Overseerr's server/api/plextv.ts).
package plextv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// moduleVersion is sent as X-Plex-Version.
const moduleVersion = "1.0.0"

// maxBody bounds how much of a plex.tv answer is read.
const maxBody = 4 << 20

// statusTokenExpired is what plex.tv answers for an expired token: Plex's
// JWT tokens last 7 days (JWT authentication, developer.plex.tv).
const statusTokenExpired = 498

// userPath is plex.tv's "who is this token" call.
const userPath = "/api/v2/user"

// resourcesPath lists the devices and servers a token's account reaches.
const resourcesPath = "/api/v2/resources?includeHttps=1&includeRelay=1"

// The endpoints a call is reported under (Config.Observe). They are stable:
// they name metrics' label values.
const (
	EndpointPins      = "pins"      // POST /api/v2/pins: a new pin
	EndpointPin       = "pin"       // GET /api/v2/pins/{id}: is it approved
	EndpointUser      = "user"      // GET /api/v2/user: whose token is this
	EndpointResources = "resources" // GET /api/v2/resources: the account's servers
	EndpointUsers     = "users"     // GET /api/users: whom the owner shares with
	EndpointOther     = "other"
)

// Config is what a Client is made of.
type Config struct {
	// BaseURL is plex.tv's address, e.g. https://plex.tv, without a
	// trailing slash.
	BaseURL string
	// Product is sent as X-Plex-Product and X-Plex-Device-Name: plex.tv
	// lists a sign-in under this name.
	Product string
	// ClientID is sent as X-Plex-Client-Identifier.
	ClientID string
	// Timeout bounds every call, from the request until its answer is read.
	Timeout time.Duration
	// HTTP makes the calls; nil is an http.Client with Timeout.
	HTTP *http.Client
	// Observe, if set, is told of every call once it ended: its endpoint
	// (one of the Endpoint constants), plex.tv's HTTP status (0: no answer
	// came: unreachable, timed out, connection reset) and how long it took
	// until the answer was read or the call failed. It runs on the
	// caller's goroutine and must not block.
	Observe func(endpoint string, status int, took time.Duration)
}

// Client talks to plex.tv. It is safe for concurrent use. Every call is
// bounded by the configured timeout, and a token travels in the
// X-Plex-Token header, never in a URL.
type Client struct {
	base     string
	product  string
	clientID string
	timeout  time.Duration
	http     *http.Client
	observe  func(endpoint string, status int, took time.Duration)
}

// New returns a client for cfg.
func New(cfg Config) *Client {
	hc := cfg.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: cfg.Timeout}
	}
	return &Client{
		base:     cfg.BaseURL,
		product:  cfg.Product,
		clientID: cfg.ClientID,
		timeout:  cfg.Timeout,
		http:     hc,
		observe:  cfg.Observe,
	}
}

// BaseURL is plex.tv's address, as configured.
func (c *Client) BaseURL() string { return c.base }

// Timeout is the bound of each call, as configured.
func (c *Client) Timeout() time.Duration { return c.timeout }

// CloseIdleConnections closes the client's idle connections to plex.tv.
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

// Errors of a plex.tv call that a caller tells apart with errors.Is. Besides
// these and *Unavailable, an answer plex.tv should not give (another 4xx)
// is a plain error naming the call and the status.
var (
	// ErrPinNotFound: plex.tv answered 404 (code 1020) about a pin: it is
	// unknown or expired.
	ErrPinNotFound = errors.New("plex.tv: pin not found or expired")
	// ErrTokenRejected: plex.tv no longer accepts the token (revoked,
	// expired or invalid): it answered 401 or 498, or any other 4xx to the
	// user call, which takes nothing but the token. The returned error
	// wraps it with the call and the status.
	ErrTokenRejected = errors.New("plex.tv: token rejected")
)

// Unavailable is plex.tv being unreachable, slow past the timeout,
// answering 5xx or 429, or answering what cannot be read. A caller finds
// it with errors.As; it says nothing about the token, which may be fine.
type Unavailable struct {
	// Status is plex.tv's HTTP status; 0 when no answer came.
	Status int
	// RetryAfter is what a 429's or 5xx's Retry-After asked for (seconds
	// or an HTTP date), 0 without one.
	RetryAfter time.Duration
	// Err is the cause: the transport's error, or what was wrong with the
	// answer.
	Err error
}

// RetryAfter is the wait plex.tv's Retry-After asked for when err is an
// *Unavailable (Unavailable.RetryAfter), else 0.
func RetryAfter(err error) time.Duration {
	var un *Unavailable
	if errors.As(err, &un) {
		return un.RetryAfter
	}
	return 0
}

// Error says plex.tv's status, or why no answer came. It never holds a
// token: tokens travel in headers, not in the URLs errors may name.
func (e *Unavailable) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("plex.tv answered %d", e.Status)
	}
	return "plex.tv unreachable: " + e.Err.Error()
}

// Unwrap returns Err, so that errors.Is and errors.As see the cause (a
// context deadline, a net.Error).
func (e *Unavailable) Unwrap() error { return e.Err }

// What kind of failure an error of a call is (Problem).
const (
	// ProblemUnreachable: the name did not resolve, or the connection was
	// refused or could not be made: this server's network or DNS.
	ProblemUnreachable = "unreachable"
	// ProblemTimeout: no answer in time.
	ProblemTimeout = "timeout"
	// ProblemError: plex.tv answered with an error, or dropped the
	// connection; also any error Problem does not recognise.
	ProblemError = "error"
)

// Problem says what kind of failure err is: ProblemUnreachable,
// ProblemTimeout or ProblemError. An error that carries plex.tv's answer
// (an *Unavailable with a Status) is always ProblemError.
func Problem(err error) string {
	var un *Unavailable
	if errors.As(err, &un) && un.Status != 0 {
		return ProblemError
	}
	var op *net.OpError
	var ne net.Error
	switch {
	case errors.As(err, new(*net.DNSError)), errors.As(err, &op) && op.Op == "dial", errors.Is(err, syscall.ECONNREFUSED):
		return ProblemUnreachable
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return ProblemTimeout
	}
	return ProblemError
}

// endpoint names the call a request path belongs to.
func endpoint(path string) string {
	p, _, _ := strings.Cut(path, "?")
	switch {
	case p == "/api/v2/pins":
		return EndpointPins
	case strings.HasPrefix(p, "/api/v2/pins/"):
		return EndpointPin
	case p == userPath:
		return EndpointUser
	case p == "/api/v2/resources":
		return EndpointResources
	case p == "/api/users":
		return EndpointUsers
	}
	return EndpointOther
}

// observed reports one call to the observer; status 0 is no answer.
func (c *Client) observed(path string, status int, start time.Time) {
	if c.observe != nil {
		c.observe(endpoint(path), status, time.Since(start))
	}
}

func (c *Client) do(ctx context.Context, method, path, token string, out any) error {
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
		c.observed(path, 0, start)
		return &Unavailable{Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	c.observed(path, resp.StatusCode, start)
	if err != nil {
		return &Unavailable{Err: err}
	}
	switch {
	case resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusCreated:
		if err := decodeBody(resp.Header.Get("Content-Type"), body, out); err != nil {
			return &Unavailable{Status: resp.StatusCode, Err: fmt.Errorf("decoding %s: %w", path, err)}
		}
		return nil
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == statusTokenExpired:
		return fmt.Errorf("%w: %s %s answered %d", ErrTokenRejected, method, path, resp.StatusCode)
	case resp.StatusCode == http.StatusNotFound && strings.HasPrefix(path, "/api/v2/pins/"):
		return ErrPinNotFound
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return &Unavailable{Status: resp.StatusCode, RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After")), Err: errors.New(resp.Status)}
	case resp.StatusCode >= 400 && path == userPath:
		// The user call takes nothing but the token, so any other 4xx is
		// about the token: python-plexapi's MyPlexAccount.query reads 422
		// "Invalid token" as Unauthorized, and a 403 leaves no use for it.
		return fmt.Errorf("%w: %s %s answered %d", ErrTokenRejected, method, path, resp.StatusCode)
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
