package plexauth

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	"github.com/caddy-plexauth/caddy-plexauth/internal/access"
	"github.com/caddy-plexauth/caddy-plexauth/internal/command"
)

// `caddy plex-auth setup`: the flags checked and a plex.tv client made as
// the handlers make theirs; the sign-in from the terminal and the block it
// prints are internal/command's.

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
	return command.Setup(ctx, command.SetupOptions{
		Client:        c,
		DefaultPlexTV: defaultPlexTVURL,
		Product:       o.product,
		ShowToken:     o.showToken,
		Out:           o.out,
		Sleep:         o.sleep,
		CheckServerID: access.CheckServerID,
	})
}
