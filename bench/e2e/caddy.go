package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// machineID is the Plex Media Server the benchmark account is a friend of.
const machineID = "b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6"

func buildCaddy(bin string) error {
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/caddy")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd.Run()
}

// freePorts asks the kernel for n unused loopback ports.
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// hashPassword asks Caddy for the bcrypt hash basic_auth wants.
func hashPassword(bin, plain string) (string, error) {
	out, err := exec.Command(bin, "hash-password", "--plaintext", plain).Output()
	if err != nil {
		return "", fmt.Errorf("caddy hash-password: %v", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// caddyfile is the benchmark's config. ports are no auth, plex_auth,
// basic_auth, forward_auth, the forward_auth endpoint, the admin endpoint
// (used only with -pprof) and the no-op middleware. Access logs are off everywhere, as
// they are by default.
func caddyfile(ports []int, pprof bool, plexURL, appURL, hash, storage string) string {
	admin := "off"
	if pprof {
		admin = fmt.Sprintf("127.0.0.1:%d", ports[5])
	}
	return fmt.Sprintf(`{
	admin %[12]s
	persist_config off
	auto_https off
	default_bind 127.0.0.1
	storage file_system %[7]q
	log {
		level ERROR
	}
}

http://:%[1]d {
	respond "ok"
}

# The floor for any handler: a middleware that does next to nothing, so
# the request runs through one more handler before respond.
http://:%[13]d {
	vars noop 1
	respond "ok"
}

http://:%[2]d {
	plex_auth {
		server %[8]s
		plex_tv_url %[9]s
		plex_app_url %[10]s
	}
	respond "ok"
}

http://:%[3]d {
	basic_auth {
		%[11]s %[6]s
	}
	respond "ok"
}

http://:%[4]d {
	forward_auth 127.0.0.1:%[5]d {
		uri /check
	}
	respond "ok"
}

http://:%[5]d {
	respond 200
}
`, ports[0], ports[1], ports[2], ports[3], ports[4], hash, storage, machineID, plexURL, appURL, benchUser, admin, ports[6])
}

type caddyProc struct {
	cmd     *exec.Cmd
	logPath string
	clkTck  float64
	admin   string // host:port of the admin endpoint, with -pprof
}

// startCaddy runs Caddy with cfg and waits until every port in ready answers.
func startCaddy(bin, out, cfg string, ready []int) (*caddyProc, error) {
	cfgPath := filepath.Join(out, "Caddyfile")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	logPath := filepath.Join(out, "caddy.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "run", "--config", cfgPath, "--adapter", "caddyfile")
	// Keep Caddy's own files (autosave, certificates) inside out/.
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+filepath.Join(out, "config"), "XDG_DATA_HOME="+filepath.Join(out, "data"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &caddyProc{cmd: cmd, logPath: logPath, clkTck: clockTicks()}
	if err := waitReady(ready, 30*time.Second, 50*time.Millisecond); err != nil {
		c.stop()
		return nil, fmt.Errorf("caddy %v (log: %s)", err, logPath)
	}
	return c, nil
}

// waitReady waits until every port in ready answers a GET on 127.0.0.1,
// polling every poll, for at most within in all; the error names the port that did not.
func waitReady(ready []int, within, poll time.Duration) error {
	deadline := time.Now().Add(within)
	for _, p := range ready {
		for {
			resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", p))
			if err == nil {
				resp.Body.Close()
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("did not answer on port %d: %v", p, err)
			}
			time.Sleep(poll)
		}
	}
	return nil
}

func (c *caddyProc) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGINT)
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}

// measure runs wrk against s and charges Caddy's CPU time to its requests.
// With profile set, Caddy's CPU profile of the run is saved there.
func (c *caddyProc) measure(s site, conns, threads int, d time.Duration, profile string) (result, error) {
	before, err := c.cpuTime()
	if err != nil {
		return result{}, err
	}
	profiled := make(chan error, 1)
	if profile != "" {
		go func() { profiled <- c.saveProfile(profile, d) }()
	} else {
		profiled <- nil
	}
	res, err := runWrk(s, conns, threads, d)
	if perr := <-profiled; err == nil && perr != nil {
		err = fmt.Errorf("profiling: %v", perr)
	}
	if err != nil {
		return result{}, err
	}
	after, err := c.cpuTime()
	if err != nil {
		return result{}, err
	}
	if res.requests > 0 {
		res.cpuPerReq = time.Duration(float64(after-before) / res.requests)
	}
	return res, nil
}

// saveProfile fetches a CPU profile of the next d from Caddy's admin
// endpoint (profiles cover whole seconds; d is rounded down, minimum 1s).
func (c *caddyProc) saveProfile(path string, d time.Duration) error {
	secs := max(1, int(d/time.Second)-1) // end before wrk does
	resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", c.admin, secs))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("admin endpoint answered %s", resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// cpuTime is Caddy's user+system CPU time so far, all threads.
func (c *caddyProc) cpuTime() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// The command name in parentheses may hold spaces; fields count from
	// after it. utime and stime are fields 14 and 15 of the whole line.
	rest := b[bytes.LastIndexByte(b, ')')+2:]
	f := strings.Fields(string(rest))
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/pid/stat: %q", b)
	}
	utime, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parsing /proc/pid/stat: %q", b)
	}
	return time.Duration((utime + stime) / c.clkTck * float64(time.Second)), nil
}

// rss is Caddy's resident set size in bytes, 0 if unknown.
func (c *caddyProc) rss() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// clockTicks is the kernel's USER_HZ, the unit of /proc/pid/stat times.
func clockTicks() float64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if n, perr := strconv.ParseFloat(strings.TrimSpace(string(out)), 64); err == nil && perr == nil && n > 0 {
		return n
	}
	return 100
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
