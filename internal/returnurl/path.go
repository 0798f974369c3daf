package returnurl

import (
	"path"
	"strings"
)

// Every URL the module builds from the request's path starts with exactly
// one "/". A browser reads "//tools/x" as the host "tools", and so "/\tools"
// too: in an http(s) URL a backslash is a slash, and tabs and newlines are
// dropped before parsing (WHATWG URL Standard, "relative slash state":
// https://url.spec.whatwg.org/#relative-slash-state). Caddy's path matcher
// merges slashes before matching, so under handle_path /tools/* a request
// for //tools/x is stripped to /x like /tools/x, and what was stripped is
// "//tools".

// MountPath is the part of the path orig that a strip removed to leave
// cur, cleaned as Caddy's path matcher cleans a path and with one "/" in
// front, or "" when nothing was stripped (cur is not a shorter tail of
// orig). It never ends in "/", and a browser reads it, and it followed by
// a path, as a path on this host.
func MountPath(orig, cur string) string {
	if len(orig) <= len(cur) || !strings.HasSuffix(orig, cur) {
		return ""
	}
	m := OneLeadingSlash(path.Clean("/" + orig[:len(orig)-len(cur)]))
	return strings.TrimRight(m, "/")
}

// OneLeadingSlash is s with the run of slashes, backslashes, tabs and
// newlines it starts with made one "/" (one put in front if it has none),
// so that a browser reads it as a path on this host. The rest of s is
// kept as it is; s already starting with a lone "/" is returned unchanged.
func OneLeadingSlash(s string) string {
	i := 0
	for i < len(s) && strings.IndexByte("/\\\t\n\r", s[i]) >= 0 {
		i++
	}
	if i == 1 && s[0] == '/' {
		return s
	}
	return "/" + s[i:]
}
