package plexauth

import (
	"net/http"
	"time"

	"github.com/caddy-plexauth/caddy-plexauth/internal/plextv"
)

// The plex.tv client (internal/plextv) as this module configures it; a
// session's content from the account and servers plex.tv reports is
// internal/account's.

// newPlexClient is the plex.tv client of a plex_auth block or of setup:
// every call bounded by timeout, and counted in the metrics.
func newPlexClient(base, product, clientID string, timeout time.Duration) *plextv.Client {
	return plextv.New(plextv.Config{
		BaseURL:  base,
		Product:  product,
		ClientID: clientID,
		Timeout:  timeout,
		HTTP:     &http.Client{Timeout: timeout},
		Observe:  observePlexCall,
	})
}
