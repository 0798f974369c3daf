package plexauth

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

// isEndpoint is "the prefix, or under it", with its one-byte shortcut
// never changing the answer: for prefixes of every length, paths that
// share a first byte, a second byte or all but the last with them, and
// every open-redirect payload of the corpus as a path.
func TestIsEndpointIsThePrefixOrUnderIt(t *testing.T) {
	paths := []string{"", "/", "//", "/_", "/_p", "/_plexauth", "/_plexauth/", "/_plexauth/login", "/_plexauthx", "/_plexaut",
		"/a", "/a/", "/ab", "/auth", "/auth/", "/auth/login", "/authx", "/b/auth", "/tautulli/home", "/_Plexauth/login", "/%5Fplexauth/login"}
	f, err := os.Open("internal/returnurl/testdata/openredirects.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		paths = append(paths, sc.Text(), "/"+sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"/_plexauth", "/a", "/auth", "/auth/", "/plex/auth", "/_"} {
		h := &PlexAuth{}
		h.setPrefix(prefix)
		for _, p := range paths {
			want := strings.HasPrefix(p, h.Prefix+"/") || p == h.Prefix
			if got := h.isEndpoint(p); got != want {
				t.Errorf("prefix %q: isEndpoint(%q) = %v, want %v", prefix, p, got, want)
			}
		}
	}
}

// A JSON config's prefix goes through Provision before Validate: one of a
// single byte, or of slashes only, is refused naming the option, not a
// panic reading the byte after the '/'.
func TestShortPrefixInAJSONConfigIsRefusedNamingIt(t *testing.T) {
	for _, prefix := range []string{"p", "/", "//", "_"} {
		err := provisionError(t, map[string]any{"servers": []string{machineID}, "prefix": prefix, "store": "memory"})
		if err == nil || !strings.Contains(err.Error(), "prefix") {
			t.Errorf("prefix %q: loaded (%v); want it refused, naming prefix", prefix, err)
		}
	}
}
