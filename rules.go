package plexauth

import "strings"

// admit applies this handler's rules to a session. It returns the tier the
// account holds on the configured servers (empty when no server is set).
func (h *PlexAuth) admit(s *Session) (string, bool) {
	if s.Ended {
		return "", false
	}
	if len(h.allowUsers) > 0 {
		_, byName := h.allowUsers[s.lowerUsername]
		_, byEmail := h.allowUsers[s.lowerEmail]
		_, byID := h.allowUsers[s.idString]
		if !byName && !(byEmail && s.lowerEmail != "") && !byID {
			return "", false
		}
	}
	d := h.decide(s)
	return d.tier, d.refusal == ""
}

// decide applies the block's server rules to the session's account (see
// decideAccess).
func (h *PlexAuth) decide(s *Session) decision {
	r := accessRules{servers: h.Servers, tiers: h.allowTiers, owner: h.owner != nil}
	return decideAccess(r, h.owner.current(), accountFacts{id: s.UserID, devices: s.Servers})
}

// admissionError says what is wrong with the combination of admission
// options, or "". The Caddyfile parser and Validate both ask it, so the
// rule is stated once.
func (h *PlexAuth) admissionError() string {
	switch {
	case len(h.Servers) == 0 && len(h.AllowUsers) == 0 && !h.AllowAnyPlexUser:
		return "plex_auth needs server, allow_users or allow_any_plex_user: refusing to admit every Plex account by default"
	case h.AllowAnyPlexUser && (len(h.Servers) > 0 || len(h.AllowUsers) > 0):
		return "allow_any_plex_user cannot be combined with server or allow_users"
	case len(h.AllowTiers) > 0 && len(h.Servers) == 0:
		return "allow_tier needs server: tiers are kinds of access to a Plex server"
	case h.OwnerToken != "" && len(h.Servers) == 0:
		return "owner_token needs server: it reads who that server is shared with"
	}
	return ""
}

func tierRank(t string) int {
	switch t {
	case tierOwner:
		return 3
	case tierHome:
		return 2
	case tierFriend:
		return 1
	}
	return 0
}

// tierValue is t as a placeholder value; boxing the constants does not
// allocate, boxing a variable string would.
func tierValue(t string) any {
	switch t {
	case tierOwner:
		return tierOwner
	case tierHome:
		return tierHome
	case tierFriend:
		return tierFriend
	}
	return t
}

func validTier(t string) bool { return tierRank(strings.ToLower(t)) > 0 }
