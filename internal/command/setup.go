package command

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/caddy-plexauth/caddy-plexauth/internal/account"
	"github.com/caddy-plexauth/caddy-plexauth/internal/plextv"
)

// `caddy plex-auth setup`: the operator signs in from the terminal with a
// code typed at plex.tv/link, and gets the machine identifiers of the
// servers they own and a plex_auth block that reads the owner token from
// the environment.

// plexLinkURL is where a pin's short code is entered.
const plexLinkURL = "https://plex.tv/link"

// ErrCodeExpired is Setup's error when the code expired before the
// operator entered it.
var ErrCodeExpired = errors.New("the code expired before it was entered; run setup again")

// SetupOptions are what Setup works with; the root builds them from the
// command's flags.
type SetupOptions struct {
	// Client asks plex.tv, at the base URL the operator gave
	// (Client.BaseURL), as a device of its own: plex.tv lists the sign-in
	// as one device, which the owner can remove to revoke the token.
	Client *plextv.Client
	// DefaultPlexTV is plex.tv's own base URL: at it the code is entered
	// at https://plex.tv/link, and the block needs no plex_tv_url line.
	DefaultPlexTV string
	// Product is the name plex.tv shows for the sign-in (the client's).
	Product string
	// ShowToken prints the owner token itself.
	ShowToken bool
	// Out is where everything is printed.
	Out io.Writer
	// Sleep waits d or until ctx ends; nil waits on a timer, tests
	// replace it (plextv's WaitForPin).
	Sleep func(ctx context.Context, d time.Duration) error
	// CheckServerID is the Caddyfile's check of a machine identifier: a
	// server whose identifier it refuses is not listed, since the block
	// would not load.
	CheckServerID func(id string) error
}

// Setup signs the operator in with a code to enter at plex.tv's link
// page, waits for it (at most as long as plex.tv keeps the code, or until
// ctx ends), and prints the account, the Plex Media Servers it owns and a
// plex_auth block for them that reads the owner token from PLEX_TOKEN.
// The token is printed only with ShowToken. It fails with ErrCodeExpired
// when the code ran out, and when the account owns no server.
func Setup(ctx context.Context, o SetupOptions) error {
	c, base := o.Client, o.Client.BaseURL()
	pin, err := c.CreateCodePin(ctx)
	if err != nil {
		return fmt.Errorf("asking plex.tv for a code: %w", err)
	}
	link := plexLinkURL
	if base != o.DefaultPlexTV {
		link = base + "/link"
	}
	ttl := time.Duration(pin.ExpiresIn) * time.Second
	if ttl <= 0 {
		ttl = 15 * time.Minute
	}
	fmt.Fprintf(o.Out, "Sign in as the owner of your Plex Media Server:\n  open %s and enter %s\n", link, pin.Code)
	fmt.Fprintf(o.Out, "Waiting for the code to be entered (it expires in %d minutes; Ctrl-C gives up)…\n", int(ttl.Round(time.Minute)/time.Minute))

	wctx, cancel := context.WithTimeout(ctx, ttl)
	token, err := c.WaitForPin(wctx, pin.ID, o.Sleep)
	cancel()
	if errors.Is(err, plextv.ErrCodeExpired) {
		err = ErrCodeExpired
	}
	if err != nil {
		return err
	}
	u, err := c.User(ctx, token)
	if err != nil {
		return fmt.Errorf("asking plex.tv who signed in: %w", err)
	}
	devices, err := c.Resources(ctx, token)
	if err != nil {
		return fmt.Errorf("asking plex.tv for the account's servers: %w", err)
	}
	owned := ownedServers(devices, o.CheckServerID)

	fmt.Fprintf(o.Out, "\nSigned in as %s (%s), Plex account %d.\n\n", account.Clean(u.Username), account.Clean(u.Title), u.ID)
	if len(owned) == 0 {
		fmt.Fprintln(o.Out, "This account owns no Plex Media Server. Run setup again and sign in with the account that owns the server.")
		return errors.New("the account owns no Plex Media Server")
	}
	fmt.Fprintln(o.Out, "Plex Media Servers this account owns:")
	for _, d := range owned {
		fmt.Fprintf(o.Out, "  %-24s %s\n", account.Clean(d.Name), d.ClientIdentifier)
	}
	fmt.Fprintln(o.Out, "\nPaste this into the site block of each site to protect:")
	fmt.Fprintln(o.Out)
	plexTV := ""
	if base != o.DefaultPlexTV {
		plexTV = base
	}
	fmt.Fprint(o.Out, setupBlock(owned, plexTV))
	fmt.Fprintln(o.Out, "\nand give Caddy the owner token in its environment, never in the Caddyfile:")
	fmt.Fprintln(o.Out)
	if o.ShowToken {
		fmt.Fprintf(o.Out, "\tPLEX_TOKEN=%s\n", token)
	} else {
		fmt.Fprintln(o.Out, "\tPLEX_TOKEN=<the token: run 'caddy plex-auth setup --show-token' to print it>")
	}
	fmt.Fprintf(o.Out, "\nThe token acts as your Plex account: keep it secret. plex.tv lists this sign-in as\nthe device %q under Authorized Devices; removing it there revokes the token.\n", o.Product)
	return nil
}

// setupBlock is the plex_auth block for the servers, indented to go inside
// a site block; plexTV, unless "", is its plex_tv_url.
func setupBlock(owned []plextv.Device, plexTV string) string {
	var b strings.Builder
	b.WriteString("\tplex_auth {\n")
	if len(owned) > 1 {
		b.WriteString("\t\t# users of any of these servers get in: keep the ones you mean\n")
	}
	b.WriteString("\t\tserver")
	for _, d := range owned {
		b.WriteString(" " + d.ClientIdentifier)
	}
	b.WriteString("\n\t\towner_token {env.PLEX_TOKEN}\n")
	if plexTV != "" {
		b.WriteString("\t\tplex_tv_url " + plexTV + "\n")
	}
	b.WriteString("\t}\n")
	return b.String()
}

// ownedServers returns the Plex Media Servers among devices that the
// account owns, each once, leaving out those whose identifier check
// refuses.
func ownedServers(devices []plextv.Device, check func(id string) error) []plextv.Device {
	var out []plextv.Device
	seen := map[string]bool{}
	for _, d := range devices {
		// A machine identifier goes into the Caddyfile as one token.
		if !d.Owned || !d.ProvidesServer() || check(d.ClientIdentifier) != nil || seen[d.ClientIdentifier] {
			continue
		}
		seen[d.ClientIdentifier] = true
		out = append(out, d)
	}
	return out
}
