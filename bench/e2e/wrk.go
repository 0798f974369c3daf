package e2e

import (
	"bufio"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

var (
	reRequests = regexp.MustCompile(`(\d+) requests in`)
	reRate     = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	rePercent  = regexp.MustCompile(`^\s*(50|99)(?:\.0+)?%\s+([0-9.]+)(us|ms|s|m)\s*$`)
)

// runWrk loads s for d and parses wrk's report.
func runWrk(s site, conns, threads int, d time.Duration) (result, error) {
	args := []string{"-t" + strconv.Itoa(threads), "-c" + strconv.Itoa(conns), "-d" + wrkDuration(d), "--latency"}
	for _, h := range s.header {
		args = append(args, "-H", h)
	}
	args = append(args, fmt.Sprintf("http://127.0.0.1:%d/", s.port))
	out, err := exec.Command("wrk", args...).CombinedOutput()
	if err != nil {
		return result{}, fmt.Errorf("wrk: %v\n%s", err, out)
	}
	return parseWrk(string(out))
}

// wrkDuration formats d as wrk wants it: a number with s or ms is not
// accepted for all versions, so whole seconds (at least one).
func wrkDuration(d time.Duration) string {
	return strconv.Itoa(max(1, int(d.Round(time.Second)/time.Second))) + "s"
}

func parseWrk(out string) (result, error) {
	var r result
	m := reRequests.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("no request count in wrk output:\n%s", out)
	}
	r.requests, _ = strconv.ParseFloat(m[1], 64)
	if m = reRate.FindStringSubmatch(out); m == nil {
		return r, fmt.Errorf("no Requests/sec in wrk output:\n%s", out)
	}
	r.reqPerSec, _ = strconv.ParseFloat(m[1], 64)
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if m := rePercent.FindStringSubmatch(line); m != nil {
			v, _ := strconv.ParseFloat(m[2], 64)
			unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second, "m": time.Minute}[m[3]]
			d := time.Duration(v * float64(unit))
			if m[1] == "50" {
				r.p50 = d
			} else {
				r.p99 = d
			}
		}
		switch t := strings.TrimSpace(line); {
		case strings.HasPrefix(t, "Non-2xx or 3xx responses"):
			r.errorsSeen = t
		case strings.HasPrefix(t, "Socket errors"):
			r.socketErrors = t
		}
	}
	if r.p50 == 0 || r.p99 == 0 {
		return r, fmt.Errorf("no latency distribution in wrk output:\n%s", out)
	}
	return r, nil
}

func wrkVersion() string {
	out, _ := exec.Command("wrk", "-v").CombinedOutput()
	first, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if f := strings.Fields(first); len(f) >= 2 {
		return f[0] + " " + f[1]
	}
	return "wrk"
}
