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
	if len(h.Servers) == 0 {
		return "", true
	}
	best := ""
	for _, id := range h.Servers {
		t := s.Servers[id]
		if t != "" && h.allowTiers[t] && tierRank(t) > tierRank(best) {
			best = t
		}
	}
	return best, best != ""
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
