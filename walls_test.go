package plexauth

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestPackagesKeepTheirWalls checks, with go list, the walls README.md's
// "How the code is laid out" draws: what each package may import of ours,
// directly or through another package (tests aside), and that nothing but
// tests imports the fake plex.tv.
func TestPackagesKeepTheirWalls(t *testing.T) {
	const mod = "github.com/caddy-plexauth/caddy-plexauth"
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		deps[f[0]] = f[1:]
	}
	ours := func(p string) bool { return p == mod || strings.HasPrefix(p, mod+"/") }
	for _, w := range []struct {
		pkg    string
		banned func(dep string) bool
		rule   string
	}{
		{"internal/access", func(d string) bool {
			return ours(d) || d == "net/http" || strings.HasPrefix(d, "github.com/caddyserver/")
		}, "imports no package of this module, nor net/http, nor Caddy"},
		{"internal/plextv", ours, "imports no package of this module"},
		{"internal/session", func(d string) bool {
			return d == mod || d == mod+"/internal/plextv" || d == mod+"/internal/access"
		}, "imports neither internal/plextv nor internal/access nor the root (a session holds facts; it does not decide)"},
		{"internal/signin", func(d string) bool {
			return ours(d) || d == "net/http" || strings.HasPrefix(d, "github.com/caddyserver/") || strings.HasPrefix(d, "go.uber.org/zap")
		}, "imports no package of this module, nor net/http, Caddy or zap (a budget decides; the root answers and logs)"},
		{"internal/oidc", func(d string) bool { return ours(d) && d != mod+"/internal/seal" },
			"imports of this module only internal/seal, which seals the grants as it seals the session entries (the protocol; the endpoints are internal/oidcprovider's)"},
		{"internal/seal", ours, "imports no package of this module (cookies and stored records are sealed the same for every caller)"},
		{"internal/oidcprovider", func(d string) bool {
			return ours(d) && d != mod+"/internal/oidc" && d != mod+"/internal/seal" && d != mod+"/internal/access" || strings.HasPrefix(d, "github.com/caddyserver/")
		}, "imports of this module only internal/oidc (the protocol, with internal/seal beneath it) and internal/access (a client's own allow_users and allow_tier), and no Caddy: who is signed in, the block's decision, the sessions and the pages are the root's, through oidcprovider.Host"},
		{"internal/account", func(d string) bool {
			return ours(d) && d != mod+"/internal/plextv" && d != mod+"/internal/access" && d != mod+"/internal/session" && d != mod+"/internal/seal"
		}, "imports of this module only internal/plextv, internal/access and internal/session (with internal/seal beneath it, which seals the entries), not the root"},
		{"internal/ownerlist", func(d string) bool {
			return ours(d) && d != mod+"/internal/plextv" && d != mod+"/internal/access" && d != mod+"/internal/seal"
		}, "imports of this module only internal/plextv, internal/access and internal/seal (not the root, not internal/session)"},
		{"internal/recheck", ours, "imports no package of this module (it paces the re-checks; the root makes them)"},
		{"internal/pages", func(d string) bool {
			return ours(d) || strings.HasPrefix(d, "github.com/caddyserver/") || strings.HasPrefix(d, "go.uber.org/zap")
		}, "imports no package of this module, nor Caddy or zap (it writes pages; the root answers and logs)"},
		{"internal/appsignin", func(d string) bool {
			return ours(d) && d != mod+"/internal/session" && d != mod+"/internal/seal" && d != mod+"/internal/cookieheader"
		}, "imports of this module only internal/session (the application session it keeps is a fact of a plex_auth session; internal/seal comes with it) and internal/cookieheader: not the root, which counts, audits and answers, nor plextv or access"},
		{"internal/returnurl", func(d string) bool {
			return ours(d) || d == "net/http" || strings.HasPrefix(d, "github.com/caddyserver/")
		}, "imports no package of this module, nor net/http, nor Caddy (pure: where a browser may go, the paths it reads on this host)"},
		{"internal/cookiedomain", func(d string) bool {
			return ours(d) || d == "net/http" || strings.HasPrefix(d, "github.com/caddyserver/")
		}, "imports no package of this module, nor net/http, nor Caddy (pure: cookie_domain's rules, RFC 6265)"},
		{"internal/identity", ours, "imports no package of this module (it keeps two values in Caddy's storage; the root seals with them)"},
		{"internal/placeholderfacts", ours, "imports no package of this module (it walks Caddy's config; the root decides what the facts mean)"},
		{"internal/admin", func(d string) bool {
			return ours(d) && d != mod+"/internal/session" && d != mod+"/internal/seal" && d != mod+"/internal/access"
		}, "imports of this module only internal/session (the caches it lists and ends; internal/seal comes with it) and internal/access (how tiers rank); not the root, which writes the audit lines"},
		{"internal/command", func(d string) bool {
			return ours(d) && !slices.Contains([]string{"internal/admin", "internal/session", "internal/seal", "internal/access", "internal/plextv", "internal/account"}, strings.TrimPrefix(d, mod+"/"))
		}, "imports of this module only internal/admin (the JSON it reads; internal/session, internal/seal and internal/access come with it), internal/access (a username folded as allow_users folds it), internal/plextv and internal/account (setup's sign-in); not the root"},
		{"plextest", ours, "imports nothing of the module"},
		{"apptest", ours, "imports nothing of the module"},
	} {
		p := mod + "/" + w.pkg
		if _, ok := deps[p]; !ok {
			t.Errorf("go list does not list %s", p)
			continue
		}
		for _, d := range deps[p] {
			if w.banned(d) {
				t.Errorf("%s imports %s: it %s", w.pkg, d, w.rule)
			}
		}
	}
	// The fakes (plex.tv, the applications) never ship in anyone's Caddy:
	// nothing but tests imports them (the end-to-end benchmark runs as bench/e2e's test binary).
	for p, ds := range deps {
		for _, fake := range []string{"plextest", "apptest"} {
			if slices.Contains(ds, mod+"/"+fake) {
				t.Errorf("%s imports %s: only tests may", p, fake)
			}
		}
	}
}
