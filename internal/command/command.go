// Package command is the client side of the `caddy plex-auth` commands (the
// root registers them and defines their flags): sessions and signout ask a
// running Caddy's admin API (internal/admin serves it) and print the
// answer; setup signs the operator in at plex.tv from the terminal and
// prints a plex_auth block for the servers they own.
package command

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

	"github.com/caddy-plexauth/caddy-plexauth/internal/access"
	"github.com/caddy-plexauth/caddy-plexauth/internal/admin"
)

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

// Sessions is `caddy plex-auth sessions`: the sessions the running Caddy
// holds in memory, as a table on standard output, or with --json as the
// admin API answered them. Exit codes are Caddy's: 0, or 1 when the admin
// API could not be asked.
func Sessions(fl caddycmd.Flags) (int, error) {
	if fl.Bool("json") {
		var raw json.RawMessage
		if err := adminCall(fl, http.MethodGet, "/plex_auth/sessions", &raw); err != nil {
			return caddy.ExitCodeFailedStartup, err
		}
		_, _ = os.Stdout.Write(raw)
		return caddy.ExitCodeSuccess, nil
	}
	var list []admin.Session
	if err := adminCall(fl, http.MethodGet, "/plex_auth/sessions", &list); err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	printSessions(os.Stdout, list)
	return caddy.ExitCodeSuccess, nil
}

// printSessions writes the sessions as a table.
func printSessions(w io.Writer, list []admin.Session) {
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

// Signout is `caddy plex-auth signout <account id|username>`: it ends every
// session of the account through the admin API and says on standard output
// how many this instance held. A username is resolved against the
// sessions listed (see resolveAccount); exit codes are Sessions'.
func Signout(fl caddycmd.Flags) (int, error) {
	var list []admin.Session
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
func resolveAccount(arg string, list []admin.Session) (int64, string, error) {
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
	var matches []admin.Session
	for _, s := range list {
		if access.FoldASCII(s.Username) == folded && !slices.ContainsFunc(matches, func(m admin.Session) bool { return m.AccountID == s.AccountID }) {
			matches = append(matches, s)
		}
	}
	switch len(matches) {
	case 1:
		return matches[0].AccountID, matches[0].Username, nil
	case 0:
	default:
		slices.SortFunc(matches, func(a, b admin.Session) int { return cmp.Compare(a.AccountID, b.AccountID) })
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
