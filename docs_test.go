package plexauth

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// caddyfileBlock is a fenced ```caddyfile block in Markdown.
var caddyfileBlock = regexp.MustCompile("(?ms)^```caddyfile\n(.*?)^```")

// TestEveryCaddyfileInTheDocsPastes checks every ```caddyfile block of the
// README and docs/, and every Caddyfile under examples/: Caddy adapts it
// as a complete file, and `caddy fmt` leaves it unchanged. Grammar
// summaries are fenced as text, not caddyfile, because they are not files.
func TestEveryCaddyfileInTheDocsPastes(t *testing.T) {
	docs, _ := filepath.Glob("docs/*.md")
	docs = append([]string{"README.md"}, docs...)
	type sample struct{ name, body string }
	var samples []sample
	for _, doc := range docs {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range caddyfileBlock.FindAllSubmatchIndex(b, -1) {
			line := 1 + bytes.Count(b[:m[0]], []byte("\n"))
			samples = append(samples, sample{name: doc + ":" + itoa(line) + " (block " + itoa(i+1) + ")", body: string(b[m[2]:m[3]])})
		}
	}
	examples, _ := filepath.Glob("examples/*Caddyfile")
	for _, f := range examples {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		samples = append(samples, sample{name: f, body: string(b)})
	}
	if len(samples) < 5 {
		t.Fatalf("found only %d Caddyfiles in the docs; the extraction is broken", len(samples))
	}
	// Environment placeholders the samples use are set, as a user would.
	t.Setenv("PLEX_SERVER_ID", machineID)
	adapter := caddyconfig.GetAdapter("caddyfile")
	for _, s := range samples {
		t.Run(s.name, func(t *testing.T) {
			if got := string(caddyfile.Format([]byte(s.body))); got != s.body {
				t.Errorf("caddy fmt would change it:\n--- as written\n%s\n--- formatted\n%s", s.body, got)
			}
			if _, _, err := adapter.Adapt([]byte(s.body), map[string]any{"filename": "Caddyfile"}); err != nil {
				t.Errorf("caddy adapt refuses it: %v\n%s", err, s.body)
			}
		})
	}
}

func itoa(i int) string { return strings.TrimSpace(formatInt(int64(i))) }

// jsonBlock is a fenced ```json block in Markdown.
var jsonBlock = regexp.MustCompile("(?ms)^```json\n(.*?)^```")

// TestEveryJSONConfigInTheDocsLoads provisions every JSON config of the
// README and docs/ that uses plex_auth, as `caddy validate` would, with its
// fields read strictly: a misspelt field name fails.
func TestEveryJSONConfigInTheDocsLoads(t *testing.T) {
	docs, _ := filepath.Glob("docs/*.md")
	docs = append([]string{"README.md"}, docs...)
	var blocks [][][]byte
	for _, doc := range docs {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, jsonBlock.FindAllSubmatch(b, -1)...)
	}
	n := 0
	for _, m := range blocks {
		if !bytes.Contains(m[1], []byte(`"handler": "plex_auth"`)) {
			continue
		}
		n++
		var cfg struct {
			Apps struct {
				HTTP struct {
					Servers map[string]struct {
						Routes []struct {
							Handle []json.RawMessage `json:"handle"`
						} `json:"routes"`
					} `json:"servers"`
				} `json:"http"`
			} `json:"apps"`
		}
		if err := json.Unmarshal(m[1], &cfg); err != nil {
			t.Fatalf("JSON block %d does not parse: %v", n, err)
		}
		handlers := 0
		for _, srv := range cfg.Apps.HTTP.Servers {
			for _, rt := range srv.Routes {
				for _, raw := range rt.Handle {
					if !bytes.Contains(raw, []byte(`"plex_auth"`)) {
						continue
					}
					handlers++
					var fields map[string]json.RawMessage
					_ = json.Unmarshal(raw, &fields)
					delete(fields, "handler")
					rest, _ := json.Marshal(fields)
					dec := json.NewDecoder(bytes.NewReader(rest))
					dec.DisallowUnknownFields()
					var h PlexAuth
					if err := dec.Decode(&h); err != nil {
						t.Errorf("JSON block %d: plex_auth fields: %v", n, err)
					}
				}
			}
		}
		if handlers == 0 {
			t.Errorf("JSON block %d names plex_auth but no handler was found in it", n)
		}
		// Provisioning it for real checks the rest (durations, Validate).
		cfgJSON := bytes.Replace(m[1], []byte(`":443"`), []byte(`"127.0.0.1:0"`), 1)
		if err := caddy.Validate(mustConfig(t, cfgJSON)); err != nil {
			t.Errorf("JSON block %d does not validate: %v", n, err)
		}
	}
	if n == 0 {
		t.Fatal("neither the README nor docs/ has a JSON config using plex_auth")
	}
}

func mustConfig(t *testing.T, b []byte) *caddy.Config {
	t.Helper()
	var cfg caddy.Config
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	cfg.StorageRaw = json.RawMessage(`{"module":"file_system","root":` + strconv.Quote(t.TempDir()) + `}`)
	return &cfg
}

// TestEveryTestTheDocsNameExists checks that each test, fuzz target and
// benchmark the README and docs/ name (in backticks, as the tests table
// does) is a function of some _test.go file of the module: a claim must
// not point at a test that was renamed or dropped.
func TestEveryTestTheDocsNameExists(t *testing.T) {
	defined := map[string]bool{}
	funcRE := regexp.MustCompile(`(?m)^func ((?:Test|Fuzz|Benchmark)[A-Z0-9][A-Za-z0-9_]*)\(`)
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range funcRE.FindAllSubmatch(b, -1) {
			defined[string(m[1])] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	docs, _ := filepath.Glob("docs/*.md")
	docs = append(docs, "README.md", "bench/README.md")
	namedRE := regexp.MustCompile("`((?:Test|Fuzz|Benchmark)[A-Z0-9][A-Za-z0-9_]*)(?:/[^`]*)?`")
	named := 0
	for _, path := range docs {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range namedRE.FindAllSubmatch(b, -1) {
			named++
			if !defined[string(m[1])] {
				t.Errorf("%s names %s, which no _test.go file defines", path, m[1])
			}
		}
	}
	if named < 100 || len(defined) < 200 {
		t.Fatalf("%d names in the docs, %d test functions found: the patterns no longer match what they read", named, len(defined))
	}
}
