package plexauth

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

func TestCaddyfileOIDCClient(t *testing.T) {
	p, err := parse(t, `plex_auth {
		server `+machineID+`
		oidc_client grafana {
			secret {env.GRAFANA_OIDC_SECRET}
			redirect_uri https://grafana.example.com/login/generic_oauth
			allow_tier owner HOME
		}
		oidc_client immich {
			public
			redirect_uri app.immich:///oauth-callback https://photos.example.com/auth/login
			post_logout_redirect_uri https://photos.example.com/
			allow_users alice 12345
		}
	}`)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.OIDCClients) != 2 {
		t.Fatalf("clients %+v", p.OIDCClients)
	}
	g, i := p.OIDCClients[0], p.OIDCClients[1]
	if g.ID != "grafana" || g.Secret != "{env.GRAFANA_OIDC_SECRET}" || g.Public || len(g.RedirectURIs) != 1 || strings.Join(g.AllowTiers, ",") != "owner,home" {
		t.Errorf("grafana parsed as %+v", g)
	}
	if i.ID != "immich" || !i.Public || i.Secret != "" || len(i.RedirectURIs) != 2 || i.RedirectURIs[0] != "app.immich:///oauth-callback" ||
		len(i.PostLogoutRedirectURIs) != 1 || len(i.AllowUsers) != 2 {
		t.Errorf("immich parsed as %+v", i)
	}
}

func TestCaddyfileOIDCClientMistakesNameTheOptionAndLine(t *testing.T) {
	head := "plex_auth {\n\tserver " + machineID + "\n"
	cases := []struct{ name, input, want, line string }{
		{"no redirect uri", head + "\toidc_client a {\n\t\tsecret sixteen-characters-at-least\n\t}\n}", "oidc_client a: no redirect_uri", "Testfile:3"},
		{"public with secret", head + "\toidc_client a {\n\t\tpublic\n\t\tsecret sixteen-characters-at-least\n\t\tredirect_uri https://a/cb\n\t}\n}", "a public client has no secret", "Testfile:3"},
		{"confidential without secret", head + "\toidc_client a {\n\t\tredirect_uri https://a/cb\n\t}\n}", "needs secret, or public", "Testfile:3"},
		{"duplicate id", head + "\toidc_client a {\n\t\tpublic\n\t\tredirect_uri https://a/cb\n\t}\n\toidc_client a {\n\t\tpublic\n\t\tredirect_uri https://b/cb\n\t}\n}", `oidc_client "a" is given twice`, "Testfile:7"},
		{"no id", head + "\toidc_client {\n\t\tpublic\n\t}\n}", "oidc_client needs a client id", "Testfile:3"},
		{"fragment", head + "\toidc_client a {\n\t\tpublic\n\t\tredirect_uri https://a/cb#x\n\t}\n}", "has a fragment", "Testfile:5"},
		{"relative redirect", head + "\toidc_client a {\n\t\tpublic\n\t\tredirect_uri /cb\n\t}\n}", "not an absolute URI", "Testfile:5"},
		{"short secret", head + "\toidc_client a {\n\t\tsecret short\n\t\tredirect_uri https://a/cb\n\t}\n}", "at least 16 characters", "Testfile:4"},
		{"unknown option", head + "\toidc_client a {\n\t\tpublic\n\t\tredirect_uris https://a/cb\n\t}\n}", `unknown option "redirect_uris"`, "Testfile:5"},
		{"bad tier", head + "\toidc_client a {\n\t\tpublic\n\t\tredirect_uri https://a/cb\n\t\tallow_tier admin\n\t}\n}", `unknown tier "admin"`, "Testfile:6"},
		{"tier without server", "plex_auth {\n\tallow_users bob\n\toidc_client a {\n\t\tpublic\n\t\tredirect_uri https://a/cb\n\t\tallow_tier owner\n\t}\n}", "allow_tier needs server", "Testfile:1"},
	}
	for _, c := range cases {
		_, err := parse(t, c.input)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.line) {
			t.Errorf("%s: %v, want %q at %s", c.name, err, c.want, c.line)
		}
	}
	// The secret is never echoed in an error.
	_, err := parse(t, head+"\toidc_client a {\n\t\tsecret tiny-s3cr3t\n\t\tredirect_uri https://a/cb\n\t}\n}")
	if err == nil || strings.Contains(err.Error(), "tiny-s3cr3t") {
		t.Fatalf("short secret: %v", err)
	}
}

