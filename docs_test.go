package plexauth

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

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
