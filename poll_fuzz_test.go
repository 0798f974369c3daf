package plexauth

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// fuzzCaddy is a Caddy with no apps, loaded once, whose context gives the
// handlers under fuzz their storage. It keeps the admin endpoint of the
// in-process tests, so they can load their configs after it.
var fuzzCaddy struct {
	once sync.Once
	err  error
}

// provisionHandler is a plex_auth handler with the given JSON config,
// provisioned by Caddy as a Caddyfile would give it. stop runs its Cleanup.
func provisionHandler(tb testing.TB, cfg map[string]any) (h *PlexAuth, stop func()) {
	tb.Helper()
	fuzzCaddy.once.Do(func() {
		dir, err := os.MkdirTemp(runDir, "fuzz-")
		if err != nil {
			fuzzCaddy.err = err
			return
		}
		fuzzCaddy.err = caddy.Load([]byte(fmt.Sprintf(`{"admin":{"listen":"localhost:%d"},`+
			`"logging":{"logs":{"default":{"level":"ERROR"}}},`+
			`"storage":{"module":"file_system","root":%q}}`, adminPort, dir)), true)
	})
	if fuzzCaddy.err != nil {
		tb.Fatal(fuzzCaddy.err)
	}
	ctx, cancel := caddy.NewContext(caddy.ActiveContext())
	raw, _ := json.Marshal(cfg)
	m, err := ctx.LoadModuleByID("http.handlers.plex_auth", raw)
	if err != nil {
		cancel()
		tb.Fatal(err)
	}
	return m.(*PlexAuth), cancel
}

// pinAnswer is what the stand-in plex.tv says about every pin.
type pinAnswer struct {
	status int    // HTTP status of GET /api/v2/pins/{id}
	code   string // the pin's code
	token  string // "" until approved
	body   string // when set, sent as is instead of a pin
}

// fuzzPlex is a plex.tv that answers pin checks as told and knows one
// account, with no servers.
type fuzzPlex struct {
	*httptest.Server
	mu  sync.Mutex
	pin pinAnswer
}

