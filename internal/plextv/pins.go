package plextv

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Pin is the part of plex.tv's AuthPinContainer this module uses: a pin
// the user approves at Plex, after which it carries the user's token.
type Pin struct {
	// ID names the pin in CheckPin. plex.tv hands them out in sequence.
	ID int64 `json:"id"`
	// Code is what the user approves: part of the sign-in page's URL
	// (AppURL), or typed at plex.tv/link for a pin of CreateCodePin.
	Code string `json:"code"`
	// ExpiresIn is the pin's lifetime in seconds, as plex.tv gave it at
	// creation (0 when it said none).
	ExpiresIn int `json:"expiresIn"`
	// AuthToken is nil or empty until the user approved the pin, then the
	// token of the user's account.
	AuthToken *string `json:"authToken"`
}

// CreatePin asks plex.tv for a new strong pin, for the sign-in page. A
// returned pin has an ID and a Code; one without either is an
// *Unavailable.
func (c *Client) CreatePin(ctx context.Context) (*Pin, error) {
	return c.newPin(ctx, "/api/v2/pins?strong=true")
}

// CreateCodePin asks plex.tv for a pin whose code is short enough to type
// at https://plex.tv/link: without strong=true, plex.tv makes a
// four-character code (python-plexapi's MyPlexPinLogin does the same).
// Like CreatePin, it returns a pin with an ID and a Code or an error.
func (c *Client) CreateCodePin(ctx context.Context) (*Pin, error) {
	return c.newPin(ctx, "/api/v2/pins")
}

func (c *Client) newPin(ctx context.Context, path string) (*Pin, error) {
	var p Pin
	if err := c.do(ctx, http.MethodPost, path, "", &p); err != nil {
		return nil, err
	}
	if p.ID == 0 || p.Code == "" {
		return nil, &Unavailable{Status: http.StatusCreated, Err: errors.New("plex.tv returned a pin without id or code")}
	}
	return &p, nil
}

// CheckPin returns pin id as plex.tv knows it now; its AuthToken is set
// once the user approved. A pin unknown or expired is ErrPinNotFound.
func (c *Client) CheckPin(ctx context.Context, id int64) (*Pin, error) {
	var p Pin
	if err := c.do(ctx, http.MethodGet, "/api/v2/pins/"+strconv.FormatInt(id, 10), "", &p); err != nil {
		return nil, err
	}
	return &p, nil
}

const (
	// pollInterval is how often WaitForPin asks about the pin: about once
	// a second, as well-known clients do (python-plexapi's
	// MyPlexPinLogin.POLLINTERVAL is 1).
	pollInterval = time.Second
	// maxPollWait caps the wait between polls while plex.tv fails, unless
	// it asks for longer with Retry-After.
	maxPollWait = 30 * time.Second
)

// ErrCodeExpired: the pin WaitForPin waited on expired, or the wait's
// context reached its deadline, before anyone entered its code.
var ErrCodeExpired = errors.New("plex.tv: the pin expired before its code was entered")

// WaitForPin polls pin id about once a second until it carries a token, and
// returns the token. While plex.tv fails (*Unavailable) it waits longer
// each time, doubling up to 30 s, and at least as long as a Retry-After
// asks. It returns ErrCodeExpired when the pin expires or ctx's deadline
// passes, and any other error of CheckPin or of ctx as it is.
//
// sleep waits d or until ctx ends, returning ctx's error then; nil waits on
// a timer. Tests pass their own.
func (c *Client) WaitForPin(ctx context.Context, id int64, sleep func(ctx context.Context, d time.Duration) error) (string, error) {
	if sleep == nil {
		sleep = sleepCtx
	}
	wait := pollInterval
	for {
		if err := sleep(ctx, wait); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return "", ErrCodeExpired
			}
			return "", err
		}
		p, err := c.CheckPin(ctx, id)
		var un *Unavailable
		switch {
		case err == nil && p.AuthToken != nil && *p.AuthToken != "":
			return *p.AuthToken, nil
		case err == nil:
			wait = pollInterval
		case errors.Is(err, ErrPinNotFound):
			return "", ErrCodeExpired
		case errors.As(err, &un):
			wait = min(2*wait, maxPollWait)
			wait = max(wait, un.RetryAfter)
		default:
			return "", err
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// AppURL is where the browser signs in at Plex to approve the pin whose
// code this is: base is the sign-in page (e.g. https://app.plex.tv/auth),
// clientID and product the client's, forward where Plex sends the browser
// back ("" for none). The parameters travel in the fragment, as Plex
// expects: a browser never sends a fragment, so they stay out of
// app.plex.tv's logs. They are not out of every log: a redirect to this URL
// puts it in a Location header, which an access log that lists response
// headers records.
func AppURL(base, clientID, code, product, forward string) string {
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
