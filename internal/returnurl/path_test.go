package returnurl

import (
	"strings"
	"testing"
)

// staysOnHost reports whether ref, a URL the module built from the
// request's path, starts with exactly one "/" and so names a path on the
// site it came from. Browsers read "//x", and "/\x" (a backslash counts as
// a slash in http(s) URLs, and tabs and newlines are dropped), as the host
// x (WHATWG URL Standard, "relative slash state":
// https://url.spec.whatwg.org/#relative-slash-state).
func staysOnHost(ref string) bool {
	ref = strings.NewReplacer("\t", "", "\n", "", "\r", "").Replace(ref)
	return len(ref) > 0 && ref[0] == '/' && (len(ref) == 1 || (ref[1] != '/' && ref[1] != '\\'))
}

// TestMountPathStartsWithOneSlash: the part handle_path stripped is put
// back in front of the module's prefix, in every URL the module gives out.
// orig and cur are r.URL.Path before and after the strip, as Caddy hands
// them over for the request target in the name (handle_path /tools/*
// merges slashes and cleans the path before matching and stripping).
func TestMountPathStartsWithOneSlash(t *testing.T) {
	for _, c := range []struct {
		name, orig, cur, want string
	}{
		{"/tools/x", "/tools/x", "/x", "/tools"},
		{"//tools/x", "//tools/x", "/x", "/tools"},
		{"///tools/x", "///tools/x", "/x", "/tools"},
		{"//tools//x", "//tools//x", "/x", "/tools"},
		{"//tools/_plexauth/logout", "//tools/_plexauth/logout", "/_plexauth/logout", "/tools"},
		{"/.//tools/x", "/.//tools/x", "/x", "/tools"},
		{"/../tools/x", "/../tools/x", "/x", "/tools"},
		{"/x/..//tools/x", "/x/..//tools/x", "/x", "/tools"},
		{"/TOOLS/x", "/TOOLS/x", "/x", "/TOOLS"},
		{"/tools%2Fx", "/tools/x", "/x", "/tools"},
		// Not stripped by handle_path (its strip compares the escaped
		// path): nothing to put back.
		{"/%2F%2Ftools/x", "///tools/x", "///tools/x", ""},
		{"/%2Ftools/x", "//tools/x", "//tools/x", ""},
		{"/%2e%2e//tools/x", "/..//tools/x", "/../tools/x", ""},
		// What a rewrite of another shape could leave: a backslash, a
		// tab or a newline where a browser reads a second slash.
		{`/\tools/x`, `/\tools/x`, "/x", "/tools"},
		{`/\/tools/x`, `/\/tools/x`, "/x", "/tools"},
		{`\/tools/x`, `\/tools/x`, "/x", "/tools"},
		{"/\t/tools/x", "/\t/tools/x", "/x", "/tools"},
		{"/\n/tools/x", "/\n/tools/x", "/x", "/tools"},
		{`/\`, `/\/x`, "/x", ""},
		{"//", "///x", "/x", ""},
		{"no strip", "/x", "/x", ""},
		{"root", "/", "/", ""},
	} {
		got := MountPath(c.orig, c.cur)
		if got != c.want {
			t.Errorf("%s: MountPath(%q, %q) = %q, want %q", c.name, c.orig, c.cur, got, c.want)
		}
		if u := got + "/_plexauth/login"; !staysOnHost(u) {
			t.Errorf("%s: %q leaves the host", c.name, u)
		}
	}
}

// TestReturnPathStartsWithOneSlash: the rd of the redirect to the login
// page is the request target as the client sent it (RequestURI of the
// request before any strip), with a run of slashes in front made one, so
// that the return after sign-in goes where the client asked and not to
// "/", which the return-URL check would make of "//tools/x".
func TestReturnPathStartsWithOneSlash(t *testing.T) {
	for _, c := range []struct {
		requestURI, want string
	}{
		{"/tools/x?a=1", "/tools/x?a=1"},
		{"//tools/x", "/tools/x"},
		{"///tools/x?a=//b", "/tools/x?a=//b"},
		{`/\tools/x`, "/tools/x"},
		{`//\\tools/x`, "/tools/x"},
		// Escaped slashes are another path to Caddy (handle_path does not
		// strip them): they stay, and the return-URL check sends a
		// decoded "//" to "/".
		{"/%2F%2Ftools/x", "/%2F%2Ftools/x"},
		{"/%5Ctools/x", "/%5Ctools/x"},
		{"*", "/*"},
		{"", "/"},
	} {
		got := OneLeadingSlash(c.requestURI)
		if got != c.want {
			t.Errorf("OneLeadingSlash(%q) = %q, want %q", c.requestURI, got, c.want)
		}
		if !staysOnHost(got) {
			t.Errorf("%q leaves the host", got)
		}
		if rd := Safe(got, "site.test", nil); !staysOnHost(rd) {
			t.Errorf("%q comes back from the return-URL check as %q", got, rd)
		}
	}
}

// A path that is not the original's tail (a rewrite changed
// it, rather than a strip) has no mount path to put back: the module's
// URLs stay at its own prefix, not under a piece of the old path.
func TestMountPathOfARewrittenPathIsEmpty(t *testing.T) {
	for _, c := range []struct{ orig, cur string }{
		{"/tools/long/path", "/x"},
		{"/a/x", "/b"},
		{"/x", "/longer/path"},
	} {
		if got := MountPath(c.orig, c.cur); got != "" {
			t.Errorf("MountPath(%q, %q) = %q, want \"\": nothing was stripped", c.orig, c.cur, got)
		}
	}
}

// One backslash, tab or newline in front is made a "/" as a
// run of them is; only a lone "/" is left as it is.
func TestOneLeadingSlashReplacesALoneBackslash(t *testing.T) {
	for in, want := range map[string]string{`\tools/x`: "/tools/x", "\t/x": "/x", "\nx": "/x", "/x": "/x", "x": "/x"} {
		if got := OneLeadingSlash(in); got != want {
			t.Errorf("OneLeadingSlash(%q) = %q, want %q", in, got, want)
		}
	}
}

// Whatever a request's path is, OneLeadingSlash of it, and MountPath of a
// strip of it followed by the prefix, stay on the host; and a path that
// already does is left as it is.
func FuzzBuiltPathsStayOnTheHost(f *testing.F) {
	for _, s := range []string{"", "/", "//tools/x", `/\tools/x`, "\t/x", "/x/..//tools/x", "*", "/%2F%2Fx"} {
		f.Add(s, 1)
	}
	f.Fuzz(func(t *testing.T, s string, cut int) {
		got := OneLeadingSlash(s)
		if !staysOnHost(got) {
			t.Fatalf("OneLeadingSlash(%q) = %q leaves the host", s, got)
		}
		if len(s) > 0 && s[0] == '/' && (len(s) == 1 || strings.IndexByte("/\\\t\n\r", s[1]) < 0) && got != s {
			t.Fatalf("OneLeadingSlash(%q) = %q, want it unchanged", s, got)
		}
		if cut < 0 || cut > len(s) {
			return
		}
		if m := MountPath(s, s[cut:]); !staysOnHost(m+"/_plexauth/login") || strings.HasSuffix(m, "/") {
			t.Fatalf("MountPath(%q, %q) = %q: leaves the host or ends in /", s, s[cut:], m)
		}
	})
}
