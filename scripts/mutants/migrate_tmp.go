package main

// Throwaway, removed in the next commit: -migrate rewrote
// scripts/mutants-explained.txt from "file:line | op | change | src | why"
// to "file:line | function | op | change | src | why", taking the function
// of the mutation nearest the entry's line among those with the same file,
// op, change and src, and reported stale and ambiguous entries; the
// ambiguous ones were then settled by hand (see the commit message).

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
)

func init() {
	if len(os.Args) < 2 || os.Args[1] != "-migrate" {
		return
	}
	migrate("scripts/mutants-explained.txt")
	os.Exit(0)
}

func migrate(path string) {
	b, err := os.ReadFile(path)
	check(err)
	lines := strings.Split(string(b), "\n")
	// Files the entries name, beyond the default list.
	files := append([]string(nil), defaultFiles...)
	inDefault := map[string]bool{}
	for _, f := range defaultFiles {
		inDefault[f] = true
	}
	for _, l := range lines {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		f, _, _ := strings.Cut(strings.Split(l, " | ")[0], ":")
		if !inDefault[f] {
			inDefault[f] = true
			files = append(files, f)
			fmt.Fprintf(os.Stderr, "NOT IN DEFAULT LIST: %s\n", f)
		}
	}
	ids := 0
	byKey := map[string][]*point{}
	for _, n := range files {
		if _, err := os.Stat(n); err != nil {
			fmt.Fprintf(os.Stderr, "MISSING FILE: %s\n", n)
			continue
		}
		for _, p := range parseFile(".", n, &ids).points {
			k := p.file + "|" + p.op + "|" + p.change + "|" + p.src
			byKey[k] = append(byKey[k], p)
		}
	}
	var out []string
	migrated, stale, ambiguous, sameFn := 0, 0, 0, 0
	for i, l := range lines {
		if l == "" || strings.HasPrefix(l, "#") {
			out = append(out, l)
			continue
		}
		parts := strings.Split(l, " | ")
		f, ln, _ := strings.Cut(parts[0], ":")
		line, _ := strconv.Atoi(ln)
		ps := byKey[f+"|"+parts[1]+"|"+parts[2]+"|"+parts[3]]
		if len(ps) == 0 {
			stale++
			fmt.Fprintf(os.Stderr, "STALE (txt line %d): %s\n", i+1, l)
			continue
		}
		fns := map[string][]int{}
		for _, p := range ps {
			fns[p.fn] = append(fns[p.fn], p.line)
		}
		// The function of the mutation nearest the entry's line.
		best := ps[0]
		for _, p := range ps {
			if abs(p.line-line) < abs(best.line-line) {
				best = p
			}
		}
		if len(fns) > 1 {
			ambiguous++
			var c []string
			for fn, ls := range fns {
				c = append(c, fmt.Sprintf("%s %v", fn, ls))
			}
			sort.Strings(c)
			fmt.Fprintf(os.Stderr, "AMBIGUOUS (txt line %d, entry line %d, chose %s): %s\n    candidates: %s\n", i+1, line, best.fn, l, strings.Join(c, "; "))
		} else if len(ps) > 1 {
			sameFn++
			fmt.Fprintf(os.Stderr, "SAME FUNCTION, SEVERAL LINES (txt line %d): %s %v: %s\n", i+1, best.fn, fns[best.fn], l)
		}
		migrated++
		out = append(out, strings.Join(append([]string{parts[0], best.fn}, parts[1:]...), " | "))
	}
	check(os.WriteFile(path, []byte(strings.Join(out, "\n")), 0o644))
	fmt.Fprintf(os.Stderr, "migrated %d, stale %d, ambiguous %d, same function several lines %d\n", migrated, stale, ambiguous, sameFn)
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// -verify: every entry of the migrated list matches a current mutation.
func init() {
	if len(os.Args) < 2 || os.Args[1] != "-verify" {
		return
	}
	fh, _ := os.Open("scripts/mutants-explained.txt")
	m, err := parseExplained(fh)
	check(err)
	ids := 0
	used := map[string][]int{}
	for _, n := range defaultFiles {
		for _, p := range parseFile(".", n, &ids).points {
			if _, ok := m[explainKey(p)]; ok {
				used[explainKey(p)] = append(used[explainKey(p)], p.line)
			}
		}
	}
	for k := range m {
		if used[k] == nil {
			fmt.Println("UNMATCHED", k)
		}
	}
	fmt.Println("keys", len(m), "matched", len(used))
	os.Exit(0)
}
