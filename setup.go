package plexauth

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	"github.com/caddy-plexauth/caddy-plexauth/internal/account"
	"github.com/caddy-plexauth/caddy-plexauth/internal/plextv"
)

// `caddy plex-auth setup`: the operator signs in from the terminal with a
// code typed at plex.tv/link, and gets the machine identifiers of the
// servers they own and a plex_auth block that reads the owner token from
// the environment.

// plexLinkURL is where a pin's short code is entered.
const plexLinkURL = "https://plex.tv/link"

var errCodeExpired = errors.New("the code expired before it was entered; run setup again")

// setupOptions are what `caddy plex-auth setup` was given.
type setupOptions struct {
	plexTV    string
	product   string
	showToken bool
	out       io.Writer
	// sleep waits d or until ctx ends; nil waits on a timer, tests
	// replace it (plextv's WaitForPin).
	sleep func(ctx context.Context, d time.Duration) error
}

func cmdSetup(fl caddycmd.Flags) (int, error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	err := runSetup(ctx, setupOptions{
		plexTV:    fl.String("plex-tv-url"),
		product:   fl.String("product"),
		showToken: fl.Bool("show-token"),
		out:       os.Stdout,
	})
	if err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	return caddy.ExitCodeSuccess, nil
}

func runSetup(ctx context.Context, o setupOptions) error {
	base := strings.TrimRight(o.plexTV, "/")
	if err := validHTTPURL(base); err != nil {
		return fmt.Errorf("--plex-tv-url: %v", err)
	}
	if o.product == "" {
		o.product = defaultProduct
	}
	// A client identifier of its own: plex.tv lists the sign-in as one
	// device, which the owner can remove to revoke the token.
	c := newPlexClient(base, o.product, "caddy-plexauth-setup-"+hex.EncodeToString(randomBytes(8)), defaultTimeout)
	defer c.CloseIdleConnections()

	pin, err := c.CreateCodePin(ctx)
	if err != nil {
		return fmt.Errorf("asking plex.tv for a code: %w", err)
	}
	link := plexLinkURL
	if base != defaultPlexTVURL {
		link = base + "/link"
	}
	ttl := time.Duration(pin.ExpiresIn) * time.Second
	if ttl <= 0 {
		ttl = 15 * time.Minute
	}
	fmt.Fprintf(o.out, "Sign in as the owner of your Plex Media Server:\n  open %s and enter %s\n", link, pin.Code)
	fmt.Fprintf(o.out, "Waiting for the code to be entered (it expires in %d minutes; Ctrl-C gives up)…\n", int(ttl.Round(time.Minute)/time.Minute))

	wctx, cancel := context.WithTimeout(ctx, ttl)
	token, err := c.WaitForPin(wctx, pin.ID, o.sleep)
	cancel()
	if errors.Is(err, plextv.ErrCodeExpired) {
		err = errCodeExpired
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
	owned := ownedServers(devices)

	fmt.Fprintf(o.out, "\nSigned in as %s (%s), Plex account %d.\n\n", account.Clean(u.Username), account.Clean(u.Title), u.ID)
	if len(owned) == 0 {
		fmt.Fprintln(o.out, "This account owns no Plex Media Server. Run setup again and sign in with the account that owns the server.")
		return errors.New("the account owns no Plex Media Server")
	}
	fmt.Fprintln(o.out, "Plex Media Servers this account owns:")
	for _, d := range owned {
		fmt.Fprintf(o.out, "  %-24s %s\n", account.Clean(d.Name), d.ClientIdentifier)
	}
	fmt.Fprintln(o.out, "\nPaste this into the site block of each site to protect:")
	fmt.Fprintln(o.out)
	fmt.Fprint(o.out, setupBlock(owned, base))
	fmt.Fprintln(o.out, "\nand give Caddy the owner token in its environment, never in the Caddyfile:")
	fmt.Fprintln(o.out)
	if o.showToken {
		fmt.Fprintf(o.out, "\tPLEX_TOKEN=%s\n", token)
	} else {
		fmt.Fprintln(o.out, "\tPLEX_TOKEN=<the token: run 'caddy plex-auth setup --show-token' to print it>")
	}
	fmt.Fprintf(o.out, "\nThe token acts as your Plex account: keep it secret. plex.tv lists this sign-in as\nthe device %q under Authorized Devices; removing it there revokes the token.\n", o.product)
	return nil
}

// setupBlock is the plex_auth block for the servers, indented to go inside
// a site block.
func setupBlock(owned []plextv.Device, base string) string {
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
	if base != defaultPlexTVURL {
		b.WriteString("\t\tplex_tv_url " + base + "\n")
	}
	b.WriteString("\t}\n")
	return b.String()
}

// ownedServers returns the Plex Media Servers among devices that the
// account owns, each once.
func ownedServers(devices []plextv.Device) []plextv.Device {
	var out []plextv.Device
	seen := map[string]bool{}
	for _, d := range devices {
		// A machine identifier goes into the Caddyfile as one token.
		if !d.Owned || !d.ProvidesServer() || checkServerID(d.ClientIdentifier) != nil || seen[d.ClientIdentifier] {
			continue
		}
		seen[d.ClientIdentifier] = true
		out = append(out, d)
	}
	return out
}
