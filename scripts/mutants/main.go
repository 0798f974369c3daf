// Command mutants is the mutation run of scripts/mutants.sh: it changes one
// line of the plex_auth package at a time (a condition negated, a branch
// disabled, a statement removed, ...) and runs the package's tests against
// each change. A change no test notices is a survivor: a rule the tests do
// not hold.
//
// It never touches the working tree. The package is copied to a temporary
// folder, and every mutation is compiled into that copy at once, each behind
// a switch (mutantOn(id)) that is off unless PLEXAUTH_MUTANT=id: one build,
// then one test run per mutation ("mutant schemata", Untch, Offutt and
// Harrold, ISSTA 1993). A mutation the compiler refuses in that form is left
// out and counted as such.
//
//	go run ./scripts/mutants [flags] [file.go ...]
//
// Flags: -timeout (per mutation), -full (run the survivors of the -short
// suite against the whole suite), -run (a test regexp, for a quick look),
// -list (print the mutations and stop), -j (mutations run side by side),
// -explained (the list of survivors known to be harmless).
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// defaultFiles are the files that hold security rules and session state.
var defaultFiles = []string{
	"access.go", "admin.go", "allowusers.go", "cache.go", "cookie.go", "crosssite.go",
	"identityheaders.go", "limits.go", "module.go", "ownerstore.go", "pinclaim.go",
	"pinflow.go", "poll.go", "redirect.go", "revalidate.go", "rules.go", "signout.go",
	"store.go", "urls.go", "verified.go",
}

// point is one mutation.
type point struct {
	id     int
	file   string
	line   int
	group  int    // mutations that share edits are left out together
	op     string // the operator, e.g. "negate", "remove statement"
	change string // what it does to the code, e.g. "`a == b` -> `a != b`"
	src    string // the source line, trimmed
}

// edit inserts text at off, or replaces n bytes there. Edits of nested
// nodes at one offset are ordered by span: outer openings first, inner
// closings first; rank breaks ties between edits of one node.
type edit struct {
	off, n  int
	text    string
	closing bool
	span    int
	rank    int
	point   int // the mutation this edit belongs to
	replace bool
}

type file struct {
	name   string
	src    []byte
	fset   *token.FileSet
	tf     *token.File
	points []*point
	edits  []edit
	lines  []string
}

func main() {
	timeout := flag.Duration("timeout", 90*time.Second, "time limit of one mutation's test run")
	full := flag.Bool("full", false, "run the survivors of the -short suite again against the whole suite (process and browser tests too)")
	run := flag.String("run", "", "only the tests matching this regexp (a quick look: survivors then may be killed by other tests)")
	list := flag.Bool("list", false, "print the mutations and stop")
	only := flag.String("id", "", "run only these mutations (ids from -list, comma-separated), printing each one's test output")
	jobs := flag.Int("j", 1, "mutations run side by side")
	explainedPath := flag.String("explained", "scripts/mutants-explained.txt", "survivors known to be harmless, with why")
	flag.Parse()

	root, err := os.Getwd()
	check(err)
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		fatalf("run from the repository's root (scripts/mutants.sh does)")
	}
	names := flag.Args()
	if len(names) == 0 {
		names = defaultFiles
	}

	var files []*file
	ids := 0
	for _, n := range names {
		files = append(files, parseFile(root, filepath.Base(n), &ids))
	}
	if *list {
		for _, f := range files {
			for _, p := range f.points {
				fmt.Printf("%d\t%s:%d\t%s\t%s\n", p.id, p.file, p.line, p.op, p.change)
			}
		}
		return
	}

	dir, err := os.MkdirTemp("", "plexauth-mutants-")
	check(err)
	defer os.RemoveAll(dir)
	// Stopped (Ctrl-C, kill): the copy goes too.
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-stop
		os.RemoveAll(dir)
		os.Exit(130)
	}()
	check(copyTree(root, dir))
	check(os.WriteFile(filepath.Join(dir, "zz_mutant_switch.go"), []byte(switchSource), 0o644))

	bin := filepath.Join(dir, "plexauth.test")
	left := buildSchemata(dir, bin, files)

	var all []*point
	for _, f := range files {
		all = append(all, f.points...)
	}
	if *only != "" {
		want := map[string]bool{}
		for _, s := range strings.Split(*only, ",") {
			want[strings.TrimSpace(s)] = true
		}
		var some []*point
		for _, p := range all {
			if want[strconv.Itoa(p.id)] {
				some = append(some, p)
			}
		}
		all = some
		verbose = true
	}
	explained := readExplained(filepath.Join(root, *explainedPath))
	fmt.Printf("%d mutations in %d files (%d left out: the compiler refused them behind a switch); running the -short suite, %v each\n",
		len(all), len(files), left, *timeout)

	results := make([]outcome, len(all))
	var wg sync.WaitGroup
	var progress sync.Mutex
	done, survivors := 0, 0
	next := make(chan int)
	for range max(*jobs, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				r := runMutant(dir, bin, all[i], true, *run, *timeout)
				results[i] = r
				progress.Lock()
				done++
				if r == survived {
					survivors++
					fmt.Fprintf(os.Stderr, "  survived -short: %s:%d %s: %s\n", all[i].file, all[i].line, all[i].op, all[i].change)
				}
				if done%25 == 0 {
					fmt.Fprintf(os.Stderr, "  [%d/%d] %d survived so far\n", done, len(all), survivors)
				}
				progress.Unlock()
			}
		}()
	}
	for i := range all {
		next <- i
	}
	close(next)
	wg.Wait()

	if *full {
		for i, p := range all {
			if results[i] == survived {
				fmt.Printf("  %s:%d survived -short; the whole suite now...\n", p.file, p.line)
				results[i] = runMutant(dir, bin, p, false, *run, 4**timeout+20*time.Minute)
			}
		}
	}

	var killed, surv, timedOut, unexplained int
	for i, p := range all {
		switch results[i] {
		case killed_:
			killed++
		case timedOut_:
			timedOut++
		case survived:
			surv++
			why, ok := explained[explainKey(p)]
			if ok {
				fmt.Printf("SURVIVED (explained) %s:%d  %s: %s\n    %s\n    why: %s\n", p.file, p.line, p.op, p.change, p.src, why)
			} else {
				unexplained++
				fmt.Printf("SURVIVED %s:%d  %s: %s\n    %s\n", p.file, p.line, p.op, p.change, p.src)
			}
		}
	}
	suite := "-short"
	if *full {
		suite = "-short, survivors again with the whole suite"
	}
	fmt.Printf("\nmutations %d, killed %d, survived %d (%d explained, %d not), timed out %d, left out %d (suite: %s)\n",
		len(all), killed, surv, surv-unexplained, unexplained, timedOut, left, suite)
	if unexplained > 0 {
		os.RemoveAll(dir) // os.Exit runs no deferred calls
		os.Exit(1)
	}
}

