package e2e

import (
	"os"
	"path/filepath"
	"testing"
)

// handlerOwn counts a handler's own lines and its calls, but not its call
// to the next handler, and reads a recursion suffix as the same function.
func TestHandlerOwnLeavesTheNextHandlerOut(t *testing.T) {
	dump := `# callgrind format
events: Ir
fn=github.com/caddy-plexauth/caddy-plexauth.(*PlexAuth).ServeHTTP
10 5
+2 7
cfn=github.com/caddy-plexauth/caddy-plexauth.(*PlexAuth).setIdentity
calls=1 100
12 300
cfn=github.com/caddyserver/caddy/v2/modules/caddyhttp.HandlerFunc.ServeHTTP
calls=1 200
13 90000
fn=other
1 1000
cfn=github.com/caddy-plexauth/caddy-plexauth.(*PlexAuth).ServeHTTP
calls=1 10
2 312
fn=github.com/caddy-plexauth/caddy-plexauth.(*PlexAuth).ServeHTTP'2
14 11
totals: 91623
`
	path := filepath.Join(t.TempDir(), "callgrind.out.1")
	if err := os.WriteFile(path, []byte(dump), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := handlerOwn(path, plexAuthHandler)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(5 + 7 + 300 + 11); got != want {
		t.Errorf("handlerOwn = %d, want %d", got, want)
	}
	if total, err := dumpTotal(path); err != nil || total != 91623 {
		t.Errorf("dumpTotal = %d, %v; want 91623", total, err)
	}
	if _, err := handlerOwn(path, varsHandler); err == nil {
		t.Error("handlerOwn found a function the dump does not have")
	}
}

// callsTo sums the calls to one function, from every caller, and reads a
// recursion suffix as the same function.
func TestCallsToCountsEveryCallerOfTheFunction(t *testing.T) {
	dump := `# callgrind format
events: Ir
fn=testing.(*B).runN
1 10
cfn=github.com/caddy-plexauth/caddy-plexauth.(*PlexAuth).ServeHTTP
calls=20000 0
2 71000000
cfn=github.com/caddy-plexauth/caddy-plexauth.(*PlexAuth).setIdentity
calls=7 0
3 700
fn=other
cfn=github.com/caddy-plexauth/caddy-plexauth.(*PlexAuth).ServeHTTP'2
calls=3 0
4 30
totals: 71000740
`
	path := filepath.Join(t.TempDir(), "callgrind.out.1")
	if err := os.WriteFile(path, []byte(dump), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := callsTo(path, plexAuthHandler); err != nil || got != 20003 {
		t.Errorf("callsTo = %d, %v; want 20003", got, err)
	}
	if got, err := callsTo(path, varsHandler); err != nil || got != 0 {
		t.Errorf("callsTo(a function never called) = %d, %v; want 0", got, err)
	}
}

// The handler's count in a Go benchmark leaves out the benchmark's own
// loop when callgrind shows it under the handler (a preemption taken for
// a call), and the next handler, but keeps the handler's own calls,
// recursion suffixes included.
func TestHandlerCountLeavesOutTheBenchmarkShownUnderTheHandler(t *testing.T) {
	dump := `# callgrind format
events: Ir
fn=github.com/caddy-plexauth/caddy-plexauth.(*PlexAuth).ServeHTTP
10 5
cfn=github.com/caddy-plexauth/caddy-plexauth.BenchmarkSignedIn.func1
calls=5 0
11 71000000
cfn=testing.(*B).Loop
calls=1 0
12 900
cfn=github.com/caddy-plexauth/caddy-plexauth.(*PlexAuth).sessionAt
calls=2 0
13 3000
cfn=github.com/caddy-plexauth/caddy-plexauth.(*PlexAuth).sessionAt'2
calls=1 0
14 1500
cfn=github.com/caddyserver/caddy/v2/modules/caddyhttp.HandlerFunc.ServeHTTP
calls=3 0
15 60
cfn=runtime.gcWaitOnMark
calls=1 0
16 1352840
totals: 72358305
`
	path := filepath.Join(t.TempDir(), "callgrind.out.1")
	if err := os.WriteFile(path, []byte(dump), 0o644); err != nil {
		t.Fatal(err)
	}
	got, left, err := handlerOwnExcept(path, plexAuthHandler, notTheHandlers)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(5 + 3000 + 1500); got != want {
		t.Errorf("handlerOwnExcept = %d, want %d", got, want)
	}
	if left["github.com/caddy-plexauth/caddy-plexauth.BenchmarkSignedIn.func1"] != 71000000 || left["runtime.gcWaitOnMark"] != 1352840 || len(left) != 4 {
		t.Errorf("left out %v", left)
	}
}
