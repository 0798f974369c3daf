package plexauth

import (
	"net/http"
	"testing"
)

// A session object outlives a reload (the sessions' pool keeps it), and the
// verdict the old rules left on it must not answer for the new rules: a
// friend admitted before allow_tier owner was added is refused after, and
// admitted again once it is taken away. The verdict is also the rules'
// own: the owner-only block refuses the friend the laxer block just
// admitted (TestFriendIsRefusedOnOwnerOnlyRoute checks that order too).
func TestVerdictOfOldRulesDoesNotOutliveAReload(t *testing.T) {
	lax := `http://localhost:SITEPORT {
	plex_auth {
		server ` + machineID + `
		{PLEX}
	}
	reverse_proxy {UP}
}`
	strict := `http://localhost:SITEPORT {
	plex_auth {
		server ` + machineID + `
		allow_tier owner
		{PLEX}
	}
	reverse_proxy {UP}
}`
	e := newEnv(t, lax)
	b := e.signedInAs("friend")
	for _, step := range []struct {
		config string
		want   int
	}{{"", http.StatusOK}, {strict, http.StatusForbidden}, {lax, http.StatusOK}, {strict, http.StatusForbidden}} {
		if step.config != "" {
			e.load(step.config)
		}
		for range 2 {
			resp, body := b.get("/media")
			expectStatus(t, resp, step.want, body)
		}
	}
}
