package plexauth

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The walls between the packages (README, "How the code is laid out"),
// read from `go list`: a package's code (its tests aside) imports only what
// its job needs.
func TestPackageWallsHold(t *testing.T) {
	const mod = "github.com/caddy-plexauth/caddy-plexauth"
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}\t{{join .Imports \" \"}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	imports := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, deps, _ := strings.Cut(line, "\t")
		imports[pkg] = strings.Fields(deps)
	}
	ours := func(dep string) bool { return dep == mod || strings.HasPrefix(dep, mod+"/") }
	caddy := func(dep string) bool { return strings.HasPrefix(dep, "github.com/caddyserver/") }
	is := func(path string) func(string) bool { return func(dep string) bool { return dep == path } }
	walls := []struct {
		pkg    string
		why    string
		banned func(dep string) bool
	}{
		{"internal/access", "the decision imports nothing of the module", ours},
		{"internal/access", "the decision is pure: no net/http", is("net/http")},
		{"internal/access", "the decision is pure: no Caddy", caddy},
		{"internal/plextv", "the plex.tv client imports nothing of the module", ours},
		{"internal/session", "a session holds facts: it does not ask plex.tv", is(mod + "/internal/plextv")},
		{"internal/session", "a session holds facts: it does not decide", is(mod + "/internal/access")},
		{"internal/signin", "the sign-in limits import nothing of the module", ours},
		{"internal/signin", "the sign-in limits answer no request: no net/http", is("net/http")},
		{"internal/signin", "the sign-in limits answer no request and write no log: no Caddy", caddy},
		{"internal/signin", "the sign-in limits write no log: no zap", func(dep string) bool { return strings.HasPrefix(dep, "go.uber.org/zap") }},
		{"internal/seal", "cookie sealing imports nothing of the module", ours},
		{"internal/cookieheader", "the Cookie header reader imports nothing of the module", ours},
		{"internal/returnurl", "the return-URL check imports nothing of the module", ours},
		{"plextest", "the fake plex.tv imports nothing of the module (an independent oracle)", ours},
	}
	for _, w := range walls {
		deps, ok := imports[mod+"/"+w.pkg]
		if !ok {
			if w.pkg != "internal/session" { // still to come: the sessions are in the root
				t.Errorf("go list has no package %s", w.pkg)
			}
			continue
		}
		for _, dep := range deps {
			if w.banned(dep) {
				t.Errorf("%s imports %s: %s", w.pkg, dep, w.why)
			}
		}
	}
	for pkg, deps := range imports {
		if slices.Contains(deps, mod+"/plextest") {
			t.Errorf("%s imports plextest: nothing but tests may (the fake must not ship in anyone's Caddy)", pkg)
		}
	}
	if len(imports) < 8 {
		t.Errorf("go list named %d packages: %v", len(imports), imports)
	}
}
