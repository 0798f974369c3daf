package plexauth

import (
	"io"
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// The identity headers are worth trusting only if nobody but plex_auth can
// set them. A client may send them under other spellings: CGI and FastCGI
// (PHP's $_SERVER among them) read '-', '_' and '.' in a header name as the
// same character, ignoring case, so Remote_User and remote.user reach such
// an application as REMOTE_USER too. Caddy drops names with '_' or '.'
// unless an operator allows them (expected_underscore_headers,
// expected_dot_headers); plex_auth does not rely on that. A client may also
// send them after the body, as trailers, which reverse_proxy passes on.

// identityNames are the request headers plex_auth sets for the next
// handler (Remote-User, Remote-Email, Remote-Name, Remote-Groups), in lower
// case. Whatever a client sends under these names, in any spelling an
// application could read as them, as headers or trailers, is removed on
// every request plex_auth handles, so an upstream can trust them.
var identityNames = [...]string{"remote-user", "remote-email", "remote-name", "remote-groups"}

// isIdentityHeader reports whether an application could read a header
// named name as one of the identity headers.
func isIdentityHeader(name string) bool {
	// Most names fail here, before any comparison: this runs for every
	// header of every request.
	if len(name) < len("remote-name") || len(name) > len("remote-groups") || name[0]|0x20 != 'r' {
		return false
	}
	for _, want := range identityNames {
		if len(want) == len(name) && sameVariableName(name, want) {
			return true
		}
	}
	return false
}

// sameVariableName reports whether name reads as want (lower case, '-'
// between words) with '_' and '.' taken for '-' and ASCII case ignored.
func sameVariableName(name, want string) bool {
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '_' || c == '.':
			c = '-'
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		if c != want[i] {
			return false
		}
	}
	return true
}

// stripOtherSpellings removes the headers of r that an application could
// take for an identity header under another spelling than the canonical
// one (Remote_User, remote.user), and identity trailers in any spelling.
// The four canonical headers are the caller's: ServeHTTP overwrites them
// for a signed-in request (cheaper than deleting and adding them again)
// and deletes them otherwise.
func stripOtherSpellings(r *http.Request, srv *caddyhttp.Server) {
	if otherSpellingsPossible(srv) {
		for k := range r.Header {
			if isIdentityHeader(k) && !isCanonicalIdentity(k) {
				delete(r.Header, k)
			}
		}
	}
	// r.Trailer is non-nil only when the client announced trailers.
	if r.Trailer != nil {
		stripIdentityTrailers(r.Trailer)
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &identityTrailerStripper{ReadCloser: r.Body, trailer: r.Trailer}
		}
	}
}

// otherSpellingsPossible reports whether r may carry an identity header
// under another spelling. Go's server canonicalizes header names
// (REMOTE-USER arrives as Remote-User), so another spelling has a '_' or a
// '.', and Caddy drops every such name before the handlers run unless the
// server allows it (expected_underscore_headers, expected_dot_headers).
// Going through every header costs a few hundred nanoseconds a request
// (BenchmarkSignedIn/underscore-headers-allowed), so it is done only where
// such names get through, or outside a Caddy server.
func otherSpellingsPossible(srv *caddyhttp.Server) bool {
	return srv == nil || len(srv.ExpectedUnderscoreHeaders) > 0 || len(srv.ExpectedDotHeaders) > 0
}

func isCanonicalIdentity(k string) bool {
	switch k {
	case "Remote-User", "Remote-Email", "Remote-Name", "Remote-Groups":
		return true
	}
	return false
}

func stripIdentityTrailers(t http.Header) {
	for k := range t {
		if isIdentityHeader(k) {
			delete(t, k)
		}
	}
}

// identityTrailerStripper removes identity trailers again once the body
// has been read to the end: only then does net/http fill in the trailers
// that came, into the same map, whether they were announced or not.
type identityTrailerStripper struct {
	io.ReadCloser
	trailer http.Header
}

func (b *identityTrailerStripper) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		stripIdentityTrailers(b.trailer)
	}
	return n, err
}
