package plexauth

// Tests for survivors of scripts/mutants.sh over validate.go, module.go and
// provision.go (the third round): each fails with the line it names
// changed as the run changed it.

import (
	"strings"
	"testing"
)

// validate.go: a JSON config (which no Caddyfile parser checked first) with
// one bad option is refused by an error naming that option, and the same
// config with the option's edge values that are fine is accepted.
func TestValidateRefusesEachBadOptionNamingIt(t *testing.T) {
	valid := func() PlexAuth {
		return PlexAuth{Servers: []string{machineID}, PlexTVURL: "https://plex.tv", PlexAppURL: "https://app.plex.tv/auth",
			CookieName: "c", Prefix: "/p", SessionTTL: 1, Timeout: 1}
	}
	for _, c := range []struct {
		name string
		edit func(*PlexAuth)
		want string
	}{
		{"allow_users entry empty", func(p *PlexAuth) { p.AllowUsers = []string{"alice", ""} }, "allow_users"},
		{"cookie_domain with a scheme", func(p *PlexAuth) { p.CookieDomain = "https://example.com" }, "cookie_domain:"},
		{"cookie_domain only dots", func(p *PlexAuth) { p.CookieDomain = "." }, "cookie_domain:"},
		{"session_ttl zero", func(p *PlexAuth) { p.SessionTTL = 0 }, "session_ttl must be positive"},
		{"session_ttl negative", func(p *PlexAuth) { p.SessionTTL = -1 }, "session_ttl must be positive"},
		{"timeout zero", func(p *PlexAuth) { p.Timeout = 0 }, "timeout must be positive"},
		{"timeout negative", func(p *PlexAuth) { p.Timeout = -1 }, "timeout must be positive"},
		{"cookie_name empty", func(p *PlexAuth) { p.CookieName = "" }, "cookie_name"},
		{"cookie_name with a separator", func(p *PlexAuth) { p.CookieName = "a;b" }, "cookie_name"},
		{"prefix without its slash", func(p *PlexAuth) { p.Prefix = "p" }, "prefix"},
		{"prefix empty", func(p *PlexAuth) { p.Prefix = "" }, "prefix"},
		{"prefix with a query", func(p *PlexAuth) { p.Prefix = "/p?x=1" }, "prefix"},
		{"prefix with a fragment", func(p *PlexAuth) { p.Prefix = "/p#x" }, "prefix"},
		{"prefix with a percent", func(p *PlexAuth) { p.Prefix = "/p%2f" }, "prefix"},
		{"prefix with a backslash", func(p *PlexAuth) { p.Prefix = `/p\q` }, "prefix"},
		{"app_sign_in of an unknown kind", func(p *PlexAuth) { p.AppSignIn = &AppSignIn{Kind: "nosuchapp", URL: "http://127.0.0.1:5055"} }, "app_sign_in"},
		{"plex_tv_url without a scheme", func(p *PlexAuth) { p.PlexTVURL = "plex.tv" }, "plex_tv_url"},
		{"plex_tv_url of another scheme", func(p *PlexAuth) { p.PlexTVURL = "ftp://plex.tv" }, "plex_tv_url"},
		{"plex_tv_url without a host", func(p *PlexAuth) { p.PlexTVURL = "https:///api" }, "plex_tv_url"},
		{"plex_tv_url that does not parse", func(p *PlexAuth) { p.PlexTVURL = "https://plex.tv/%zz" }, "plex_tv_url"},
		{"plex_app_url without a host", func(p *PlexAuth) { p.PlexAppURL = "https:auth" }, "plex_app_url"},
		{"plex_app_url that does not parse", func(p *PlexAuth) { p.PlexAppURL = "http://[::1" }, "plex_app_url"},
	} {
		p := valid()
		c.edit(&p)
		if err := p.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Validate = %v, want an error naming %q", c.name, err, c.want)
		}
	}
	for name, ok := range map[string]func(*PlexAuth){
		"cookie_domain":                func(p *PlexAuth) { p.CookieDomain = "example.com" },
		"cookie_domain with its dot":   func(p *PlexAuth) { p.CookieDomain = ".example.com" },
		"prefix of one slash":          func(p *PlexAuth) { p.Prefix = "/" },
		"a long prefix":                func(p *PlexAuth) { p.Prefix = "/auth/plex-sign_in.v2" },
		"plain http URLs":              func(p *PlexAuth) { p.PlexTVURL, p.PlexAppURL = "http://127.0.0.1:32400", "http://localhost/auth" },
		"an app_sign_in that can work": func(p *PlexAuth) { p.AppSignIn = &AppSignIn{Kind: "overseerr", URL: "http://127.0.0.1:5055"} },
		"allow_users besides server":   func(p *PlexAuth) { p.AllowUsers = []string{"alice", "12345"} },
	} {
		p := valid()
		ok(&p)
		if err := p.Validate(); err != nil {
			t.Errorf("%s: refused: %v", name, err)
		}
	}
}
