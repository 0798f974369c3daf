package plexauth

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
)

// `caddy plex-auth setup`: the operator signs in from the terminal with a
// code typed at plex.tv/link, and gets the machine identifiers of the
// servers they own and a plex_auth block that reads the owner token from
// the environment.

const (
	// setupPollInterval is how often the pin is asked about: about once a
	// second, as well-known clients do (python-plexapi's
	// MyPlexPinLogin.POLLINTERVAL is 1).
	setupPollInterval = time.Second
	// setupMaxWait caps the wait between polls while plex.tv fails,
	// unless it asks for longer with Retry-After.
	setupMaxWait = 30 * time.Second
	// plexLinkURL is where a pin's short code is entered.
	plexLinkURL = "https://plex.tv/link"
)

var errCodeExpired = errors.New("the code expired before it was entered; run setup again")

// setupOptions are what `caddy plex-auth setup` was given.
type setupOptions struct {
	plexTV    string
	product   string
	showToken bool
	out       io.Writer
	// sleep waits d or until ctx ends; tests replace it.
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
		sleep:     sleepCtx,
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
	c := &plexClient{
		base:    base,
		product: o.product,
		// A client identifier of its own: plex.tv lists the sign-in as one
		// device, which the owner can remove to revoke the token.
		clientID: "caddy-plexauth-setup-" + hex.EncodeToString(randomBytes(8)),
		timeout:  defaultTimeout,
		http:     &http.Client{Timeout: defaultTimeout},
	}
	defer c.http.CloseIdleConnections()

	pin, err := c.createCodePin(ctx)
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
	token, err := waitForPin(wctx, c, pin.ID, o.sleep)
	cancel()
	if err != nil {
		return err
	}
	u, err := c.user(ctx, token)
	if err != nil {
		return fmt.Errorf("asking plex.tv who signed in: %w", err)
	}
	devices, err := c.resources(ctx, token)
	if err != nil {
		return fmt.Errorf("asking plex.tv for the account's servers: %w", err)
	}
	owned := ownedServers(devices)

	fmt.Fprintf(o.out, "\nSigned in as %s (%s), Plex account %d.\n\n", cleanAccountValue(u.Username), cleanAccountValue(u.Title), u.ID)
	if len(owned) == 0 {
		fmt.Fprintln(o.out, "This account owns no Plex Media Server. Run setup again and sign in with the account that owns the server.")
		return errors.New("the account owns no Plex Media Server")
	}
	fmt.Fprintln(o.out, "Plex Media Servers this account owns:")
	for _, d := range owned {
		fmt.Fprintf(o.out, "  %-24s %s\n", cleanAccountValue(d.Name), d.ClientIdentifier)
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
func setupBlock(owned []plexDevice, base string) string {
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
func ownedServers(devices []plexDevice) []plexDevice {
	var out []plexDevice
	seen := map[string]bool{}
	for _, d := range devices {
		// A machine identifier goes into the Caddyfile as one token.
		if !d.Owned || !providesServer(d.Provides) || checkServerID(d.ClientIdentifier) != nil || seen[d.ClientIdentifier] {
			continue
		}
		seen[d.ClientIdentifier] = true
		out = append(out, d)
	}
	return out
}

// waitForPin polls the pin about once a second until it carries a token.
// While plex.tv fails it waits longer each time, and at least as long as a
// 429's Retry-After asks.
func waitForPin(ctx context.Context, c *plexClient, pinID int64, sleep func(context.Context, time.Duration) error) (string, error) {
	wait := setupPollInterval
	for {
		if err := sleep(ctx, wait); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return "", errCodeExpired
			}
			return "", err
		}
		p, err := c.checkPin(ctx, pinID)
		var un *plexUnavailable
		switch {
		case err == nil && p.AuthToken != nil && *p.AuthToken != "":
			return *p.AuthToken, nil
		case err == nil:
			wait = setupPollInterval
		case errors.Is(err, errPinNotFound):
			return "", errCodeExpired
		case errors.As(err, &un):
			wait = min(2*wait, setupMaxWait)
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
