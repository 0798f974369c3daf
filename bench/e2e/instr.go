package e2e

// The instruction count (-instructions): the same sites, one Caddy under
// valgrind's callgrind, and machine instructions per request instead of
// CPU seconds. Instructions are what the code asks of the CPU whatever
// else the machine is doing, so they repeat where seconds on a shared
// machine do not; what they leave out (cache misses, contention between
// cores, the garbage collector, which GOGC=off switches off) is what the
// wall-clock run shows. Callgrind: https://valgrind.org/docs/manual/cl-manual.html

import (
	"bufio"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// callgrind is one Caddy under valgrind --tool=callgrind.
type callgrind struct {
	*caddyProc
	dir  string          // where callgrind writes its dumps
	seen map[string]bool // dump files already read
}

// startCallgrind runs Caddy with cfg under callgrind, with the collector
// off (GOGC=off: its work depends on the heap, not on the request) and
// async preemption off (GODEBUG=asyncpreemptoff=1: the signals it sends
// are what callgrind cannot run Go with). Counting starts at once; every
// dump (callgrind_control --dump) writes the counts since the last one
// and zeroes them.
func startCallgrind(bin, out, cfg string, ready []int) (*callgrind, error) {
	dir := filepath.Join(out, "callgrind")
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(out, "Caddyfile")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	logPath := filepath.Join(out, "caddy.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("valgrind", "--tool=callgrind", "--vgdb=yes",
		"--compress-strings=no", "--compress-pos=no", "--callgrind-out-file="+filepath.Join(dir, "callgrind.out"),
		bin, "run", "--config", cfgPath, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "GOGC=off", "GODEBUG=asyncpreemptoff=1", "GOMAXPROCS=1",
		"XDG_CONFIG_HOME="+filepath.Join(out, "config"), "XDG_DATA_HOME="+filepath.Join(out, "data"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &callgrind{caddyProc: &caddyProc{cmd: cmd, logPath: logPath, clkTck: clockTicks()}, dir: dir, seen: map[string]bool{}}
	// Caddy starts in about a minute under callgrind.
	if err := waitReady(ready, 5*time.Minute, 200*time.Millisecond); err != nil {
		c.stop()
		return nil, fmt.Errorf("caddy under callgrind %v (log: %s)", err, logPath)
	}
	return c, nil
}

// dump asks callgrind to write its counts since the last dump (and zero
// them), and returns the file and the instructions in it, all threads.
func (c *callgrind) dump(label string) (string, int64, error) {
	out, err := exec.Command("callgrind_control", "--dump="+label, strconv.Itoa(c.cmd.Process.Pid)).CombinedOutput()
	if err != nil {
		return "", 0, fmt.Errorf("callgrind_control --dump: %v\n%s", err, out)
	}
	// callgrind.out itself is opened at start, for the dump at exit.
	files, err := filepath.Glob(filepath.Join(c.dir, "callgrind.out.*"))
	if err != nil {
		return "", 0, err
	}
	var fresh []string
	for _, f := range files {
		if !c.seen[f] {
			c.seen[f] = true
			fresh = append(fresh, f)
		}
	}
	if len(fresh) != 1 {
		return "", 0, fmt.Errorf("callgrind_control --dump=%s: %d new dump files, want 1 (%v)", label, len(fresh), fresh)
	}
	n, err := dumpTotal(fresh[0])
	return fresh[0], n, err
}

// dumpTotal reads the "totals:" line (instructions, the first event) of a
// callgrind dump; "summary:" in older formats.
func dumpTotal(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		for _, p := range []string{"totals:", "summary:"} {
			if v, ok := strings.CutPrefix(line, p); ok {
				fs := strings.Fields(v)
				if len(fs) == 0 {
					break
				}
				return strconv.ParseInt(fs[0], 10, 64)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%s: no totals line", path)
}

// keepAlive sends n requests to s, one after the other on one keep-alive
// connection, and checks that each is answered 200 "ok".
func keepAlive(s site, n int) error {
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", s.port))
	if err != nil {
		return err
	}
	defer conn.Close()
	var b strings.Builder
	fmt.Fprintf(&b, "GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: bench\r\n", s.port)
	for _, h := range s.header {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	req := []byte(b.String())
	br := bufio.NewReader(conn)
	for i := range n {
		if _, err := conn.Write(req); err != nil {
			return err
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return fmt.Errorf("request %d: %v", i+1, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK || string(body) != "ok" || resp.Close {
			return fmt.Errorf("request %d answered %s %q (close %v), want 200 \"ok\" on a kept-alive connection", i+1, resp.Status, body, resp.Close)
		}
	}
	return nil
}

// instrRun is one batch of requests against one site.
type instrRun struct {
	perReq  float64 // instructions per request
	own     float64 // of which in the site's handler, next handler left out
	elapsed time.Duration
	dump    string
}

func runInstructions(o options, plex plexTV, out, bin string) error {
	if _, err := exec.LookPath("valgrind"); err != nil {
		return fmt.Errorf("-instructions needs valgrind (apt-get install valgrind): %v", err)
	}
	ports, err := freePorts(7)
	if err != nil {
		return err
	}
	// basic_auth checks the bcrypt hash once and then answers from its
	// cache, which is what is measured; the hash has the lowest cost so
	// that the first check takes seconds, not minutes, under callgrind.
	h, err := bcrypt.GenerateFromPassword([]byte(benchPassword), bcrypt.MinCost)
	if err != nil {
		return err
	}
	storage := filepath.Join(out, "storage")
	if err := os.RemoveAll(storage); err != nil {
		return err
	}
	cfg := caddyfile(ports, false, plex.URL(), plex.AppURL(), string(h), storage)
	log.Printf("starting Caddy under callgrind (about a minute)")
	c, err := startCallgrind(bin, out, cfg, append(slices.Clip(ports[:4]), ports[6]))
	if err != nil {
		return err
	}
	defer c.stop()

	cookie, err := signIn(plex, ports[1])
	if err != nil {
		return fmt.Errorf("signing in: %v (Caddy's log: %s)", err, c.logPath)
	}
	callsAfterSignIn := plex.Calls()
	common := []string{"Cookie: " + cookie, "Accept: text/html,application/xhtml+xml,*/*;q=0.8"}
	sites := []site{
		{name: "no auth", port: ports[0], header: common},
		{name: "no-op middleware", port: ports[6], header: common},
		{name: "plex_auth, signed in", port: ports[1], header: common},
		{name: "basic_auth, cached", port: ports[2], header: append(slices.Clip(common), "Authorization: "+basicAuthHeader())},
	}
	handlers := []string{"", varsHandler, plexAuthHandler, basicAuthHandler}
	if o.forwardAuth {
		sites = append(sites, site{name: "forward_auth", port: ports[3], header: common})
		handlers = append(handlers, "")
	}
	// The warm-up fills what the first requests fill (basic_auth's cache,
	// the verified-cookie table, the connection's buffers and stacks).
	log.Printf("warming up (%d requests per site)", o.warmupReqs)
	for _, s := range sites {
		if err := keepAlive(s, o.warmupReqs); err != nil {
			return fmt.Errorf("%s: %v", s.name, err)
		}
	}
	runs := make([][]instrRun, len(sites))
	for round := 1; round <= o.rounds; round++ {
		for j := range sites {
			i := (round - 1 + j) % len(sites)
			s := sites[i]
			// What ran since the last batch (the driver's own gap, a
			// dial) goes into a dump of its own, left out.
			if _, _, err := c.dump("gap"); err != nil {
				return err
			}
			start := time.Now()
			if err := keepAlive(s, o.requests); err != nil {
				return fmt.Errorf("%s: %v", s.name, err)
			}
			elapsed := time.Since(start)
			file, n, err := c.dump(fmt.Sprintf("%s-round-%d", strings.Fields(s.name)[0], round))
			if err != nil {
				return err
			}
			r := instrRun{perReq: float64(n) / float64(o.requests), elapsed: elapsed, dump: file}
			if handlers[i] != "" {
				own, err := handlerOwn(file, handlers[i])
				if err != nil {
					return err
				}
				r.own = float64(own) / float64(o.requests)
			}
			log.Printf("round %d/%d %-22s %9.0f instructions/request, %6.0f in the handler (%s, %s)", round, o.rounds, s.name, r.perReq, r.own, elapsed.Round(time.Millisecond), filepath.Base(file))
			runs[i] = append(runs[i], r)
		}
	}
	// Background work (Caddy's and plex_auth's tickers, the runtime's
	// sysmon) runs during the batches too and is counted with them: an
	// idle interval as long as the longest batch shows how much that is.
	if _, _, err := c.dump("gap"); err != nil {
		return err
	}
	var longest time.Duration
	for _, rs := range runs {
		for _, r := range rs {
			longest = max(longest, r.elapsed)
		}
	}
	time.Sleep(longest)
	_, idle, err := c.dump("idle")
	if err != nil {
		return err
	}
	plexCalls := plex.Calls() - callsAfterSignIn

	fmt.Println()
	vg, _ := exec.Command("valgrind", "--version").Output()
	fmt.Printf("%s --tool=callgrind, GOGC=off GODEBUG=asyncpreemptoff=1; %s %s/%s.\n", strings.TrimSpace(string(vg)), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Printf("Load: %d rounds interleaving the sites, each %d requests in sequence on one keep-alive connection (after %d unmeasured per site). "+
		"Instructions of all Caddy's threads per request, median over rounds; ratios per round, median (min–max); efficiency is the baseline's count over the site's.\n",
		o.rounds, o.requests, o.warmupReqs)
	fmt.Println()
	printInstrTable(sites, handlers, runs)
	fmt.Println()
	fmt.Printf("Idle, no requests, for %s (the longest batch): %d instructions, %.1f per request of a batch.\n",
		longest.Round(time.Millisecond), idle, float64(idle)/float64(o.requests))
	fmt.Printf("Calls to plex.tv during the runs: %d. Dumps: %s (callgrind_annotate --inclusive=yes FILE).\n", plexCalls, c.dir)
	return nil
}

// printInstrTable prints the median instructions per request and the
// ratios taken within each round against no auth (sites[0]) and the no-op
// middleware (sites[1]); then the handlers' own instructions, which repeat
// to the instruction, and the efficiency they give against the no-op.
func printInstrTable(sites []site, handlers []string, runs [][]instrRun) {
	fmt.Println("| site | instructions per request | range | over no auth | over no-op | efficiency vs no auth | efficiency vs no-op |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
	per := func(rs []instrRun, f func(instrRun) float64) []float64 {
		v := make([]float64, len(rs))
		for k, r := range rs {
			v[k] = f(r)
		}
		return v
	}
	total := func(r instrRun) float64 { return r.perReq }
	own := func(r instrRun) float64 { return r.own }
	noAuth, noop := per(runs[0], total), per(runs[1], total)
	for i, s := range sites {
		v := per(runs[i], total)
		eff := func(base []float64) []float64 {
			e := make([]float64, len(v))
			for k := range v {
				e[k] = base[k] / v[k]
			}
			return e
		}
		m := median(v)
		fmt.Printf("| %s | %.0f | %.0f–%.0f (±%.2f %%) | %+.0f | %+.0f | %s | %s |\n",
			s.name, m, slices.Min(v), slices.Max(v), 100*(slices.Max(v)-slices.Min(v))/2/m,
			m-median(noAuth), m-median(noop), spread3(eff(noAuth)), spread3(eff(noop)))
	}
	fmt.Println()
	fmt.Println("| handler | its own instructions per request | range | over the no-op's | efficiency vs no-op, own counts |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: |")
	noopOwn := median(per(runs[1], own))
	for i, s := range sites {
		if handlers[i] == "" {
			continue
		}
		v := per(runs[i], own)
		m := median(v)
		// The site as the no-op's requests would count with this
		// handler's own instructions in place of the no-op's.
		fmt.Printf("| %s (`%s`) | %.0f | %.0f–%.0f | %+.0f | %.3f |\n", s.name, handlers[i], m, slices.Min(v), slices.Max(v),
			m-noopOwn, median(noop)/(median(noop)-noopOwn+m))
	}
}

// spread3 is "median (min–max)" with three decimals throughout.
func spread3(v []float64) string {
	if len(v) == 1 {
		return fmt.Sprintf("%.3f", v[0])
	}
	return fmt.Sprintf("%.3f (%.3f–%.3f)", median(v), slices.Min(v), slices.Max(v))
}

// The handlers whose own instructions the table shows: the function the
// route calls, and everything it calls but the next handler.
const (
	plexAuthHandler  = "github.com/caddy-plexauth/caddy-plexauth.(*PlexAuth).ServeHTTP"
	varsHandler      = "github.com/caddyserver/caddy/v2/modules/caddyhttp.VarsMiddleware.ServeHTTP"
	basicAuthHandler = "github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth.Authentication.ServeHTTP"
)

// nextHandler is how a call to the next handler is named in a dump: any
// ServeHTTP (Caddy's HandlerFunc, or the handler's own pointer-receiver
// wrapper, through which callgrind sees a goroutine switch in the next
// handler come back), or the middleware wrapper of Caddy's routes.
func nextHandler(fn string) bool {
	return strings.HasSuffix(fn, ".ServeHTTP") ||
		strings.HasPrefix(fn, "github.com/caddyserver/caddy/v2/modules/caddyhttp.(*Route).ProvisionHandlers.wrapMiddleware")
}

// handlerOwn is the instructions in a dump (written with
// --compress-strings=no) spent in fn itself and in what it called, calls
// to the next handler left out. In the format
// (https://valgrind.org/docs/manual/cl-format.html), the cost lines under
// fn= are its own, and the one after each calls= line is the inclusive
// cost of that call to cfn=. A recursion suffix ('2) names the same
// function.
func handlerOwn(path, fn string) (int64, error) {
	n, _, err := handlerOwnExcept(path, fn, nextHandler)
	return n, err
}

// handlerOwnExcept is handlerOwn leaving out the calls to every function
// skip names; left is what was left out, by function.
func handlerOwnExcept(path, fn string, skip func(string) bool) (n int64, left map[string]int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, nil, err
	}
	defer f.Close()
	base := func(name string) string { n, _, _ := strings.Cut(name, "'"); return n }
	left = map[string]int64{}
	callee := ""
	in, skipped, afterCalls, seen := false, false, false, false
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "fn="):
			in = base(line[3:]) == fn
			seen = seen || in
		case strings.HasPrefix(line, "cfn="):
			callee = base(line[4:])
			skipped = skip(callee)
		case strings.HasPrefix(line, "calls="):
			afterCalls = true
		case line != "" && (line[0] >= '0' && line[0] <= '9' || line[0] == '+' || line[0] == '-' || line[0] == '*'):
			if fs := strings.Fields(line); in && len(fs) >= 2 {
				c, err := strconv.ParseInt(fs[1], 10, 64)
				if err != nil {
					return 0, nil, fmt.Errorf("%s: %q: %v", path, line, err)
				}
				if afterCalls && skipped {
					left[callee] += c
				} else {
					n += c
				}
			}
			afterCalls = false
		}
	}
	if err := sc.Err(); err != nil {
		return 0, nil, err
	}
	if !seen {
		return 0, nil, fmt.Errorf("%s: no function %s", path, fn)
	}
	return n, left, nil
}
