package session

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Helpers the tests of this package share. The root package has its own
// (test files cannot be imported); these are the few the session tests
// need.

// sessionIDLen is the length of a session id the root package makes: 256
// random bits.
const sessionIDLen = 32

// startRedis runs a throwaway redis-server for the test, on a free
// loopback port, and returns its address; the server stops with the test.
// Other packages' tests start servers at the same time, so the server
// answering on the port is checked to be this one (by its process id).
func startRedis(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server is missing; .ci/run installs it")
		}
		t.Skip("redis-server not installed (apt-get install redis-server); skipping the Redis tests")
	}
	for range 10 {
		port := freePort(t)
		cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if redisAnswers(addr, cmd.Process.Pid, exited) {
			t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
			return addr
		}
		// The port was taken meanwhile: the server exited, or another
		// one answers there. Another port.
		_ = cmd.Process.Kill()
		<-exited
	}
	t.Fatal("redis-server did not start")
	return ""
}

// redisAnswers waits until the redis-server with process id pid answers at
// addr, and reports false if it exits first or another server answers.
func redisAnswers(addr string, pid int, exited <-chan struct{}) bool {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(25 * time.Millisecond) {
		select {
		case <-exited:
			return false
		default:
		}
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			continue
		}
		info, err := redisInfoServer(conn)
		conn.Close()
		if err != nil {
			continue
		}
		return strings.Contains(info, "\nprocess_id:"+strconv.Itoa(pid)+"\r\n")
	}
	return false
}

// redisInfoServer sends INFO server on conn, speaking RESP directly, and
// returns the reply.
func redisInfoServer(conn net.Conn) (string, error) {
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := io.WriteString(conn, "*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n"); err != nil {
		return "", err
	}
	r := bufio.NewReader(conn)
	var n int
	if _, err := fmt.Fscanf(r, "$%d\r\n", &n); err != nil {
		return "", err
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", err
	}
	return "\n" + string(b), nil
}

// freePort returns a loopback port nobody listens on now. It is one the
// kernel hands out, so from another range than the root package's tests
// take theirs from.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitFor polls cond until it holds, failing the test after limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// testSession is a live account's session, as the root's tests make them.
func testSession(created, expires time.Time) *Session {
	return &Session{
		UserID: 1003, UUID: "0123456789abcdef", Username: "friend", Email: "friend@example.com", Title: "Friend",
		Servers: map[string]string{}, Token: "token",
		Created: created, Checked: time.Now(), Expires: expires,
	}
}