func newFuzzPlex(tb testing.TB) *fuzzPlex {
	p := &fuzzPlex{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasPrefix(r.URL.Path, "/api/v2/pins/"):
			p.mu.Lock()
			a := p.pin
			p.mu.Unlock()
			w.WriteHeader(a.status)
			if a.body != "" {
				_, _ = w.Write([]byte(a.body))
				return
			}
			var token any
			if a.token != "" {
				token = a.token
			}
			id, _ := strconv.ParseInt(strings.TrimPrefix(r.URL.Path, "/api/v2/pins/"), 10, 64)
			_ = json.NewEncoder(w).Encode(map[string]any{"id": id, "code": a.code, "authToken": token, "expiresIn": 900})
		case r.URL.Path == "/api/v2/user" && r.Header.Get("X-Plex-Token") == "fuzz-token":
			_, _ = w.Write([]byte(`{"id":1001,"uuid":"u1","username":"fuzzer","title":"Fuzzer","email":"fuzzer@example.com"}`))
		case r.URL.Path == "/api/v2/resources" && r.Header.Get("X-Plex-Token") == "fuzz-token":
			_, _ = w.Write([]byte(`[]`))
		default:
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	tb.Cleanup(p.Close)
	return p
}

// FuzzStateCookieAndPinSettling sends a state cookie (sealed around any
// payload, or any raw value) to the callback and the poll, twice each,
// against a plex.tv that answers anything about the pin. Whatever comes:
// no 5xx but the 502/503 of a failing plex.tv, and a session only for a
// state that opens, names a pin, carries the code plex.tv gives for it,
// approved; and then only once.
func FuzzStateCookieAndPinSettling(f *testing.F) {
	f.Add([]byte(`{"p":373040866,"c":"abc","r":"/x"}`), "", "abc", uint8(1))
	f.Add([]byte(`{"p":373040866,"c":"abc","r":"/x"}`), "", "abd", uint8(1))
	f.Add([]byte(`{"p":373040866,"c":"abc","r":"/x"}`), "", "abc", uint8(0))
	f.Add([]byte(`{"p":373040866,"c":"","r":"/"}`), "", "", uint8(1))
	f.Add([]byte(`{"p":-1,"c":"abc"}`), "", "abc", uint8(1))
	f.Add([]byte(`{"p":1e3,"c":"abc","r":"https://evil.example/"}`), "", "abc", uint8(1))
	f.Add([]byte(`{"p":7,"c":"abc","r":"//evil.example"}`), "", "abc", uint8(2))
	f.Add([]byte(`{"p":7,"c":"abc"}`), "", "abc", uint8(3))
	f.Add([]byte(`{"p":7,"c":"abc"}`), "", "abc", uint8(4))
	f.Add([]byte(`{"p":7,"c":"abc"}`), "", "abc", uint8(5))
	f.Add([]byte(`not json`), "", "abc", uint8(1))
	f.Add([]byte(`{"p":7,"c":"abc"}`), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "abc", uint8(1))
	f.Add([]byte(`{"p":7,"c":"abc"}`), "%zz;\x00\"", "abc", uint8(1))
	plex := newFuzzPlex(f)
	f.Fuzz(func(t *testing.T, payload []byte, raw, plexCode string, answer uint8) {
		h, stop := provisionHandler(t, map[string]any{
			"allow_any_plex_user": true, "store": "memory",
			"plex_tv_url": plex.URL, "plex_app_url": plex.URL + "/auth", "timeout": int64(2 * time.Second),
		})
		defer stop()

		pin := pinAnswer{status: http.StatusOK, code: plexCode}
		switch answer % 6 {
		case 1:
			pin.token = "fuzz-token"
		case 2:
			pin.status, pin.body = http.StatusNotFound, `{"errors":[{"code":1020,"message":"Code not found or expired"}]}`
		case 3:
			pin.status, pin.body = http.StatusTooManyRequests, `{}`
		case 4:
			pin.status, pin.body = http.StatusInternalServerError, `oops`
		case 5:
			pin.body = `{"id":`
		}
		plex.mu.Lock()
		plex.pin = pin
		plex.mu.Unlock()

		value := raw
		if value == "" {
			value = h.stateSealer.Seal(h.stateCookie, payload, time.Now().Add(time.Hour))
		}
		var st loginState
		opens := raw == "" && json.Unmarshal(payload, &st) == nil && st.PinID > 0
		mayFinish := opens && answer%6 == 1 && st.Code != "" && st.Code == plexCode

		sessions := 0
		for i, path := range []string{"callback", "callback", "poll", "poll"} {
			r := httptest.NewRequest(http.MethodGet, "http://site.example/_plexauth/"+path, nil)
			r.Header.Set("Cookie", h.stateCookie+"="+value)
			r.Header.Set("Accept", "text/html")
			r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), nil, &caddyhttp.Server{})
			w := httptest.NewRecorder()
			if err := h.ServeHTTP(w, r, caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error {
				t.Fatal("an endpoint called the next handler")
				return nil
			})); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			resp := w.Result()
			plexFailed := answer%6 >= 3 && opens
			if resp.StatusCode >= 500 && !(plexFailed && (resp.StatusCode == 502 || resp.StatusCode == 503)) {
				t.Fatalf("%s #%d: status %d", path, i, resp.StatusCode)
			}
			if resp.StatusCode == http.StatusTooManyRequests {
				continue // a local limit on pin checks: nothing to say about settling
			}
			if sessionSet(resp) {
				sessions++
				if !mayFinish {
					t.Fatalf("%s #%d: a session from state %q (raw %q) with plex.tv code %q, answer %d", path, i, payload, raw, plexCode, answer%6)
				}
				if i != 0 {
					t.Fatalf("%s #%d: the session came on a later finish, not the first", path, i)
				}
			} else if mayFinish && i == 0 {
				t.Fatalf("the first finish of an approved pin with the right code got %d and no session", resp.StatusCode)
			}
			if sessions > 0 && i > 0 && resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("%s #%d after the pin was used: status %d, want 400", path, i, resp.StatusCode)
			}
		}
	})
}