func TestOIDCValidateRefusesJSONMistakes(t *testing.T) {
	for name, c := range map[string]OIDCClient{
		"no redirect":        {ID: "a", Public: true},
		"public with secret": {ID: "a", Public: true, Secret: "sixteen-characters", RedirectURIs: []string{"https://a/cb"}},
	} {
		h := &PlexAuth{AllowAnyPlexUser: true, OIDCClients: []OIDCClient{c}, SessionTTL: 1, Timeout: 1, CookieName: "c", Prefix: "/p",
			PlexTVURL: "https://plex.tv", PlexAppURL: "https://app.plex.tv/auth"}
		if err := h.Validate(); err == nil || !strings.Contains(err.Error(), "oidc_client") {
			t.Errorf("%s: Validate said %v", name, err)
		}
	}
}

// TestOIDCReportsInMetricsAndAuditAndWarnsOfALiteralSecret: the token
// endpoint's answers are counted by client and result, codes issued and
// refusals are audit lines, a secret written in the Caddyfile is warned of
// (one from a placeholder is not), and no log line holds a code, a token
// or a secret.
func TestOIDCReportsInMetricsAndAuditAndWarnsOfALiteralSecret(t *testing.T) {
	t.Setenv("PLEXAUTH_TEST_PORTAINER_SECRET", "portainer-secret-0123456789")
	logPath := filepath.Join(t.TempDir(), "caddy.log")
	e := newEnvGlobal(t, "log {\n\t\toutput file "+logPath+"\n\t\tformat json\n\t}", oidcSite)
	before := scrape(t, adminPort)
	b := newBrowser(t)
	code, verifier := freshCode(t, e, b, "owner")
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {rpGrafana}, "code_verifier": {verifier}}
	resp, out := tokenCall(t, form, "grafana", rpSecret)
	expectStatus(t, resp, 200, "")
	if resp, _ := tokenCall(t, form, "grafana", rpSecret); resp.StatusCode != 400 {
		t.Fatalf("replay: %d", resp.StatusCode)
	}
	if resp, _ := tokenCall(t, form, "nobody", rpSecret); resp.StatusCode != 401 {
		t.Fatalf("unknown client: %d", resp.StatusCode)
	}
	// A friend refused by grafana's allow_tier.
	r := newRP(t, issuerURL(), "grafana", rpSecret, rpGrafana)
	e.authorize(newBrowser(t), r.conf.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), "friend")

	after := scrape(t, adminPort)
	for k, want := range map[string]float64{
		`caddy_plex_auth_oidc_tokens_total{client="grafana",result="ok"}`:             1,
		`caddy_plex_auth_oidc_tokens_total{client="grafana",result="replayed"}`:       1,
		`caddy_plex_auth_oidc_tokens_total{client="unknown",result="invalid_client"}`: 1,
	} {
		if got := after[k] - before[k]; got != want {
			t.Errorf("%s grew by %v, want %v", k, got, want)
		}
	}

	raw, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	log := string(raw)
	for _, secret := range []string{code, out["access_token"], out["id_token"], rpSecret, "portainer-secret-0123456789", verifier} {
		if strings.Contains(log, secret) {
			t.Fatalf("the log holds a code, token, verifier or secret: %.40s…", secret)
		}
	}
	var warned []string
	seen := map[string]int{}
	for _, line := range strings.Split(log, "\n") {
		var l map[string]any
		if json.Unmarshal([]byte(line), &l) != nil {
			continue
		}
		msg, _ := l["msg"].(string)
		if strings.HasPrefix(msg, "the secret of oidc_client is written in the configuration") {
			warned = append(warned, l["client"].(string))
		}
		if l["logger"] == "http.handlers.plex_auth.audit" && strings.HasPrefix(msg, "oidc") {
			seen[msg+"|"+str(l["client"])+"|"+str(l["reason"])+"|"+str(l["username"])]++
		}
	}
	if strings.Join(warned, ",") != "grafana" {
		t.Errorf("literal-secret warnings for %v, want grafana only (portainer's is a placeholder)", warned)
	}
	for _, want := range []string{
		"oidc code issued|grafana||owner",
		"oidc refused|grafana|code_replayed|",
		"oidc refused|unknown|client_authentication_failed|",
		"oidc refused|grafana|tier_not_allowed|friend",
	} {
		if seen[want] == 0 {
			t.Errorf("no audit line %s; saw %v", want, seen)
		}
	}
}

func str(v any) string { s, _ := v.(string); return s }
