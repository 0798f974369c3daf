package main

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
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

// twins holds identical lines in one function, one of them in a function
// literal that comes first in the source but is walked after the body.
const twins = `package p

func twice(a int) bool {
	f := func() bool {
		if a > 1 {
			return false
		}
		return true
	}
	if a > 1 {
		return false
	}
	a--
	if a > 1 {
		return false
	}
	return f()
}

func once(a int) bool {
	if a > 1 {
		return false
	}
	return true
}
`

// pointsOf are the mutations of fn whose operator is op and change is
// change, in source order.
func pointsOf(points []*point, fn, op, change string) []*point {
	var out []*point
	for _, p := range points {
		if p.fn == fn && p.op == op && p.change == change {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].line < out[j].line })
	return out
}

func TestIdenticalMutationsInOneFunctionAreRankedApart(t *testing.T) {
	points := parseSource(t, "p.go", twins)
	ret := pointsOf(points, "twice", "remove early return", "`return false` removed")
	if len(ret) != 3 {
		t.Fatalf("%d `return false` mutations in twice, want 3: %v", len(ret), ret)
	}
	keys := map[string]int{}
	for i, p := range ret {
		// Source order: the literal's line first, though walked last.
		if want := "twice#" + strconv.Itoa(i+1); p.fnName() != want {
			t.Errorf("line %d: function %q, want %q", p.line, p.fnName(), want)
		}
		if prev, ok := keys[explainKey(p)]; ok {
			t.Errorf("lines %d and %d share the key %q", prev, p.line, explainKey(p))
		}
		keys[explainKey(p)] = p.line
	}
	// A mutation without a twin in its function keeps the plain name,
	// though the same line is in twice.
	lone := pointAt(t, points, "once", "remove early return", "`return false` removed")
	if lone.fnName() != "once" {
		t.Errorf("the lone `return false` of once is named %q, want once", lone.fnName())
	}
}

func TestEntryForOneTwinDoesNotExplainTheOther(t *testing.T) {
	points := parseSource(t, "p.go", twins)
	ret := pointsOf(points, "twice", "remove early return", "`return false` removed")
	m, err := parseExplained(strings.NewReader("p.go:11 | twice#2 | remove early return | `return false` removed | return false | equivalent\n"))
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range ret {
		_, ok := m[explainKey(p)]
		if want := i == 1; ok != want {
			t.Errorf("line %d (%s): explained %v, want %v", p.line, p.fnName(), ok, want)
		}
	}
	// The name without a rank, the format before ranks, explains none of
	// them: the survivors show, each asking for its own entry.
	m, err = parseExplained(strings.NewReader("p.go:11 | twice | remove early return | `return false` removed | return false | equivalent\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ret {
		if _, ok := m[explainKey(p)]; ok {
			t.Errorf("line %d (%s) is explained by an entry without a rank", p.line, p.fnName())
		}
	}
}

func TestRanksHoldWhileLinesMoveAndChangeWithATwinAdded(t *testing.T) {
	points := parseSource(t, "p.go", twins)
	// Lines added before the function and between the twins: every
	// mutation moves or not, none changes its key.
	moved := strings.Replace(twins, "package p\n", "package p\n\n// moved\n\n", 1)
	moved = strings.Replace(moved, "\ta--\n", "\t// between\n\n\ta--\n", 1)
	after := parseSource(t, "p.go", moved)
	if len(after) != len(points) {
		t.Fatalf("%d mutations after the move, %d before", len(after), len(points))
	}
	for i, p := range points {
		if explainKey(after[i]) != explainKey(p) {
			t.Errorf("moved from line %d to %d, key %q became %q", p.line, after[i].line, explainKey(p), explainKey(after[i]))
		}
	}

	// An identical line added first: the others' ranks go up, so an
	// entry written for the first names the new line now and the old
	// first's entry goes stale (it shows again): never a survivor hidden.
	added := strings.Replace(twins, "\tf := func", "\tif a > 1 {\n\t\treturn false\n\t}\n\tf := func", 1)
	ret := pointsOf(parseSource(t, "p.go", added), "twice", "remove early return", "`return false` removed")
	if len(ret) != 4 || ret[0].fnName() != "twice#1" || ret[1].fnName() != "twice#2" || ret[3].fnName() != "twice#4" {
		t.Errorf("after adding a twin first: %v, want twice#1 to #4 in source order", ret)
	}
}

func TestExplainedRankMustBeWellFormedAndEntriesDistinct(t *testing.T) {
	for _, c := range []struct{ name, list string }{
		{"rank 0", "p.go:11 | twice#0 | remove early return | `return false` removed | return false | equivalent\n"},
		{"rank not a number", "p.go:11 | twice#x | remove early return | `return false` removed | return false | equivalent\n"},
		{"rank with a sign", "p.go:11 | twice#+1 | remove early return | `return false` removed | return false | equivalent\n"},
		{"the same entry twice", "p.go:11 | twice#1 | remove early return | `return false` removed | return false | equivalent\n" +
			"p.go:15 | twice#1 | remove early return | `return false` removed | return false | equivalent too\n"},
	} {
		if _, err := parseExplained(strings.NewReader(c.list)); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
	ok := "p.go:11 | twice#1 | remove early return | `return false` removed | return false | equivalent\n" +
		"p.go:15 | twice#2 | remove early return | `return false` removed | return false | equivalent too\n"
	if m, err := parseExplained(strings.NewReader(ok)); err != nil || len(m) != 2 {
		t.Errorf("two twins' entries: %d entries, err %v; want 2, nil", len(m), err)
	}
}
