package plexauth

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddy-plexauth/caddy-plexauth/internal/command"
	"github.com/caddy-plexauth/caddy-plexauth/plextest"
)

// When the code expires before it is entered, setup says so in its own
// words (the client's plextv.ErrCodeExpired, told as command.ErrCodeExpired).
func TestSetupSaysTheCodeExpiredInItsOwnWords(t *testing.T) {
	plex := procPlex(t)
	var out strings.Builder
	err := runSetup(context.Background(), setupOptions{plexTV: plex.URL, out: &out,
		sleep: func(context.Context, time.Duration) error { plex.ExpirePins(); return nil }})
	if !errors.Is(err, command.ErrCodeExpired) || err.Error() != "the code expired before it was entered; run setup again" {
		t.Fatalf("an expired code: %v, want command.ErrCodeExpired", err)
	}
	if !strings.Contains(out.String(), plex.URL+"/link") {
		t.Fatalf("setup did not send the operator to %s/link:\n%s", plex.URL, out.String())
	}
}

const (
	atticID  = "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567"
	someones = "fedcba9876543210fedcba9876543210fedcba98"
)

// setupPlex is the fake plex.tv with an owner of two servers, who is also
// the friend of someone else's server.
func setupPlex(t *testing.T) *plextest.Server {
	plex := procPlex(t)
	plex.AddServer(atticID, "Attic")
	plex.Share(atticID, "owner", plextest.Owner)
	plex.AddAccount("someone")
	plex.AddServer(someones, "Someone's Server")
	plex.Share(someones, "someone", plextest.Owner)
	plex.Share(someones, "owner", plextest.Friend)
	plex.AddAccount("stranger")
	return plex
}

var enterCode = regexp.MustCompile(`open (\S+) and enter ([A-Z0-9]{4})$`)

// runSetup runs `caddy plex-auth setup` against plex, approves its code as
// account when it shows it, and returns everything it printed.
func runSetupCLI(t *testing.T, plex *plextest.Server, account string, extra ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, caddyBinary(t), append([]string{"plex-auth", "setup", "--plex-tv-url", plex.URL}, extra...)...)
	cmd.Dir = t.TempDir()
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(stdout)
	var out strings.Builder
	for {
		line, err := r.ReadString('\n')
		out.WriteString(line)
		if m := enterCode.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
			if m[1] != plex.URL+"/link" {
				t.Errorf("setup sends the operator to %s, want %s/link", m[1], plex.URL)
			}
			if err := plex.Approve(m[2], account); err != nil {
				t.Fatal(err)
			}
			break
		}
		if err != nil {
			t.Fatalf("setup ended without showing a code: %v\n%s\n%s", err, out.String(), stderr.String())
		}
	}
	rest, _ := io.ReadAll(r)
	out.Write(rest)
	if err := cmd.Wait(); err != nil {
		return out.String(), fmt.Errorf("%v\n%s", err, stderr.String())
	}
	return out.String(), nil
}

// pastedBlock is the plex_auth block setup printed.
func pastedBlock(t *testing.T, out string) string {
	t.Helper()
	i := strings.Index(out, "\tplex_auth {\n")
	j := strings.Index(out[max(i, 0):], "\n\t}\n")
	if i < 0 || j < 0 {
		t.Fatalf("no plex_auth block in:\n%s", out)
	}
	return out[i : i+j+4]
}

func TestProcessSetupListsOwnedServersAndPrintsABlockThatWorks(t *testing.T) {
	plex := setupPlex(t)
	out, err := runSetupCLI(t, plex, "owner", "--product", "Caddy at home")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range plex.Requests() {
		if r.Path == "/api/v2/pins" && r.Header.Get("X-Plex-Product") != "Caddy at home" {
			t.Errorf("the pin was created as product %q, want the one --product names", r.Header.Get("X-Plex-Product"))
		}
	}
	for _, want := range []string{`the device "Caddy at home"`, "Signed in as owner (Owner)", "Living Room", machineID, "Attic", atticID, "owner_token {env.PLEX_TOKEN}", "--show-token"} {
		if !strings.Contains(out, want) {
			t.Errorf("setup's output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, someones) || strings.Contains(out, "Someone's") {
		t.Errorf("setup lists a server the account only has shared with it:\n%s", out)
	}
	if strings.Contains(out, plex.Account("owner").Token) {
		t.Fatalf("setup printed the token without --show-token:\n%s", out)
	}
	block := pastedBlock(t, out)
	if !strings.Contains(block, "server "+machineID+" "+atticID+"\n") {
		t.Errorf("the block does not name both servers:\n%s", block)
	}

	out, err = runSetupCLI(t, plex, "owner", "--show-token")
	if err != nil {
		t.Fatal(err)
	}
	token := plex.Account("owner").Token
	if !strings.Contains(out, "PLEX_TOKEN="+token+"\n") {
		t.Fatalf("--show-token did not print PLEX_TOKEN=<the token>:\n%s", out)
	}

	// Pasted into a site, with the token in the environment, it lets the
	// servers' people in and nobody else. Only the fake's sign-in page
	// is added: the block already points at its plex.tv.
	block = strings.Replace(pastedBlock(t, out), "\n\t}\n", "\n\t\tplex_app_url "+plex.AppURL()+"\n\t}\n", 1)
	t.Setenv("PLEX_TOKEN", token)
	storage, port := t.TempDir(), freePort(t)
	startCaddy(t, port, func(admin int) string {
		return fmt.Sprintf("{\n\tadmin localhost:%d\n\thttp_port %d\n\tstorage file_system %s\n\tskip_install_trust\n\tgrace_period 1s\n}\nhttp://127.0.0.1:%d {\n%s\trespond \"hello {http.auth.user.username}\"\n}\n",
			admin, port, storage, port, block)
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	expectSignedIn(t, base+"/", procSignIn(t, newBrowserFrom(t, "127.0.0.2"), plex, base, "friend"), "friend")
	procSignInExpect(t, newBrowserFrom(t, "127.0.0.3"), plex, base, "stranger", http.StatusForbidden)
}

func TestProcessSetupSaysSoWhenTheAccountOwnsNoServer(t *testing.T) {
	plex := setupPlex(t)
	out, err := runSetupCLI(t, plex, "stranger")
	if err == nil {
		t.Fatalf("setup succeeded for an account that owns no server:\n%s", out)
	}
	if !strings.Contains(out, "owns no Plex Media Server") || strings.Contains(out, "plex_auth {") {
		t.Fatalf("setup's output for an account without servers:\n%s", out)
	}
}
