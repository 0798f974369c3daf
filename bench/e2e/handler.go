package e2e

// The handler alone (-handler): plex_auth's ServeHTTP counted in
// instructions per request inside the root package's BenchmarkSignedIn,
// under callgrind. No network, no Caddy process and no scheduler between
// two requests: what is counted is the handler's code and what it calls
// (but the next handler), so two runs of the same code agree to within a
// few instructions, where the end-to-end count (-instructions) moves by
// tens with the timers and re-checks that fall into its batches. With
// -against, the same cases are counted on another commit too (and with
// -patch, on that commit with a patch applied: the way to count code that
// was never committed, such as a line taken out to see what it costs).
//
// What can go wrong only adds: when the goroutine is switched inside the
// handler (sysmon asks a goroutine that ran 10 ms of wall time to yield
// at its next call, and callgrind makes a request last about a
// millisecond), callgrind may take the switch for a call and put the
// other goroutine's work, or the benchmark's own loop, under the
// handler. The calls right under the handler that cannot be its own are
// left out (notTheHandlers) and logged; a switch deeper down (inside
// setIdentity's context lookup, say) cannot be told apart, and adds
// hundreds or thousands of instructions to that run. It happens more
// often on a loaded machine, where more wall time passes per request. So
// each case runs several times, trees interleaved, and the count is the
// least run: an undisturbed run of deterministic code, within the few
// instructions Go's per-process map seeds move it.

import (
	"bufio"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
)

// yieldEvery is how often, in requests, BenchmarkSignedIn yields under
// callgrind: a request takes about 0.7 ms there, so four take well under
// sysmon's 10 ms.
const yieldEvery = 4

// handlerCases are BenchmarkSignedIn's sub-benchmarks, as bench_test.go
// names them.
var handlerCases = []string{"session-cookie-only", "with-other-cookies", "underscore-headers-allowed", "app-sign-in", "oidc-client"}

// tree is one copy of the code whose handler is counted.
type tree struct {
	label string // how the table names it
	dir   string // the module's root
	bin   string // its root package's test binary
}

func runHandlerCount(o options, out string) error {
	if _, err := exec.LookPath("valgrind"); err != nil {
		return fmt.Errorf("-handler needs valgrind (apt-get install valgrind): %v", err)
	}
	cases := handlerCases
	if o.handlerCases != "" {
		cases = strings.Split(o.handlerCases, ",")
	}
	dir := filepath.Join(out, "handler")
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	trees := []tree{{label: "this tree", dir: "."}}
	against := o.against
	if against == "" && o.patch != "" {
		against = "HEAD"
	}
	if against != "" {
		// Outside the module, so that nothing the tree holds is taken for
		// a package of this one.
		tmp, err := os.MkdirTemp("", "plexauth-against-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		t, err := exportTree(against, o.patch, tmp)
		if err != nil {
			return err
		}
		if o.thisBenchmark {
			// The benchmark as this tree has it (its cases, -bench.yield),
			// on the other commit's code.
			b, err := os.ReadFile("bench_test.go")
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(tmp, "bench_test.go"), b, 0o644); err != nil {
				return err
			}
			t.label += " with this tree's bench_test.go"
		}
		trees = append(trees, t)
	}
	for i := range trees {
		trees[i].bin = filepath.Join(dir, fmt.Sprintf("plexauth-%d.test", i))
		log.Printf("building the root package's tests (%s)", trees[i].label)
		cmd := exec.Command("go", "test", "-c", "-o", trees[i].bin, ".")
		cmd.Dir = trees[i].dir
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("building %s: %v", trees[i].label, err)
		}
	}
	// counts[case][tree] holds one count per run; runs alternate the trees
	// so that both see the same machine.
	counts := make([][][]float64, len(cases))
	for c := range cases {
		counts[c] = make([][]float64, len(trees))
	}
	for run := 1; run <= o.handlerRuns; run++ {
		for c, name := range cases {
			for i, t := range trees {
				dump := filepath.Join(dir, fmt.Sprintf("%s-%d-run-%d.cg", name, i, run))
				n, err := countHandler(t.bin, name, dump, o.handlerN)
				if err != nil {
					return fmt.Errorf("%s, %s: %v", t.label, name, err)
				}
				log.Printf("run %d/%d %-28s %-12s %7.0f instructions/request", run, o.handlerRuns, name, t.label, n)
				counts[c][i] = append(counts[c][i], n)
			}
		}
	}

	fmt.Println()
	vg, _ := exec.Command("valgrind", "--version").Output()
	fmt.Printf("%s --tool=callgrind, GOGC=off GODEBUG=asyncpreemptoff=1 GOMAXPROCS=1; %s %s/%s.\n", strings.TrimSpace(string(vg)), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Printf("`%s` and what it calls but the next handler, in BenchmarkSignedIn (bench_test.go), %d requests per run; the least of %d runs (their median, their most): what callgrind wrongly puts under the handler only adds.\n", plexAuthHandler, o.handlerN, o.handlerRuns)
	if len(trees) > 1 {
		fmt.Printf("Against: %s.\n", trees[1].label)
	}
	fmt.Println()
	head, rule := "| case | this tree |", "| --- | ---: |"
	if len(trees) > 1 {
		head, rule = head+" against | difference |", rule+" ---: | ---: |"
	}
	fmt.Println(head)
	fmt.Println(rule)
	for c, name := range cases {
		row := fmt.Sprintf("| %s | %s |", name, spread0(counts[c][0]))
		if len(trees) > 1 {
			row += fmt.Sprintf(" %s | %+.0f |", spread0(counts[c][1]), slices.Min(counts[c][0])-slices.Min(counts[c][1]))
		}
		fmt.Println(row)
	}
	fmt.Printf("\nDumps: %s (callgrind_annotate --inclusive=yes FILE).\n", dir)
	return nil
}

