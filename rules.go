package plexauth

import (
	"github.com/caddy-plexauth/caddy-plexauth/internal/access"
	"github.com/caddy-plexauth/caddy-plexauth/internal/cookiedomain"
	"github.com/caddy-plexauth/caddy-plexauth/internal/session"
)

// The decision itself is internal/access's; the methods here hand it this
// block's rules and what the session knows of the account.

// admit applies this handler's rules to a session. It returns the tier the
// account holds on the configured servers (empty when no server is set).
//
// What the rules said of a session object is kept on it (Session.Verdict)
// and read back on its next request instead of deciding again: the rules
// of a handler do not change once provisioned, nor the facts of a session
// object once a cache holds it. In owner mode the decision also reads the
// owner's list, which changes; nothing is kept there (h.judgeKey is nil).
func (h *PlexAuth) admit(s *Session) (string, bool) {
	if v := s.Verdict.Load(); v != nil && v.Judge == h.judgeKey {
		return v.Tier, v.Admitted
	}
	d := h.judge(s)
	tier, ok := d.Tier, d.Refusal == ""
	if h.judgeKey != nil {
		for _, v := range h.verdicts {
			if v.Tier == tier && v.Admitted == ok {
				s.Verdict.Store(v)
				break
			}
		}
	}
	return tier, ok
}

// keepVerdicts makes the Verdicts admit keeps on sessions, one for each
// answer the rules can give (a tier or none, admitted or not), so that
// keeping one allocates nothing. Not in owner mode (see admit).
func (h *PlexAuth) keepVerdicts() {
	h.judgeKey, h.verdicts = nil, nil
	if h.owner != nil {
		return
	}
	h.judgeKey = new(session.Judge)
	for _, tier := range []string{"", access.TierOwner, access.TierHome, access.TierFriend} {
		for _, ok := range []bool{true, false} {
			h.verdicts = append(h.verdicts, &session.Verdict{Judge: h.judgeKey, Tier: tier, Admitted: ok})
		}
	}
}

// judge is admit with the reason of a refusal, for the audit trail:
// allow_users, then the server rules.
func (h *PlexAuth) judge(s *Session) access.Decision {
	r := access.Rules{Users: h.allowUsers, Servers: h.Servers, Tiers: h.allowTiers, Owner: h.owner != nil}
	return access.Decide(r, h.owner.Current(),
		access.Facts{ID: s.UserID, FoldedUsername: s.FoldedUsername(), FoldedEmail: s.FoldedEmail(), Devices: s.Servers})
}

// decide applies the block's server rules alone to the session's account,
// allow_users left out: whether the block can decide at all does not
// depend on who asks.
func (h *PlexAuth) decide(s *Session) access.Decision {
	r := access.Rules{Servers: h.Servers, Tiers: h.allowTiers, Owner: h.owner != nil}
	return access.Decide(r, h.owner.Current(), access.Facts{ID: s.UserID, Devices: s.Servers})
}

// options are the block's admission options as written, for the checks
// and words of access.Options.
func (h *PlexAuth) options() access.Options {
	return access.Options{Servers: h.Servers, Tiers: h.AllowTiers, Users: h.AllowUsers,
		AnyPlexUser: h.AllowAnyPlexUser, OwnerToken: h.OwnerToken != ""}
}

// describeRules says in words whom this handler admits, for the start-up
// log line (access.Options.Describe).
func (h *PlexAuth) describeRules() string { return h.options().Describe() }

// admissionError says what is wrong with the combination of admission
// options, or "" (access.Options.Problem): the Caddyfile parser and
// Validate both ask it.
func (h *PlexAuth) admissionError() string { return h.options().Problem() }

// accessMode names what the block's access is decided from, for its
// start-up line (access.Options.Mode). Provision has run: the owner's
// list runs exactly when owner_token and server are set.
func (h *PlexAuth) accessMode() (mode, from string) { return h.options().Mode() }

// checkServerID is access.CheckServerID, for Validate.
func checkServerID(id string) error { return access.CheckServerID(id) }

// checkCookieDomain is cookiedomain.Check, for Validate.
func checkCookieDomain(d string) error { return cookiedomain.Check(d) }

// hostUnderCookieDomain is cookiedomain.HostUnder, for the sign-in flow.
func hostUnderCookieDomain(host, domain string) bool { return cookiedomain.HostUnder(host, domain) }

// tierValue is t as a placeholder value; boxing the constants does not
// allocate, boxing a variable string would.
func tierValue(t string) any {
	switch t {
	case access.TierOwner:
		return access.TierOwner
	case access.TierHome:
		return access.TierHome
	case access.TierFriend:
		return access.TierFriend
	}
	return t
}
