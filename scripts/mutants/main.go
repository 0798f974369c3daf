// Command mutants is the mutation run of scripts/mutants.sh: it changes one
// line of the module at a time (a condition negated, a branch disabled, a
// statement removed, ...) and runs the tests of the line's package against
// each change. A change no test notices is a survivor: a rule the tests do
// not hold.
//
// It never touches the working tree. The module is copied to a temporary
// folder, and every mutation is compiled into that copy at once, each behind
// a switch (mutantOn(id)) that is off unless PLEXAUTH_MUTANT=id: one build
// per package, then one test run per mutation ("mutant schemata", Untch,
// Offutt and Harrold, ISSTA 1993). A mutation the compiler refuses in that
// form is left out and counted as such.
//
//	go run ./scripts/mutants [flags] [file.go | folder ...]
//
// Files are named by their path from the repository's root
// (internal/access/access.go; a bare name is a file of the root package); a
// folder stands for its files but the tests. A file's mutations run
// against its own package's tests; with -full, a survivor of another
// package than the root runs again against that package's tests and the
// root package's whole suite, which uses it.
//
// Flags: -timeout (per mutation), -full (run the survivors of the -short
// suite against the whole suite), -run (a test regexp, for a quick look),
// -list (print the mutations and stop: id, file:line, function (with
// #rank where it holds the same mutation more than once), operator,
// change), -j (mutations run side by side), -explained (the list of
// survivors known to be harmless, see parseExplained).
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// defaultFiles are the files that hold security rules and session state.
// internal/plextv's client.go and pins.go tell plex.tv's failures apart
// (a rejected token, an expired pin, plex.tv unavailable); internal/oidc
// and internal/oidcprovider hold the OpenID Connect provider's rules
// (one-shot codes, PKCE, client authentication, tokens, the endpoints).
var defaultFiles = []string{
	"admin.go", "cache.go", "cookie.go", "crosssite.go",
	"identityheaders.go", "limits_http.go", "module.go", "provision.go", "validate.go",
	"pinflow.go", "poll.go", "revalidate.go", "rules.go",
	"urls.go", "server.go", "placeholders.go",
	"internal/session/cache.go", "internal/session/session.go", "internal/session/verified.go",
	"internal/session/store.go", "internal/session/store_caddy.go", "internal/session/store_redis.go",
	"internal/session/signout.go", "internal/session/pinclaim.go",
	"internal/returnurl/returnurl.go", "internal/returnurl/path.go", "internal/cookiedomain/cookiedomain.go",
	"internal/seal/seal.go", "internal/seal/record.go", "internal/cookieheader/cookieheader.go",
	"internal/signin/bucket.go", "internal/signin/checks.go", "internal/signin/ledger.go",
	"internal/signin/limits.go", "internal/signin/refusals.go", "internal/signin/client.go",
	"internal/admin/admin.go",
	"internal/ownerlist/store.go", "internal/recheck/backoff.go",
	"internal/access/access.go", "internal/access/allowusers.go",
	"internal/access/list.go", "internal/access/tier.go", "internal/access/options.go",
	"internal/plextv/client.go", "internal/plextv/pins.go",
	"internal/placeholderfacts/placeholderfacts.go", "internal/identity/identity.go",
	"internal/oidc/redeem.go", "internal/oidc/code.go", "internal/oidc/authorize.go",
	"internal/oidc/request.go", "internal/oidc/client.go", "internal/oidc/token.go",
	"internal/oidcprovider/token.go", "internal/oidcprovider/authorize.go", "internal/oidcprovider/endsession.go",
}

