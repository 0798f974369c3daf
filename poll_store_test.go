package plexauth

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
)

// poll.go: "if storing fails, the claim is dropped and the browser can ask
// again with the same, approved, pin". The store here takes the pin's
// claim and refuses the session: a Redis whose user may touch pin claims
// and sign-out markers but not sessions (an ACL on key patterns). The
// browser's first callback fails without a session; once the store takes
// sessions again, the same state cookie and the same approved pin sign it
// in. Without the claim's release (or with the state cookie cleared before
// the session is stored) the second callback is refused as a pin used.
func TestSessionStoreRefusingAfterThePinClaimLetsTheSamePinSignIn(t *testing.T) {
	addr := startRedis(t)
	site := strings.Replace(basicSite, "{PLEX}", "{PLEX}\n\t\tstore redis redis://"+addr+"/0", 1)
	e := newEnv(t, site)
	b := newBrowserFrom(t, "127.0.0.2")

	code := e.start(b, "/")
	if err := e.plex.Approve(code, "friend"); err != nil {
		t.Fatal(err)
	}
	redisACL(t, addr, "ACL", "SETUSER", "default", "resetkeys", "~plex_auth:pin:*", "~plex_auth:signout*")
	resp, body := b.get("/_plexauth/callback")
	if resp.StatusCode < 500 || b.cookie(defaultCookieName) != nil {
		t.Fatalf("with the session store refusing, the callback answered %d with session cookie %v, want a 5xx and no session; body: %.200s", resp.StatusCode, b.cookie(defaultCookieName) != nil, body)
	}
	if b.cookieAt("/_plexauth/callback", defaultCookieName+"_state") == nil {
		t.Fatal("the failed sign-in cleared the state cookie: the browser cannot ask again with its approved pin")
	}

	redisACL(t, addr, "ACL", "SETUSER", "default", "allkeys")
	resp, body = b.get("/_plexauth/callback")
	expectStatus(t, resp, http.StatusFound, body)
	if b.cookie(defaultCookieName) == nil {
		t.Fatal("the second callback with the same approved pin made no session")
	}
	resp, body = b.get("/")
	expectStatus(t, resp, http.StatusOK, body)
}

// redisACL sends one command to the Redis at addr, speaking RESP directly,
// and fails the test on an error reply.
func redisACL(t *testing.T, addr string, args ...string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(conn, "$%d\r\n%s\r\n", len(a), a)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "+OK") {
		t.Fatalf("redis %v: %q, %v", args, line, err)
	}
}
