package plexauth

import (
	"github.com/caddy-plexauth/caddy-plexauth/internal/oidc"
	"github.com/caddy-plexauth/caddy-plexauth/internal/session"
)

// Authorization codes live where the sessions do, so that with Redis (or a
// storage several instances share) any instance redeems a code another
// issued (session.CodeStore). The keys are hashes of the codes and the
// values are sealed under keys derived from the codes (internal/oidc): a
// copy of the store opens no grant.

// memoryCodes holds codes for blocks with `store memory`: this process
// only, and across reloads.
var memoryCodes = new(oidc.MemoryCodes)

// codeStoreFor is the code store beside the session store st (nil, or a
// store without one-shot records: memory).
func codeStoreFor(st session.Store) oidc.CodeStore {
	if cs, ok := st.(session.CodeStore); ok {
		return cs
	}
	return memoryCodes
}
