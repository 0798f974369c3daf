package ownerlist

import (
	"github.com/caddy-plexauth/caddy-plexauth/internal/access"
	"github.com/caddy-plexauth/caddy-plexauth/internal/plextv"
)

// compileAccessList is access.CompileList for the owner's list as plex.tv
// answered it: Plex's shapes become access's own, so that the decision
// knows nothing of the plex.tv client.
func compileAccessList(ownerID int64, users []plextv.SharedUser, servers []string) *access.List {
	in := make([]access.SharedUser, len(users))
	for i, u := range users {
		in[i] = access.SharedUser{ID: int64(u.ID), Home: bool(u.Home)}
		if len(u.Servers) > 0 {
			in[i].Servers = make([]access.SharedServer, len(u.Servers))
			for j, s := range u.Servers {
				in[i].Servers[j] = access.SharedServer{MachineIdentifier: s.MachineIdentifier, Pending: bool(s.Pending)}
			}
		}
	}
	return access.CompileList(ownerID, in, servers)
}
