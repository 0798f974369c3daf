package cookieheader

import (
	"slices"
	"strings"
	"testing"
)

// An application's cookies go, in every line and any spelling of the
// separators; the others stay, and a header left empty goes.
func TestStripMatchingRemovesTheNamedCookiesAndKeepsTheRest(t *testing.T) {
	isApp := func(name string) bool { return strings.HasPrefix(name, "app.") }
	for _, c := range []struct {
		name  string
		lines []string
		kept  []string // nil: the header is deleted
		names []string
	}{
		{"none matches", []string{"a=1; b=2"}, []string{"a=1; b=2"}, nil},
		{"one in the middle", []string{"a=1;app.sid=x;  b=2"}, []string{"a=1; b=2"}, []string{"app.sid"}},
		{"twice, two lines", []string{"app.sid=x; a=1", "app.sid=y; app.t=z"}, []string{"a=1"}, []string{"app.sid", "app.t"}},
		{"all of them", []string{"app.sid=x", "app.t=z;"}, nil, []string{"app.sid", "app.t"}},
		{"no header", nil, nil, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := map[string][]string{}
			if c.lines != nil {
				h["Cookie"] = slices.Clone(c.lines)
			}
			names := StripMatching(h, isApp)
			if !slices.Equal(names, c.names) {
				t.Errorf("removed %q, want %q", names, c.names)
			}
			got, present := h["Cookie"]
			if present != (c.kept != nil) || !slices.Equal(got, c.kept) {
				t.Errorf("Cookie header %q (present %v), want %q", got, present, c.kept)
			}
		})
	}
}