// verbose: print each mutation's test output (with -id).
var verbose bool

// tail is the last n lines of s, without Caddy's JSON log lines.
func tail(s string, n int) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(l, "{") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep[max(0, len(keep)-n):], "\n")
}

type outcome int

const (
	killed_ outcome = iota
	survived
	timedOut_
)

func runMutant(dir, bin string, p *point, short bool, run string, timeout time.Duration) outcome {
	ctx, cancel := context.WithTimeout(context.Background(), timeout+30*time.Second)
	defer cancel()
	args := []string{"-test.count=1", "-test.failfast", "-test.timeout=" + timeout.String()}
	if short {
		args = append(args, "-test.short")
	}
	if run != "" {
		args = append(args, "-test.run="+run)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PLEXAUTH_MUTANT="+strconv.Itoa(p.id))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if verbose {
		fmt.Printf("=== mutation %d, %s:%d %s: %s\n%s\n", p.id, p.file, p.line, p.op, p.change, tail(out.String(), 40))
	}
	switch {
	case err == nil:
		return survived
	case ctx.Err() != nil || strings.Contains(out.String(), "panic: test timed out"):
		return timedOut_
	default:
		return killed_
	}
}

// buildSchemata writes every file with its mutations behind switches and
// builds the test binary, leaving out the mutations on lines the compiler
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

func parseFile(root, name string, ids *int) *file {
	src, err := os.ReadFile(filepath.Join(root, name))
	check(err)
	fset := token.NewFileSet()
	af, err := parser.ParseFile(fset, name, src, parser.ParseComments)
	check(err)
	f := &file{name: name, src: src, fset: fset, tf: fset.File(af.Pos()), lines: strings.Split(string(src), "\n")}
	m := &mutator{f: f, ids: ids}
	for _, d := range af.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if d.Body != nil {
				m.block(d.Body.List)
				// Function literals have bodies of their own.
				ast.Inspect(d.Body, func(n ast.Node) bool {
					if fl, ok := n.(*ast.FuncLit); ok {
						m.block(fl.Body.List)
					}
					return true
				})
				ast.Inspect(d.Body, m.expr)
			}
		case *ast.GenDecl:
			if d.Tok == token.VAR {
				ast.Inspect(d, m.expr)
			}
		}
	}
	return f
}

type mutator struct {
	f   *file
	ids *int // the last id given, across files
}

func (m *mutator) off(p token.Pos) int { return m.f.fset.Position(p).Offset }

func (m *mutator) text(n ast.Node) string {
	return string(m.f.src[m.off(n.Pos()):m.off(n.End())])
}

