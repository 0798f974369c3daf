package plexauth

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/caddy-plexauth/caddy-plexauth/internal/command"
)

// The `caddy plex-auth` commands, registered with Caddy's: sessions and
// signout talk to a running Caddy through its admin API (admin.go and
// internal/admin serve it; internal/command asks it and prints); setup
// signs the operator in at plex.tv from the terminal (setup.go,
// internal/command).

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "plex-auth",
		Usage: "sessions|signout|setup",
		Short: "Sessions and set-up of the plex_auth handler",
		Long: `
Commands for the plex_auth handler.

  caddy plex-auth sessions                         who is signed in on a running Caddy
  caddy plex-auth signout <account id|username>    end every session of that Plex account
  caddy plex-auth setup                            sign in at plex.tv and print a plex_auth block

sessions and signout use the admin API of a running Caddy: --address names its
endpoint, as for 'caddy reload'; otherwise it is read from --config (and
--adapter), or from a Caddyfile in the current folder, else the default
(localhost:2019).
`,
		CobraFunc: func(cmd *cobra.Command) {
			adminFlags := func(c *cobra.Command) {
				c.Flags().StringP("config", "c", "", "Configuration file to read the admin address from, if --address is not used")
				c.Flags().StringP("adapter", "a", "", "Name of config adapter to apply (when --config is used)")
				c.Flags().String("address", "", "The address of the admin API endpoint, if not the default")
			}

			sessions := &cobra.Command{
				Use:   "sessions [--json] [--address <interface>] [--config <path> [--adapter <name>]]",
				Short: "Lists the sessions a running Caddy holds in memory",
				Long: `
Lists the plex_auth sessions the running Caddy holds in memory: a handle (for
DELETE /plex_auth/sessions/<handle> on the admin API), the Plex account, its
tiers on its servers, and when the session began, ends and was last checked
with plex.tv. --json prints the admin API's answer as it is.
`,
				Args: cobra.NoArgs,
				RunE: caddycmd.WrapCommandFuncForCobra(command.Sessions),
			}
			adminFlags(sessions)
			sessions.Flags().Bool("json", false, "Print JSON")
			cmd.AddCommand(sessions)

			signout := &cobra.Command{
				Use:   "signout <account id|username> [--address <interface>] [--config <path> [--adapter <name>]]",
				Short: "Ends every session of a Plex account",
				Long: `
Ends every session of the Plex account, given by its id or, when it has a
session on this instance, its username: at once on this instance, and within
a second on every instance sharing its session store. The account can sign in
again afterwards; to keep it out, change the rules (or its access on Plex).
A username is matched ignoring ASCII case only, as allow_users matches one; a
name that matches more than one account signs out nobody and lists them.
`,
				Args: cobra.ExactArgs(1),
				RunE: caddycmd.WrapCommandFuncForCobra(command.Signout),
			}
			adminFlags(signout)
			cmd.AddCommand(signout)

			setup := &cobra.Command{
				Use:   "setup [--show-token] [--plex-tv-url <url>]",
				Short: "Signs in at plex.tv and prints a plex_auth block for your servers",
				Long: `
Signs you in at plex.tv with a code to enter at https://plex.tv/link, lists the
Plex Media Servers your account owns with their machine identifiers, and prints
a plex_auth block ready to paste, which reads the owner token from the
environment variable PLEX_TOKEN. The token itself is printed only with
--show-token: it gives access to your Plex account, so keep it out of shell
history, logs and the Caddyfile.
`,
				Args: cobra.NoArgs,
				RunE: caddycmd.WrapCommandFuncForCobra(cmdSetup),
			}
			setup.Flags().Bool("show-token", false, "Print the Plex token too")
			setup.Flags().String("plex-tv-url", defaultPlexTVURL, "Base URL of plex.tv")
			setup.Flags().String("product", defaultProduct, "Product name plex.tv shows for this sign-in")
			cmd.AddCommand(setup)
		},
	})
}
