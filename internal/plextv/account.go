package plextv

import (
	"context"
	"errors"
	"net/http"
	"strings"
)

// Account is the part of plex.tv's UserPlexAccount this module uses: the
// account a token belongs to. The strings are as the account's owner typed
// them, unchecked: they may hold control characters or be long.
type Account struct {
	// ID is never 0 in an Account User returns.
	ID       int64  `json:"id"`
	UUID     string `json:"uuid"`
	Username string `json:"username"`
	Title    string `json:"title"`
	Email    string `json:"email"`
	// Thumb is the account's avatar URL (plex.tv's "thumb"); it may be
	// empty.
	Thumb string `json:"thumb"`
}

// Device is the part of plex.tv's PlexDevice this module uses: one entry of
// the resources a token's account reaches, a server or a player alike.
type Device struct {
	Name string `json:"name"`
	// ClientIdentifier is a server's machine identifier; it may be empty.
	ClientIdentifier string `json:"clientIdentifier"`
	// Provides is Plex's comma-separated list of roles ("server",
	// "client,player", …); see ProvidesServer.
	Provides string `json:"provides"`
	// Owned: the token's account owns the device.
	Owned bool `json:"owned"`
	// Home: the device is shared with the account within a Plex Home.
	Home bool `json:"home"`
}

// ProvidesServer says whether the device is a Plex Media Server: "server"
// is one of its Provides.
func (d Device) ProvidesServer() bool {
	for p := range strings.SplitSeq(d.Provides, ",") {
		if strings.TrimSpace(p) == "server" {
			return true
		}
	}
	return false
}

// User returns the account token belongs to. A token plex.tv refuses is
// ErrTokenRejected; an answer without an account id is an *Unavailable.
func (c *Client) User(ctx context.Context, token string) (*Account, error) {
	var u Account
	if err := c.do(ctx, http.MethodGet, userPath, token, &u); err != nil {
		return nil, err
	}
	if u.ID == 0 {
		return nil, &Unavailable{Status: http.StatusOK, Err: errors.New("plex.tv returned a user without id")}
	}
	return &u, nil
}

// Resources returns the devices and servers token's account can reach, as
// plex.tv lists them: players and clients among servers, a server possibly
// more than once, in plex.tv's order.
func (c *Client) Resources(ctx context.Context, token string) ([]Device, error) {
	var devices []Device
	if err := c.do(ctx, http.MethodGet, resourcesPath, token, &devices); err != nil {
		return nil, err
	}
	return devices, nil
}