func (m *mutator) add(n ast.Node, op, change string) *point {
	line := m.f.fset.Position(n.Pos()).Line
	p := &point{file: m.f.name, line: line, op: op, change: change, src: strings.TrimSpace(m.f.lines[line-1])}
	*m.ids++
	p.id, p.group = *m.ids, *m.ids
	m.f.points = append(m.f.points, p)
	return p
}

func ref(p *point) string { return strconv.Itoa(p.id) }

func (m *mutator) wrap(n ast.Node, p *point, rank int, open, close string) {
	s, e := m.off(n.Pos()), m.off(n.End())
	m.f.edits = append(m.f.edits,
		edit{off: s, text: open, span: e - s, rank: rank, point: p.id},
		edit{off: e, text: close, closing: true, span: e - s, rank: rank, point: p.id})
}

func short(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}

var skipCalls = map[string]bool{
	// Log lines: a removed one is a log wording, never a rule.
	"Debug": true, "Info": true, "Warn": true, "Error": true,
	// Locks: removing one makes a data race, which these tests do not
	// look for without -race; it would only time out or pass by luck.
	"Lock": true, "Unlock": true, "RLock": true, "RUnlock": true,
	"panic": true,
}

func callName(e ast.Expr) string {
	c, ok := e.(*ast.CallExpr)
	if !ok {
		return ""
	}
	switch fn := c.Fun.(type) {
	case *ast.Ident:
		return fn.Name
	case *ast.SelectorExpr:
		return fn.Sel.Name
	}
	return "?"
}

// block adds the statement mutations of a list of statements and of the
// blocks inside them.
func (m *mutator) block(list []ast.Stmt) {
	for _, s := range list {
		switch s := s.(type) {
		case *ast.ExprStmt:
			if name := callName(s.X); name != "" && !skipCalls[name] {
				p := m.add(s, "remove statement", "`"+short(m.text(s))+"` removed")
				m.wrap(s, p, 0, "if !mutantOn("+ref(p)+") { ", " }")
			}
		case *ast.AssignStmt:
			if s.Tok != token.DEFINE {
				p := m.add(s, "remove statement", "`"+short(m.text(s))+"` removed")
				m.wrap(s, p, 0, "if !mutantOn("+ref(p)+") { ", " }")
			}
			if lit, ok := s.Rhs[0].(*ast.BasicLit); ok && s.Tok == token.MUL_ASSIGN && len(s.Lhs) == 1 && lit.Value != "1" {
				if id, ok := s.Lhs[0].(*ast.Ident); ok {
					p := m.add(s, "constant", "`"+m.text(s)+"` -> `"+id.Name+" *= 1`")
					m.wrap(s, p, 1, "", "; if mutantOn("+ref(p)+") { "+id.Name+" /= "+lit.Value+" }")
				}
			}
		case *ast.IncDecStmt:
			p := m.add(s, "remove statement", "`"+m.text(s)+"` removed")
			m.wrap(s, p, 0, "if !mutantOn("+ref(p)+") { ", " }")
		}
		switch s := s.(type) {
		case *ast.IfStmt:
			p := m.add(s, "disable branch", "`if "+short(m.text(s.Cond))+"` never taken")
			m.wrap(s.Cond, p, -1, "(", ") && !mutantOn("+ref(p)+")")
			if s.Else == nil && len(s.Body.List) > 0 {
				if r, ok := s.Body.List[len(s.Body.List)-1].(*ast.ReturnStmt); ok {
					p := m.add(r, "remove early return", "`"+short(m.text(r))+"` removed")
					m.wrap(r, p, 0, "if !mutantOn("+ref(p)+") { ", " }")
				}
			}
			m.block(s.Body.List)
			if e, ok := s.Else.(*ast.BlockStmt); ok {
				m.block(e.List)
			} else if e, ok := s.Else.(*ast.IfStmt); ok {
				m.block([]ast.Stmt{e})
			}
		case *ast.BlockStmt:
			m.block(s.List)
		case *ast.ForStmt:
			m.block(s.Body.List)
		case *ast.RangeStmt:
			m.block(s.Body.List)
		case *ast.SwitchStmt:
			for _, c := range s.Body.List {
				m.block(c.(*ast.CaseClause).Body)
			}
		case *ast.TypeSwitchStmt:
			for _, c := range s.Body.List {
				m.block(c.(*ast.CaseClause).Body)
			}
		case *ast.SelectStmt:
			for _, c := range s.Body.List {
				m.block(c.(*ast.CommClause).Body)
			}
		case *ast.LabeledStmt:
			m.block([]ast.Stmt{s.Stmt})
		}
	}
}

var negated = map[token.Token]string{
	token.EQL: "!=", token.NEQ: "==", token.LSS: ">=", token.GEQ: "<", token.GTR: "<=", token.LEQ: ">",
}
var boundary = map[token.Token]string{token.LSS: "<=", token.LEQ: "<", token.GTR: ">=", token.GEQ: ">"}

