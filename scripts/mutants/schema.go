package main

// Writing every mutation into the copy at once, each behind its switch,
// and building each package's test binary from it.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// pkg is one package of the module with files to mutate (or, for the root
// under -full, none: its tests see the other packages' mutations).
type pkg struct {
	dir   string  // the folder from the repository's root, with '/'; "." for the root
	name  string  // the package clause's name
	files []*file // the files mutated in it
	bin   string  // its test binary, once built
}

// packagesOf groups files by package, in the order of first mention.
func packagesOf(files []*file) []*pkg {
	var pkgs []*pkg
	by := map[string]*pkg{}
	for _, f := range files {
		pk := by[f.pkg]
		if pk == nil {
			pk = &pkg{dir: f.pkg, name: f.pkgName}
			by[f.pkg] = pk
			pkgs = append(pkgs, pk)
		}
		pk.files = append(pk.files, f)
	}
	return pkgs
}

// binName is the file name of a package's test binary, e.g.
// internal-access.test, plexauth.test for the root.
func (pk *pkg) binName() string {
	if pk.dir == "." {
		return "plexauth.test"
	}
	return strings.ReplaceAll(pk.dir, "/", "-") + ".test"
}

// buildSchemata writes the package's switch, and every file with its
// mutations behind switches, into the copy at dir, and builds the
// package's test binary (go test -c in its folder) into bins, leaving out
// the mutations on lines the compiler refuses. It returns how many were
// left out. The package's imports are built from the copy too, so a
// package's mutations are in every test binary that uses it; a refused
// line in one of them is left out the same way.
func buildSchemata(dir, bins string, pk *pkg, all []*file) int {
	pdir := filepath.Join(dir, filepath.FromSlash(pk.dir))
	check(os.WriteFile(filepath.Join(pdir, "zz_mutant_switch.go"), []byte("package "+pk.name+"\n"+switchSource), 0o644))
	pk.bin = filepath.Join(bins, pk.binName())
	left := 0
	for attempt := 0; ; attempt++ {
		for _, f := range all {
			check(os.WriteFile(filepath.Join(dir, filepath.FromSlash(f.name)), f.render(), 0o644))
		}
		cmd := exec.Command("go", "test", "-c", "-o", pk.bin, ".")
		cmd.Dir = pdir
		out, err := cmd.CombinedOutput()
		if err == nil {
			return left
		}
		bad := compileErrors(out, dir, pdir)
		dropped := 0
		for _, f := range all {
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
			fatalf("the mutated package %s does not build:\n%s", pk.dir, out)
		}
		left += dropped
	}
}

// compileError is a compiler error; the go command names the file from the
// folder it runs in (./name.go, ../other/name.go).
var compileError = regexp.MustCompile(`(?m)^(\S+\.go):(\d+):\d+: `)

// compileErrors are the lines the compiler refused, by file (its path from
// the copy's root dir, with '/'), from the output of a build run in cwd.
func compileErrors(out []byte, dir, cwd string) map[string]map[int]bool {
	m := map[string]map[int]bool{}
	for _, s := range compileError.FindAllSubmatch(out, -1) {
		name := string(s[1])
		if !filepath.IsAbs(name) {
			name = filepath.Join(cwd, name)
		}
		rel, err := filepath.Rel(dir, name)
		if err != nil {
			continue
		}
		rel = filepath.ToSlash(rel)
		n, _ := strconv.Atoi(string(s[2]))
		if m[rel] == nil {
			m[rel] = map[int]bool{}
		}
		m[rel][n] = true
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
// It follows the package clause.
const switchSource = `
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
