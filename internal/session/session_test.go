package session

import "testing"

// session.go:86: Prepare fills what the hot path reads: the folded copies
// allow_users compares and the boxed placeholder values.
func TestPrepareFillsTheFoldedAndBoxedValues(t *testing.T) {
	s := &Session{UserID: 42, UUID: "0123abcd", Username: "Alice-Z", Email: "Alice@Example.COM", Title: "Alice Z"}
	s.Prepare()
	if s.FoldedUsername() != "alice-z" || s.FoldedEmail() != "alice@example.com" {
		t.Errorf("folded = %q, %q", s.FoldedUsername(), s.FoldedEmail())
	}
	want := Boxed{ID: "42", Username: "Alice-Z", Email: "Alice@Example.COM", UUID: "0123abcd", Title: "Alice Z"}
	if s.Boxed != want {
		t.Errorf("Boxed = %+v, want %+v", s.Boxed, want)
	}
}

// session.go:125: foldASCII lower-cases A to Z and nothing else: not the
// bytes either side of them ('@', '[', '`', '{'), nor UTF-8 bytes; it must
// fold as access.FoldASCII does (allow_users compares the two).
func TestFoldASCIIFoldsOnlyAToZ(t *testing.T) {
	for in, want := range map[string]string{
		"":                  "",
		"already-lower":     "already-lower",
		"AZ":                "az",
		"aZ":                "az",
		"@[`{AZ@[`{":        "@[`{az@[`{",
		"ÀLICE É":           "Àlice É",
		"MiXeD.Case@HoSt.Z": "mixed.case@host.z",
	} {
		if got := foldASCII(in); got != want {
			t.Errorf("foldASCII(%q) = %q, want %q", in, got, want)
		}
	}
}

// session.go:112: of callers of BeginCheck, one gets true until EndCheck:
// one re-check at a time per session.
func TestBeginCheckLetsOneThroughUntilEndCheck(t *testing.T) {
	s := &Session{}
	if s.Checking() || !s.BeginCheck() {
		t.Fatal("the first BeginCheck was refused")
	}
	if !s.Checking() || s.BeginCheck() {
		t.Fatal("a second BeginCheck got through while the first runs")
	}
	s.EndCheck()
	if s.Checking() || !s.BeginCheck() {
		t.Fatal("BeginCheck after EndCheck was refused")
	}
}
