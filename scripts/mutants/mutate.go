package main

// Finding the mutations of a file: its statements and expressions, each
// change written as edits of the source that put it behind its switch.

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// point is one mutation.
type point struct {
	id     int
	file   string // the path from the repository's root, with '/'
	pkg    string // the package's folder from the root, "." for the root
	line   int
	fn     string // the enclosing function (funcName), "-" outside any
	rank   int    // among the mutations of fn identical to it, its place (1, 2, ...) in source order; 0 when it has no twin
	group  int    // mutations that share edits are left out together
	op     string // the operator, e.g. "negate", "remove statement"
	change string // what it does to the code, e.g. "`a == b` -> `a != b`"
	src    string // the source line, trimmed
	off    int    // the byte offset of the node it changes, for rank
}

// fnName is the function field of the mutation's explained entry (and of
// -list): fn, and its rank after a '#' when fn holds identical mutations
// (the same operator and change on the same source line, e.g. several
// `return nil, err`), so that each has an entry of its own.
func (p *point) fnName() string {
	if p.rank == 0 {
		return p.fn
	}
	return p.fn + "#" + strconv.Itoa(p.rank)
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
	name    string // the path from the repository's root, with '/'
	pkg     string // the package's folder from the root, "." for the root
	pkgName string // the package clause's name
	src     []byte
	fset    *token.FileSet
	tf      *token.File
	points  []*point
	edits   []edit
	lines   []string
}

// parseFile finds the mutations of the file at name, a path from root with
// '/'.
func parseFile(root, name string, ids *int) *file {
	src, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(name)))
	check(err)
	fset := token.NewFileSet()
	af, err := parser.ParseFile(fset, name, src, parser.ParseComments)
	check(err)
	f := &file{name: name, pkg: path.Dir(name), pkgName: af.Name.Name, src: src, fset: fset, tf: fset.File(af.Pos()), lines: strings.Split(string(src), "\n")}
	m := &mutator{f: f, ids: ids}
	for _, d := range af.Decls {
		m.fn = "-"
		switch d := d.(type) {
		case *ast.FuncDecl:
			if d.Body != nil {
				m.fn = funcName(d)
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
	rankTwins(f.points)
	return f
}

// rankTwins numbers the mutations of a file that are identical in all
// explainKey reads but the rank (function, operator, change, source line):
// 1, 2, ... in source order, each group apart. A rank holds while lines
// move, and changes only when an identical line is added or removed in the
// same function: an entry then goes stale and its survivor shows again.
func rankTwins(points []*point) {
	groups := map[string][]*point{}
	for _, p := range points {
		k := twinKey(p)
		groups[k] = append(groups[k], p)
	}
	for _, g := range groups {
		if len(g) < 2 {
			continue
		}
		sort.SliceStable(g, func(i, j int) bool { return g[i].off < g[j].off })
		for i, p := range g {
			p.rank = i + 1
		}
	}
}

type mutator struct {
	f   *file
	ids *int   // the last id given, across files
	fn  string // the function being walked, for point.fn
}

// funcName names a declared function the way Go's stack traces do, but
// without type parameters: "Provision" for a function, "(*PlexAuth).ServeHTTP"
// for a method on a pointer, "Tier.String" on a value, "(*Cache).Get" for
// Cache[K, V]. A function literal's mutations carry the name of the declared
// function around it: unlike a trace's "Provision.func2", that holds when a
// literal is added or removed before it.
func funcName(d *ast.FuncDecl) string {
	if d.Recv == nil || len(d.Recv.List) == 0 {
		return d.Name.Name
	}
	t := d.Recv.List[0].Type
	star, ok := t.(*ast.StarExpr)
	if ok {
		t = star.X
	}
	switch g := t.(type) {
	case *ast.IndexExpr:
		t = g.X
	case *ast.IndexListExpr:
		t = g.X
	}
	recv := "?"
	if id, ok := t.(*ast.Ident); ok {
		recv = id.Name
	}
	if star != nil {
		return "(*" + recv + ")." + d.Name.Name
	}
	return recv + "." + d.Name.Name
}

func (m *mutator) off(p token.Pos) int { return m.f.fset.Position(p).Offset }

func (m *mutator) text(n ast.Node) string {
	return string(m.f.src[m.off(n.Pos()):m.off(n.End())])
}

func (m *mutator) add(n ast.Node, op, change string) *point {
	pos := m.f.fset.Position(n.Pos())
	p := &point{file: m.f.name, pkg: m.f.pkg, line: pos.Line, fn: m.fn, op: op, change: change, src: strings.TrimSpace(m.f.lines[pos.Line-1]), off: pos.Offset}
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
