package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// twoFuncs holds the same line, with the same mutations, in two functions,
// and one of each other kind of place a mutation can be.
const twoFuncs = `package p

var on = true

type T struct{}

type G[K comparable, V any] struct{}

func first(a int) bool {
	if a > 1 {
		return false
	}
	return true
}

func second(a int) bool {
	if a > 1 {
		return false
	}
	return true
}

func (t *T) ptr() bool {
	f := func() bool { return false }
	return f()
}

func (t T) val(a int) bool { return a > 1 }

func (g *G[K, V]) gen(a int) bool { return a > 1 }
`

// parseSource writes src as name under a fresh root and finds its
// mutations.
func parseSource(t *testing.T, name, src string) []*point {
	t.Helper()
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, name), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	ids := 0
	return parseFile(root, name, &ids).points
}

// pointAt is the mutation of fn whose operator is op and change is change.
func pointAt(t *testing.T, points []*point, fn, op, change string) *point {
	t.Helper()
	for _, p := range points {
		if p.fn == fn && p.op == op && p.change == change {
			return p
		}
	}
	t.Fatalf("no %s mutation %q in %s; have %v", op, change, fn, points)
	return nil
}

func TestMutationsNameTheirDeclaredFunction(t *testing.T) {
	points := parseSource(t, "p.go", twoFuncs)
	for _, c := range []struct{ fn, op, change string }{
		{"-", "bool literal", "`true` -> `false`"},
		{"first", "remove early return", "`return false` removed"},
		{"second", "remove early return", "`return false` removed"},
		{"(*T).ptr", "bool literal", "`false` -> `true`"}, // in the function literal
		{"T.val", "negate", "`a > 1` -> `<=`"},
		{"(*G).gen", "negate", "`a > 1` -> `<=`"},
	} {
		pointAt(t, points, c.fn, c.op, c.change)
	}
}

func TestExplainKeyTellsFunctionsApartButNotLines(t *testing.T) {
	points := parseSource(t, "p.go", twoFuncs)
	a := pointAt(t, points, "first", "remove early return", "`return false` removed")
	b := pointAt(t, points, "second", "remove early return", "`return false` removed")
	if a.src != b.src || a.op != b.op || a.change != b.change {
		t.Fatalf("the two mutations differ in more than the function: %+v, %+v", a, b)
	}
	if explainKey(a) == explainKey(b) {
		t.Errorf("the same line in first and second gives one key: %q", explainKey(a))
	}

	// The same code, lines moved: every key stays.
	moved := parseSource(t, "p.go", strings.Replace(twoFuncs, "var on = true\n", "var on = true\n\n// moved\n\n\n", 1))
	if len(moved) != len(points) {
		t.Fatalf("%d mutations after the move, %d before", len(moved), len(points))
	}
	for i, p := range points {
		if moved[i].line == p.line && p.fn != "-" {
			t.Fatalf("%s:%d did not move", p.file, p.line)
		}
		if explainKey(moved[i]) != explainKey(p) {
			t.Errorf("moved from line %d to %d, key %q became %q", p.line, moved[i].line, explainKey(p), explainKey(moved[i]))
		}
	}
}

func TestEntryExplainsOnlyItsOwnFunction(t *testing.T) {
	points := parseSource(t, "p.go", twoFuncs)
	a := pointAt(t, points, "first", "remove early return", "`return false` removed")
	b := pointAt(t, points, "second", "remove early return", "`return false` removed")
	// A line number that is neither's: the match ignores it.
	entry := "# a comment\n\np.go:99 | first | remove early return | `return false` removed | return false | equivalent | even with a bar\n"
	m, err := parseExplained(strings.NewReader(entry))
	if err != nil {
		t.Fatal(err)
	}
	if why, ok := m[explainKey(a)]; !ok || why != "equivalent | even with a bar" {
		t.Errorf("first's survivor: explained %v, why %q; want the entry's why", ok, why)
	}
	if why, ok := m[explainKey(b)]; ok {
		t.Errorf("second's survivor is explained by first's entry (why %q)", why)
	}
}

func TestExplainedLineWithoutFunctionIsAnError(t *testing.T) {
	// The format before functions: it would never match, silently.
	old := "p.go:11 | remove early return | `return false` removed | return false | equivalent\n"
	if _, err := parseExplained(strings.NewReader(old)); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("an entry without its function: err %v, want one naming line 1", err)
	}
}