// expr adds the expression mutations of n.
func (m *mutator) expr(n ast.Node) bool {
	switch e := n.(type) {
	case *ast.ArrayType, *ast.FuncType, *ast.StructType, *ast.InterfaceType, *ast.MapType, *ast.ChanType:
		return false // types hold no code to mutate, and may need constants
	case *ast.BinaryExpr:
		l, r := m.text(e.X), m.text(e.Y)
		switch e.Op {
		case token.EQL, token.NEQ, token.LSS, token.LEQ, token.GTR, token.GEQ:
			if alt, ok := boundary[e.Op]; ok {
				p := m.add(e, "boundary", "`"+short(l+" "+e.Op.String()+" "+r)+"` -> `"+alt+"`")
				opOff := m.off(e.OpPos)
				m.wrap(e, p, 1, "mutantCmp("+ref(p)+", \""+e.Op.String()+"\", ", ")")
				m.f.edits = append(m.f.edits, edit{off: opOff, n: len(e.Op.String()), text: ",", replace: true, point: p.id})
			}
			p := m.add(e, "negate", "`"+short(l+" "+e.Op.String()+" "+r)+"` -> `"+negated[e.Op]+"`")
			m.wrap(e, p, 0, "(", ") != mutantOn("+ref(p)+")")
		case token.LAND, token.LOR:
			name, other := "mutantAnd", "||"
			if e.Op == token.LOR {
				name, other = "mutantOr", "&&"
			}
			whole := short(l + " " + e.Op.String() + " " + r)
			swap := m.add(e, "and/or", "`"+whole+"`: "+e.Op.String()+" -> "+other)
			dropL := m.add(e, "drop operand", "`"+whole+"` -> `"+short(r)+"`")
			dropR := m.add(e, "drop operand", "`"+whole+"` -> `"+short(l)+"`")
			dropL.group, dropR.group = swap.id, swap.id
			m.wrap(e, swap, 0, name+"("+ref(swap)+", "+ref(dropL)+", "+ref(dropR)+", ", " })")
			// "return" opens the right operand's line: after a line break
			// it would end the statement.
			m.f.edits = append(m.f.edits,
				edit{off: m.off(e.OpPos), n: len(e.Op.String()), text: ", func() bool {", replace: true, point: swap.id},
				edit{off: m.off(e.Y.Pos()), text: "return ", span: m.off(e.End()) - m.off(e.Pos()), point: swap.id})
		}
	case *ast.UnaryExpr:
		if e.Op == token.NOT {
			p := m.add(e, "drop !", "`"+short(m.text(e))+"` -> `"+short(m.text(e.X))+"`")
			m.wrap(e, p, 0, "(", ") != mutantOn("+ref(p)+")")
		}
	case *ast.Ident:
		if e.Name == "true" || e.Name == "false" {
			alt := map[string]string{"true": "false", "false": "true"}[e.Name]
			p := m.add(e, "bool literal", "`"+e.Name+"` -> `"+alt+"`")
			m.wrap(e, p, 0, "(", " != mutantOn("+ref(p)+"))")
		}
	case *ast.KeyValueExpr:
		// A struct field's name is no expression; its value is.
		ast.Inspect(e.Value, m.expr)
		return false
	case *ast.SelectorExpr:
		ast.Inspect(e.X, m.expr)
		return false
	case *ast.GenDecl:
		return e.Tok != token.CONST // constants cannot call the switch
	}
	return true
}

func copyTree(from, to string) error {
	return filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		if d.IsDir() {
			if rel != "." && (strings.HasPrefix(d.Name(), ".") || rel == "bench/out" || rel == "testoutput") {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		if !d.Type().IsRegular() || strings.HasSuffix(rel, ".test") || rel == "caddy" || rel == "cmd/caddy/caddy" {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o644)
	})
}

// readExplained reads the survivors known to be harmless: lines of
// "file.go:line | operator | change | source line | why"; the line number is
// for the reader, the match is on the rest, so it holds while lines move.
func readExplained(path string) map[string]string {
	m := map[string]string{}
	fh, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return m
	}
	check(err)
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.Split(line, " | ")
		if len(parts) < 5 {
			continue
		}
		fileName, _, _ := strings.Cut(parts[0], ":")
		m[fileName+"|"+parts[1]+"|"+parts[2]+"|"+parts[3]] = strings.Join(parts[4:], " | ")
	}
	return m
}

func explainKey(p *point) string { return p.file + "|" + p.op + "|" + p.change + "|" + p.src }

func check(err error) {
	if err != nil {
		fatalf("%v", err)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "mutants: "+format+"\n", args...)
	os.Exit(2)
}
