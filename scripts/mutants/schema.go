package main

// Writing every mutation into the copy at once, each behind its switch,
// and building the test binary from it.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
)

// refuses. It returns how many were left out.
func buildSchemata(dir, bin string, files []*file) int {
	left := 0
	for attempt := 0; ; attempt++ {
		for _, f := range files {
			check(os.WriteFile(filepath.Join(dir, f.name), f.render(), 0o644))
		}
		cmd := exec.Command("go", "test", "-c", "-o", bin, ".")
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err == nil {
			return left
		}
		bad := compileErrors(out)
		dropped := 0
		for _, f := range files {
			for line := range bad[f.name] {
				n := f.dropLine(line)
				if n > 0 {
					fmt.Fprintf(os.Stderr, "  left out %d mutations at %s:%d: the compiler refused them behind a switch\n", n, f.name, line)
				}
				dropped += n
			}
		}
		if dropped == 0 || attempt > 20 {
			os.RemoveAll(dir)
			fatalf("the mutated package does not build:\n%s", out)
		}
		left += dropped
	}
}

var compileError = regexp.MustCompile(`(?m)^\./([a-z_0-9]+\.go):(\d+):\d+: `)

func compileErrors(out []byte) map[string]map[int]bool {
	m := map[string]map[int]bool{}
	for _, s := range compileError.FindAllSubmatch(out, -1) {
		n, _ := strconv.Atoi(string(s[2]))
		if m[string(s[1])] == nil {
			m[string(s[1])] = map[int]bool{}
		}
		m[string(s[1])][n] = true
	}
	return m
}

// dropLine leaves out the mutations whose edits touch line, returning how
// many (edits never add a line break, so lines keep their numbers).
func (f *file) dropLine(line int) int {
	tf := f.tf
	gone := map[int]bool{}
	for _, e := range f.edits {
		if tf.Line(tf.Pos(min(e.off, len(f.src)))) == line {
			gone[e.point] = true
		}
	}
	for _, p := range f.points {
		if gone[p.id] {
			gone[p.group] = true
		}
	}
	for _, p := range f.points {
		if gone[p.group] {
			gone[p.id] = true
		}
	}
	var keep []*point
	for _, p := range f.points {
		if !gone[p.id] {
			keep = append(keep, p)
		}
	}
	var edits []edit
	for _, e := range f.edits {
		if !gone[e.point] {
			edits = append(edits, e)
		}
	}
	n := len(f.points) - len(keep)
	f.points, f.edits = keep, edits
	return n
}

func (f *file) render() []byte {
	edits := append([]edit(nil), f.edits...)
	kind := func(e edit) int {
		switch {
		case e.closing:
			return 0
		case e.replace:
			return 1
		}
		return 2
	}
	sort.SliceStable(edits, func(i, j int) bool {
		a, b := edits[i], edits[j]
		if a.off != b.off {
			return a.off < b.off
		}
		if kind(a) != kind(b) {
			return kind(a) < kind(b)
		}
		if a.closing {
			if a.span != b.span {
				return a.span < b.span
			}
			return a.rank > b.rank
		}
		if a.span != b.span {
			return a.span > b.span
		}
		return a.rank < b.rank
	})
	var out bytes.Buffer
	at := 0
	for _, e := range edits {
		if e.off < at {
			continue // a replacement already covered it
		}
		out.Write(f.src[at:e.off])
		out.WriteString(e.text)
		at = e.off + e.n
	}
	out.Write(f.src[at:])
	return out.Bytes()
}

// switchSource is the switch every mutation sits behind.
const switchSource = `package plexauth

import (
	"cmp"
	"os"
	"strconv"
)

var mutantID = func() int { n, _ := strconv.Atoi(os.Getenv("PLEXAUTH_MUTANT")); return n }()

func mutantOn(id int) bool { return id == mutantID }

// mutantAnd is a && b, or with id swap a || b, with dropL b, with dropR a.
func mutantAnd(swap, dropL, dropR int, a bool, b func() bool) bool {
	switch mutantID {
	case swap:
		return a || b()
	case dropL:
		return b()
	case dropR:
		return a
	}
	return a && b()
}

// mutantOr is a || b, or with id swap a && b, with dropL b, with dropR a.
func mutantOr(swap, dropL, dropR int, a bool, b func() bool) bool {
	switch mutantID {
	case swap:
		return a && b()
	case dropL:
		return b()
	case dropR:
		return a
	}
	return a || b()
}

// mutantCmp is a op b, or with id its boundary neighbour (< and <=, > and >=).
func mutantCmp[T cmp.Ordered](id int, op string, a, b T) bool {
	on := id == mutantID
	switch {
	case op == "<" && !on, op == "<=" && on:
		return a < b
	case op == "<=", op == "<" && on:
		return a <= b
	case op == ">" && !on, op == ">=" && on:
		return a > b
	}
	return a >= b
}
`
