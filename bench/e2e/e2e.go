// Package e2e is the end-to-end benchmark of plex_auth (run it with
// bench/run.sh from the repository root). It runs as this package's test
// binary (e2e_test.go), which holds the fake plex.tv: plextest is for
// tests only, and no program of the module imports it.
//
// One Caddy, built from ./cmd/caddy, serves five sites on 127.0.0.1 that
// all answer "ok": one with no authentication, one behind a no-op
// middleware (`vars noop 1`, the floor for any handler), one behind plex_auth, one
// behind basic_auth (bcrypt, with Caddy's cache of checked credentials) and
// one behind forward_auth to a fifth site of the same Caddy that answers
// 200. The fake plex.tv runs in this process; the driver signs in through
// the real flow (start, approval at Plex, callback) to get a session cookie.
//
// wrk then loads each site in turn, the sites interleaved over several
// rounds so that drift on a shared machine hits them all alike, and the
// ratios to no auth and to the no-op middleware are taken within each round. Every site
// gets the same request headers, session cookie included, so the
// difference between sites is the work of the handler alone. For each run
// the driver reads Caddy's CPU time (utime+stime in /proc/<pid>/stat) before
// and after and divides by the requests wrk counted. The table shows
// medians over the rounds.
package e2e

import (
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

type options struct {
	rounds   int
	duration time.Duration
	warmup   time.Duration
	conns    int
	threads  int
	out      string
	pprof    bool

	instructions bool // count instructions under callgrind instead (instr.go)
	requests     int  // requests per site and round, with -instructions
	warmupReqs   int  // unmeasured requests per site, with -instructions
	forwardAuth  bool // measure forward_auth too, with -instructions

	handler       bool   // count the handler alone in BenchmarkSignedIn instead (handler.go)
	handlerN      int    // requests per run, with -handler
	handlerRuns   int    // runs per case and tree, with -handler
	handlerCases  string // BenchmarkSignedIn's cases to count, comma-separated; all when empty
	against       string // with -handler: a commit to count too
	patch         string // with -handler: a patch applied to that commit (HEAD when -against is not given)
	thisBenchmark bool   // with -against: count that commit with this tree's bench_test.go
}

// site is one thing to measure.
type site struct {
	name   string
	port   int
	header []string // extra request headers, "Name: value"
}

// result is one wrk run against one site.
type result struct {
	reqPerSec    float64
	requests     float64
	p50, p99     time.Duration
	cpuPerReq    time.Duration // Caddy's user+system CPU time per request
	errorsSeen   string        // non-2xx answers: the site refused the request
	socketErrors string
}

// plexTV is what the benchmark needs of the fake plex.tv it signs in
// against.
type plexTV interface {
	URL() string                        // its API, for plex_tv_url
	AppURL() string                     // its sign-in page, for plex_app_url
	Approve(code, account string) error // approves pin code as account
	Calls() int                         // the requests it has had so far
}

// register adds the benchmark's flags to fs.
func (o *options) register(fs *flag.FlagSet) {
	fs.IntVar(&o.rounds, "rounds", 5, "rounds; each round runs every site once")
	fs.DurationVar(&o.duration, "d", 5*time.Second, "duration of one wrk run")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured wrk run per site before the rounds")
	fs.IntVar(&o.conns, "c", 32, "wrk connections")
	fs.IntVar(&o.threads, "t", 1, "wrk threads")
	fs.StringVar(&o.out, "out", "bench/out", "directory for the Caddy binary, its config, storage and log")
	fs.BoolVar(&o.pprof, "pprof", false, "save Caddy's CPU profile of each site's first round in the out directory")
	fs.BoolVar(&o.instructions, "instructions", false, "count instructions per request under valgrind's callgrind instead of CPU time under wrk")
	fs.IntVar(&o.requests, "n", 2000, "with -instructions: keep-alive requests per site and round")
	fs.IntVar(&o.warmupReqs, "warmup-n", 200, "with -instructions: unmeasured requests per site before the rounds")
	fs.BoolVar(&o.forwardAuth, "forward-auth", true, "with -instructions: measure forward_auth too")
	fs.BoolVar(&o.handler, "handler", false, "count plex_auth's handler alone, in instructions per request of BenchmarkSignedIn under callgrind (no Caddy process, no network)")
	fs.IntVar(&o.handlerN, "handler-n", 20000, "with -handler: requests per run")
	fs.IntVar(&o.handlerRuns, "handler-runs", 5, "with -handler: runs per case (and per tree, with -against); the count is the least")
	fs.StringVar(&o.handlerCases, "cases", "", "with -handler: BenchmarkSignedIn's cases, comma-separated (default: "+strings.Join(handlerCases, ",")+")")
	fs.StringVar(&o.against, "against", "", "with -handler: a commit whose handler is counted too, beside this tree's")
	fs.BoolVar(&o.thisBenchmark, "this-benchmark", false, "with -against: count that commit with this tree's bench_test.go (its cases and -bench.yield), for a commit from before them")
	fs.StringVar(&o.patch, "patch", "", "with -handler: a patch (git apply) applied to the -against commit, or to HEAD without -against")
}

// benchmark runs the benchmark against plex and says how it ended: 0, or
// 1 after logging why.
func benchmark(o options, plex plexTV) int {
	log.SetFlags(0)
	log.SetPrefix("e2e: ")
	if err := run(o, plex); err != nil {
		log.Print(err)
		return 1
	}
	return 0
}

func run(o options, plex plexTV) error {
	if _, err := os.Stat("cmd/caddy"); err != nil {
		return fmt.Errorf("run from the repository root (bench/run.sh does): %v", err)
	}
	out, err := filepath.Abs(o.out)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if o.handler {
		return runHandlerCount(o, out)
	}
	bin := filepath.Join(out, "caddy")
	log.Printf("building %s", bin)
	if err := buildCaddy(bin); err != nil {
		return err
	}
	if o.instructions {
		return runInstructions(o, plex, out, bin)
	}

	ports, err := freePorts(7)
	if err != nil {
		return err
	}
	hash, err := hashPassword(bin, benchPassword)
	if err != nil {
		return err
	}
	// A fresh storage each run: the fake plex.tv numbers its pins from 1
	// again, and plex_auth remembers pins already claimed (for 30 minutes),
	// so a second run within that time would find its pin used.
	storage := filepath.Join(out, "storage")
	if err := os.RemoveAll(storage); err != nil {
		return err
	}
	cfg := caddyfile(ports, o.pprof, plex.URL(), plex.AppURL(), hash, storage)
	c, err := startCaddy(bin, out, cfg, append(slices.Clip(ports[:4]), ports[6]))
	if err != nil {
		return err
	}
	defer c.stop()
	c.admin = fmt.Sprintf("127.0.0.1:%d", ports[5])

	cookie, err := signIn(plex, ports[1])
	if err != nil {
		return fmt.Errorf("signing in: %v (Caddy's log: %s)", err, c.logPath)
	}
	callsAfterSignIn := plex.Calls()
	rssIdle := c.rss()

	common := []string{"Cookie: " + cookie, "Accept: text/html,application/xhtml+xml,*/*;q=0.8"}
	sites := []site{
		{name: "no auth", port: ports[0], header: common},
		{name: "no-op middleware", port: ports[6], header: common},
		{name: "plex_auth", port: ports[1], header: common},
		{name: "basic_auth (bcrypt, cached)", port: ports[2], header: append(slices.Clip(common), "Authorization: "+basicAuthHeader())},
		{name: "forward_auth", port: ports[3], header: common},
	}
	for _, s := range sites {
		if err := checkOK(s); err != nil {
			return fmt.Errorf("%s: %v", s.name, err)
		}
	}

	log.Printf("warming up (%s per site)", o.warmup)
	for _, s := range sites {
		if _, err := c.measure(s, o.conns, o.threads, o.warmup, ""); err != nil {
			return err
		}
	}
	// Each round runs every site once, starting one site further on than
	// the round before, so that no site always follows the same other.
	runs := make([][]result, len(sites))
	for round := 1; round <= o.rounds; round++ {
		for j := range sites {
			i := (round - 1 + j) % len(sites)
			s := sites[i]
			profile := ""
			if o.pprof && round == 1 {
				profile = filepath.Join(out, strings.Fields(s.name)[0]+".pprof")
			}
			res, err := c.measure(s, o.conns, o.threads, o.duration, profile)
			if err != nil {
				return err
			}
			if res.errorsSeen != "" {
				return fmt.Errorf("%s: wrk saw errors: %s", s.name, res.errorsSeen)
			}
			if res.socketErrors != "" {
				log.Printf("%s: wrk: %s", s.name, res.socketErrors)
			}
			log.Printf("round %d/%d %-28s %9.0f req/s  p50 %-9s p99 %-9s CPU %.1f µs/req",
				round, o.rounds, s.name, res.reqPerSec, ms(res.p50), ms(res.p99), micros(res.cpuPerReq))
			runs[i] = append(runs[i], res)
		}
	}
	rssAfter := c.rss()
	plexCalls := plex.Calls() - callsAfterSignIn

	fmt.Println()
	printMachine(o)
	fmt.Println()
	printTable(sites, runs)
	fmt.Println()
	fmt.Printf("Caddy RSS: %.1f MiB idle after sign-in, %.1f MiB after the runs.\n", mib(rssIdle), mib(rssAfter))
	fmt.Printf("Calls to plex.tv during the runs: %d.\n", plexCalls)
	return nil
}

// printMachine prints what the numbers were measured on and how.
func printMachine(o options) {
	fmt.Printf("Machine: %d CPUs (%s), %s, %s %s/%s.\n", runtime.NumCPU(), cpuModel(), wrkVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Printf("Load: wrk -t%d -c%d -d%s --latency per site and round, %d rounds interleaving the sites. "+
		"Medians over rounds; ratios per round against that round's no-auth (or no-op) run, median (min–max).\n",
		o.threads, o.conns, o.duration, o.rounds)
}

// printTable prints medians over the rounds. The ratios are taken within
// each round, against that round's no-auth run (sites[0]) and no-op
// middleware run (sites[1]), so that drift across rounds (other work on
// the machine) cancels out; the median and the range of those per-round
// ratios are shown. Efficiency is the baseline's CPU time per request over
// the site's.
func printTable(sites []site, runs [][]result) {
	fmt.Println("| site | req/s | p50 | p99 | CPU µs/req | throughput vs no auth | efficiency vs no auth | efficiency vs no-op | p99 vs no auth |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	noAuth, noop := runs[0], runs[1]
	for i, s := range sites {
		rs := runs[i]
		col := func(base []result, f func(r, b result) float64) []float64 {
			v := make([]float64, len(rs))
			for k, r := range rs {
				v[k] = f(r, base[k])
			}
			return v
		}
		val := func(f func(r result) float64) []float64 {
			return col(rs, func(r, _ result) float64 { return f(r) })
		}
		eff := func(r, b result) float64 { return float64(b.cpuPerReq) / float64(r.cpuPerReq) }
		rps := val(func(r result) float64 { return r.reqPerSec })
		p50 := val(func(r result) float64 { return float64(r.p50) })
		p99 := val(func(r result) float64 { return float64(r.p99) })
		cpu := val(func(r result) float64 { return float64(r.cpuPerReq) })
		thr := col(noAuth, func(r, b result) float64 { return r.reqPerSec / b.reqPerSec })
		lat := col(noAuth, func(r, b result) float64 { return float64(r.p99) / float64(b.p99) })
		fmt.Printf("| %s | %.0f | %s | %s | %.1f | %s | %s | %s | %s |\n",
			s.name, median(rps), ms(time.Duration(median(p50))), ms(time.Duration(median(p99))),
			micros(time.Duration(median(cpu))), spread(thr), spread(col(noAuth, eff)), spread(col(noop, eff)), spread(lat))
	}
}

func median(v []float64) float64 {
	v = slices.Sorted(slices.Values(v))
	if n := len(v); n%2 == 0 {
		return (v[n/2-1] + v[n/2]) / 2
	}
	return v[len(v)/2]
}

// spread is "median (min–max)" of per-round ratios.
func spread(v []float64) string {
	if len(v) == 1 {
		return fmt.Sprintf("%.3f", v[0])
	}
	return fmt.Sprintf("%.3f (%.2f–%.2f)", median(v), slices.Min(v), slices.Max(v))
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
func ms(d time.Duration) string      { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }
func mib(b int64) float64            { return float64(b) / (1 << 20) }
