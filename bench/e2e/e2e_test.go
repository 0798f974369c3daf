package e2e

import (
	"flag"
	"os"
	"testing"

	"github.com/caddy-plexauth/caddy-plexauth/plextest"
)

// The benchmark is this package's test binary, so that the fake plex.tv,
// which nothing but tests may import, stays out of every program:
// bench/run.sh builds it with `go test -c` and runs it with -e2e and its
// own flags. Without -e2e (go test ./...), it runs no test.

var e2e = flag.Bool("e2e", false, "run the end-to-end benchmark (bench/run.sh sets it)")

func TestMain(m *testing.M) {
	var o options
	o.register(flag.CommandLine)
	flag.Parse()
	if !*e2e {
		os.Exit(m.Run())
	}
	plex := newFakePlex()
	code := benchmark(o, fakePlexTV{plex})
	plex.Close()
	os.Exit(code)
}

// newFakePlex is plex.tv with one server and one account that is a friend
// of it.
func newFakePlex() *plextest.Server {
	plex := plextest.NewServer()
	plex.AddServer(machineID, "Bench Server")
	plex.AddAccount(plexAccount)
	plex.Share(machineID, plexAccount, plextest.Friend)
	return plex
}

// fakePlexTV is plextest's server as the benchmark uses it.
type fakePlexTV struct{ s *plextest.Server }

func (f fakePlexTV) URL() string                        { return f.s.URL }
func (f fakePlexTV) AppURL() string                     { return f.s.AppURL() }
func (f fakePlexTV) Approve(code, account string) error { return f.s.Approve(code, account) }
func (f fakePlexTV) Calls() int                         { return len(f.s.Requests()) }
