package plexauth

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/caddy-plexauth/caddy-plexauth/internal/access"
)

// The `caddy plex-auth` commands: sessions and signout talk to a running
// Caddy through its admin API (admin.go); setup signs the operator in at
// plex.tv from the terminal (setup.go).

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
				RunE: caddycmd.WrapCommandFuncForCobra(cmdSessions),
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
				RunE: caddycmd.WrapCommandFuncForCobra(cmdSignout),
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

// adminAddress finds the admin endpoint as `caddy reload` does: --address,
// else the config file given or found in the current folder, else the
// default.
func adminAddress(fl caddycmd.Flags) (string, error) {
	address, configFile, adapter := fl.String("address"), fl.String("config"), fl.String("adapter")
	var config []byte
	if address == "" {
		var err error
		if config, configFile, _, err = caddycmd.LoadConfig(configFile, adapter); err != nil {
			return "", err
		}
	}
	addr, err := caddycmd.DetermineAdminAPIAddress(address, config, configFile, adapter)
	if err != nil {
		return "", fmt.Errorf("couldn't determine admin API address: %v", err)
	}
	return addr, nil
}

// adminCall makes a request to the admin API and decodes its JSON answer.
func adminCall(fl caddycmd.Flags, method, uri string, out any) error {
	addr, err := adminAddress(fl)
	if err != nil {
		return err
	}
	resp, err := caddycmd.AdminAPIRequest(addr, method, uri, nil, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	if raw, ok := out.(*json.RawMessage); ok {
		b, err := io.ReadAll(resp.Body)
		*raw = b
		return err
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func cmdSessions(fl caddycmd.Flags) (int, error) {
	if fl.Bool("json") {
		var raw json.RawMessage
		if err := adminCall(fl, http.MethodGet, "/plex_auth/sessions", &raw); err != nil {
			return caddy.ExitCodeFailedStartup, err
		}
		_, _ = os.Stdout.Write(raw)
		return caddy.ExitCodeSuccess, nil
	}
	var list []adminSession
	if err := adminCall(fl, http.MethodGet, "/plex_auth/sessions", &list); err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	printSessions(os.Stdout, list)
	return caddy.ExitCodeSuccess, nil
}

// printSessions writes the sessions as a table.
func printSessions(w io.Writer, list []adminSession) {
	if len(list) == 0 {
		fmt.Fprintln(w, "No plex_auth sessions in memory on this instance.")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "HANDLE\tACCOUNT\tUSERNAME\tNAME\tTIERS\tSIGNED IN\tEXPIRES\tCHECKED")
	when := func(t time.Time) string { return t.Local().Format("2006-01-02 15:04") }
	for _, s := range list {
		tiers := strings.Join(s.Tiers, ",")
		if tiers == "" {
			tiers = "-"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Handle, s.AccountID, s.Username, s.Title, tiers,
			when(s.Created), when(s.Expires), when(s.Checked))
	}
	_ = tw.Flush()
}

func cmdSignout(fl caddycmd.Flags) (int, error) {
	var list []adminSession
	if err := adminCall(fl, http.MethodGet, "/plex_auth/sessions", &list); err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	id, name, err := resolveAccount(fl.Arg(0), list)
	if err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	var answer struct {
		Ended int `json:"ended"`
	}
	if err := adminCall(fl, http.MethodDelete, "/plex_auth/users/"+url.PathEscape(strconv.FormatInt(id, 10)), &answer); err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	who := fmt.Sprintf("Plex account %d", id)
	if name != "" {
		who = fmt.Sprintf("%s (Plex account %d)", name, id)
	}
	fmt.Printf("Signed out %s: %d session(s) ended on this instance; instances sharing its session store end theirs within a second.\n", who, answer.Ended)
	return caddy.ExitCodeSuccess, nil
}

// resolveAccount reads arg as an account id or as the username of a
// session in list, and returns the id and the username when known.
//
// A username is compared as allow_users compares one, ignoring ASCII case
// only: with Unicode case folding the Kelvin sign (U+212A) is a "k", so
// an account named with it would answer for "kevin". A name that more
// than one account's username matches, exactly or not, signs out nobody:
// "kevin" typed for the account "Kevin" must not end "kevin" instead, so
// an exact match does not win either; the error lists the candidates.
func resolveAccount(arg string, list []adminSession) (int64, string, error) {
	arg = strings.TrimSpace(arg)
	if arg == "" {
		return 0, "", errors.New("give an account id or a username")
	}
	for _, s := range list {
		if strconv.FormatInt(s.AccountID, 10) == arg {
			return s.AccountID, s.Username, nil
		}
	}
	folded := access.FoldASCII(arg)
	var matches []adminSession
	for _, s := range list {
		if access.FoldASCII(s.Username) == folded && !slices.ContainsFunc(matches, func(m adminSession) bool { return m.AccountID == s.AccountID }) {
			matches = append(matches, s)
		}
	}
	switch len(matches) {
	case 1:
		return matches[0].AccountID, matches[0].Username, nil
	case 0:
	default:
		slices.SortFunc(matches, func(a, b adminSession) int { return cmp.Compare(a.AccountID, b.AccountID) })
		candidates := make([]string, len(matches))
		for i, m := range matches {
			// Quoted in ASCII, so that look-alike letters show.
			candidates[i] = strconv.FormatInt(m.AccountID, 10) + " " + strconv.QuoteToASCII(m.Username)
		}
		return 0, "", fmt.Errorf("%s is the username of more than one account with a session on this instance: %s; nobody was signed out, give the account id instead",
			strconv.QuoteToASCII(arg), strings.Join(candidates, ", "))
	}
	if id, err := strconv.ParseInt(arg, 10, 64); err == nil && id > 0 {
		return id, "", nil
	}
	return 0, "", fmt.Errorf("no session of a user named %s on this instance; give the Plex account id instead (the {http.auth.user.id} placeholder, or the account column of 'caddy plex-auth sessions')", strconv.QuoteToASCII(arg))
}