// exportTree writes the module at rev into dir, with patch applied when
// one is given.
func exportTree(rev, patch, dir string) (tree, error) {
	full, err := exec.Command("git", "rev-parse", "--short", rev+"^{commit}").Output()
	if err != nil {
		return tree{}, fmt.Errorf("-against %s: not a commit: %v", rev, err)
	}
	label := fmt.Sprintf("%s (%s)", rev, strings.TrimSpace(string(full)))
	archive := exec.Command("git", "archive", "--format=tar", rev)
	untar := exec.Command("tar", "-x", "-C", dir)
	pipe, err := archive.StdoutPipe()
	if err != nil {
		return tree{}, err
	}
	untar.Stdin = pipe
	if err := untar.Start(); err != nil {
		return tree{}, err
	}
	if err := archive.Run(); err != nil {
		return tree{}, fmt.Errorf("git archive %s: %v", rev, err)
	}
	if err := untar.Wait(); err != nil {
		return tree{}, fmt.Errorf("unpacking %s: %v", rev, err)
	}
	if patch != "" {
		abs, err := filepath.Abs(patch)
		if err != nil {
			return tree{}, err
		}
		apply := exec.Command("git", "apply", abs)
		apply.Dir = dir
		if msg, err := apply.CombinedOutput(); err != nil {
			return tree{}, fmt.Errorf("-patch %s does not apply to %s: %v\n%s", patch, rev, err, msg)
		}
		label += " with " + patch
	}
	return tree{label: label, dir: dir}, nil
}

// countHandler runs one case of BenchmarkSignedIn for n requests in bin
// under callgrind and returns the handler's own instructions per call.
func countHandler(bin, name, dump string, n int) (float64, error) {
	args := []string{"--tool=callgrind", "--compress-strings=no", "--compress-pos=no",
		"--callgrind-out-file=" + dump, bin,
		"-test.run", "^$", "-test.bench", "^BenchmarkSignedIn$/^" + name + "$", "-test.benchtime", strconv.Itoa(n) + "x"}
	// Yielding every few requests keeps sysmon from preempting the
	// goroutine inside the handler (bench_test.go's yieldEvery); a tree
	// from before the flag runs without it.
	if exec.Command(bin, "-test.run", "^$", "-bench.yield=0").Run() == nil {
		args = append(args, "-bench.yield="+strconv.Itoa(yieldEvery))
	}
	cmd := exec.Command("valgrind", args...)
	cmd.Env = append(os.Environ(), "GOGC=off", "GODEBUG=asyncpreemptoff=1", "GOMAXPROCS=1")
	msg, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("%v\n%s", err, msg)
	}
	if !strings.Contains(string(msg), "BenchmarkSignedIn/"+name) {
		return 0, fmt.Errorf("no benchmark of that name ran:\n%s", msg)
	}
	own, left, err := handlerOwnExcept(dump, plexAuthHandler, notTheHandlers)
	if err != nil {
		return 0, err
	}
	for fn, c := range left {
		if !nextHandler(fn) {
			log.Printf("%s: left out %d instructions callgrind shows under the handler in %s (not its work: see notTheHandlers)", filepath.Base(dump), c, fn)
		}
	}
	calls, err := callsTo(dump, plexAuthHandler)
	if err != nil {
		return 0, err
	}
	if calls < int64(n) {
		return 0, fmt.Errorf("%s: %d calls to the handler for %d requests", dump, calls, n)
	}
	return float64(own) / float64(calls), nil
}

// notTheHandlers names the calls a dump of BenchmarkSignedIn can show
// right under the handler that are not its work: the next handler, and
// what callgrind took for a call when the goroutine switched inside the
// handler (sysmon asks a goroutine that ran 10 ms to yield at its next
// call, which under callgrind is every few requests): the benchmark's own
// closure with the rest of its loop under it, or the collector's work
// that testing's runtime.GC between runs left. The handler calls nothing
// in package testing or in a benchmark, and never the collector or the
// scheduler itself (an allocation may, under mallocgc, which is counted).
func notTheHandlers(fn string) bool {
	if nextHandler(fn) || strings.HasPrefix(fn, "testing.") ||
		strings.HasPrefix(fn, "github.com/caddy-plexauth/caddy-plexauth.Benchmark") {
		return true
	}
	for _, p := range []string{"runtime.gc", "runtime.GC", "runtime.gopark", "runtime.park_m", "runtime.schedule", "runtime.mcall", "runtime.goexit", "runtime.bgsweep", "runtime.bgscavenge"} {
		if strings.HasPrefix(fn, p) {
			return true
		}
	}
	return false
}

// callsTo is how many times a dump (written with --compress-strings=no)
// has fn called: the counts of the calls= lines under cfn=fn.
func callsTo(path, fn string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var n int64
	to := false
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "cfn="):
			name, _, _ := strings.Cut(line[4:], "'")
			to = name == fn
		case strings.HasPrefix(line, "calls=") && to:
			count, _, _ := strings.Cut(line[len("calls="):], " ")
			c, err := strconv.ParseInt(count, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%s: %q: %v", path, line, err)
			}
			n += c
		}
	}
	return n, sc.Err()
}

// spread0 is "least (median, most)" in whole instructions: the least is
// the count (see runHandlerCount).
func spread0(v []float64) string {
	if len(v) == 1 {
		return fmt.Sprintf("%.0f", v[0])
	}
	return fmt.Sprintf("%.0f (median %.0f, most %.0f)", slices.Min(v), median(v), slices.Max(v))
}