func main() {
	timeout := flag.Duration("timeout", 90*time.Second, "time limit of one mutation's test run")
	full := flag.Bool("full", false, "run the survivors of the -short tests again against their package's whole tests and the root package's whole suite (process and browser tests too)")
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
	args := flag.Args()
	if len(args) == 0 {
		args = defaultFiles
	}

	var files []*file
	ids := 0
	for _, n := range sourceFiles(root, args) {
		files = append(files, parseFile(root, n, &ids))
	}
	if *list {
		for _, f := range files {
			for _, p := range f.points {
				fmt.Printf("%d\t%s:%d\t%s\t%s\t%s\n", p.id, p.file, p.line, p.fnName(), p.op, p.change)
			}
		}
		return
	}

	// Read before the build: a malformed list stops the run at once.
	ep := *explainedPath
	if !filepath.IsAbs(ep) {
		ep = filepath.Join(root, ep)
	}
	explained := readExplained(ep)

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
	// Binaries in a folder the go command ignores (a leading _).
	bins := filepath.Join(dir, "_mutants")
	check(os.MkdirAll(bins, 0o755))

	// A package's test binary holds its own mutations and those of the
	// packages it imports, all behind switches; the root is built last
	// (it imports the others, never the reverse).
	pkgs := packagesOf(files)
	var rootPkg *pkg
	byDir := map[string]*pkg{}
	left := 0
	for _, pk := range pkgs {
		byDir[pk.dir] = pk
		if pk.dir == "." {
			rootPkg = pk
			continue
		}
		left += buildSchemata(dir, bins, pk, files)
	}
	if rootPkg != nil {
		left += buildSchemata(dir, bins, rootPkg, files)
	}

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
	fmt.Printf("%d mutations in %d files of %d packages (%d left out: the compiler refused them behind a switch); running each package's -short tests, %v each\n",
		len(all), len(files), len(pkgs), left, *timeout)

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
				r := runMutant(dir, byDir[all[i].pkg], all[i], true, *run, *timeout)
				results[i] = r
				progress.Lock()
				done++
				if r == survived {
					survivors++
					fmt.Fprintf(os.Stderr, "  survived -short: %s:%d %s %s: %s\n", all[i].file, all[i].line, all[i].fnName(), all[i].op, all[i].change)
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
		long := 4**timeout + 20*time.Minute
		for i, p := range all {
			if results[i] != survived {
				continue
			}
			if p.pkg != "." {
				fmt.Printf("  %s:%d survived -short; %s's whole tests now...\n", p.file, p.line, p.pkg)
				results[i] = runMutant(dir, byDir[p.pkg], p, false, *run, long)
				if results[i] != survived {
					continue
				}
			}
			// The root's suite: for another package's line, the uses of it.
			if rootPkg == nil {
				// Built from the same copy, so it refuses no line the
				// packages' builds took.
				rootPkg = &pkg{dir: ".", name: "plexauth"}
				buildSchemata(dir, bins, rootPkg, files)
			}
			fmt.Printf("  %s:%d survived -short; the root package's whole suite now...\n", p.file, p.line)
			results[i] = runMutant(dir, rootPkg, p, false, *run, long)
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
				fmt.Printf("SURVIVED (explained) %s:%d %s  %s: %s\n    %s\n    why: %s\n", p.file, p.line, p.fnName(), p.op, p.change, p.src, why)
			} else {
				unexplained++
				// The entry it would need, but the why.
				fmt.Printf("SURVIVED %s:%d %s  %s: %s\n    %s\n    entry: %s:%d | %s | %s | %s | %s | \n", p.file, p.line, p.fnName(), p.op, p.change, p.src, p.file, p.line, p.fnName(), p.op, p.change, p.src)
			}
		}
	}
	suite := "each package's -short tests"
	if *full {
		suite = "-short, survivors again with their package's whole tests and the root's whole suite"
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

// runMutant runs pk's test binary, in pk's folder of the copy at dir, with
// mutation p switched on.
func runMutant(dir string, pk *pkg, p *point, short bool, run string, timeout time.Duration) outcome {
	ctx, cancel := context.WithTimeout(context.Background(), timeout+30*time.Second)
	defer cancel()
	args := []string{"-test.count=1", "-test.failfast", "-test.timeout=" + timeout.String()}
	if short {
		args = append(args, "-test.short")
	}
	if run != "" {
		args = append(args, "-test.run="+run)
	}
	cmd := exec.CommandContext(ctx, pk.bin, args...)
	cmd.Dir = filepath.Join(dir, filepath.FromSlash(pk.dir))
	cmd.Env = append(os.Environ(), "PLEXAUTH_MUTANT="+strconv.Itoa(p.id))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if verbose {
		fmt.Printf("=== mutation %d, %s:%d %s: %s (tests of %s)\n%s\n", p.id, p.file, p.line, p.op, p.change, pk.dir, tail(out.String(), 40))
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

// sourceFiles are the files args name, each as its path from root with
// '/': a file by its path from the root (a bare name is in the root
// package) or an absolute one inside root; a folder for its .go files but
// the tests. Test files are skipped: they are the oracle, not the code.
func sourceFiles(root string, args []string) []string {
	var out []string
	seen := map[string]bool{}
	tests := 0
	add := func(rel string) {
		if strings.HasSuffix(rel, "_test.go") {
			tests++
			return
		}
		if !seen[rel] {
			seen[rel] = true
			out = append(out, rel)
		}
	}
	for _, a := range args {
		p := a
		if !filepath.IsAbs(p) {
			p = filepath.Join(root, p)
		}
		rel, err := filepath.Rel(root, filepath.Clean(p))
		if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			fatalf("%s is outside the repository", a)
		}
		rel = filepath.ToSlash(rel)
		st, err := os.Stat(p)
		check(err)
		if st.IsDir() {
			ents, err := os.ReadDir(p)
			check(err)
			for _, e := range ents {
				if !e.IsDir() && strings.HasSuffix(e.Name(), ".go") {
					add(path.Join(rel, e.Name()))
				}
			}
			continue
		}
		if !strings.HasSuffix(rel, ".go") {
			fatalf("%s is not a Go file", a)
		}
		add(rel)
	}
	if tests > 0 {
		fmt.Fprintf(os.Stderr, "  skipped %d test files\n", tests)
	}
	return out
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

// readExplained reads the survivors known to be harmless from the file at
// path (none when there is no such file), by explainKey.
func readExplained(path string) map[string]string {
	fh, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]string{}
	}
	check(err)
	defer fh.Close()
	m, err := parseExplained(fh)
	if err != nil {
		fatalf("%s: %v", path, err)
	}
	return m
}

// parseExplained reads lines of
// "file.go:line | function | operator | change | source line | why" into
// why by explainKey. The line number is for the reader; the match is on the
// rest, so an entry holds while lines move, and only in its own function
// (point.fn): the same line elsewhere in the file is another survivor.
// Where the function holds the same mutation more than once, the function
// is written with the mutation's rank among them, "(*Cache).Put#2"
// (point.fnName), so an entry explains one of them only. A line with
// fewer fields, a malformed rank, or a second entry for the same mutation
// is an error, not an entry that never matches or one that hides another.
func parseExplained(r io.Reader) (map[string]string, error) {
	m := map[string]string{}
	at := map[string]int{}
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.Split(line, " | ")
		if len(parts) < 6 {
			return nil, fmt.Errorf("line %d: want file:line | function | operator | change | source line | why, got %d fields", n, len(parts))
		}
		fileName, _, _ := strings.Cut(parts[0], ":")
		fn, rank, err := splitRank(parts[1])
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", n, err)
		}
		p := &point{file: fileName, fn: fn, rank: rank, op: parts[2], change: parts[3], src: parts[4]}
		k := explainKey(p)
		if prev, ok := at[k]; ok {
			return nil, fmt.Errorf("line %d: the same mutation as line %d (identical lines of one function are told apart by #rank)", n, prev)
		}
		at[k] = n
		m[k] = strings.Join(parts[5:], " | ")
	}
	return m, sc.Err()
}

// splitRank splits an entry's function field, "Name" or "Name#2", into the
// name and the rank (0 without one).
func splitRank(field string) (string, int, error) {
	name, r, ok := strings.Cut(field, "#")
	if !ok {
		return field, 0, nil
	}
	rank, err := strconv.Atoi(r)
	if err != nil || rank < 1 || strconv.Itoa(rank) != r {
		return "", 0, fmt.Errorf("function %q: want Name or Name#rank, the rank 1, 2, ...", field)
	}
	return name, rank, nil
}

// explainKey is what an entry of the explained list and a survivor must
// share: all but the line number, the function with its rank among its
// identical mutations (fnName).
func explainKey(p *point) string { return keyIn(p, p.fnName()) }

// twinKey is explainKey without the rank: the mutations that share it are
// ranked apart (rankTwins).
func twinKey(p *point) string { return keyIn(p, p.fn) }

// keyIn is p's file, operator, change and source line, with fn for its
// function.
func keyIn(p *point, fn string) string {
	return p.file + "|" + fn + "|" + p.op + "|" + p.change + "|" + p.src
}

func check(err error) {
	if err != nil {
		fatalf("%v", err)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "mutants: "+format+"\n", args...)
	os.Exit(2)
}
