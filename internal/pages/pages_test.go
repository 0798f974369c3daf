package pages

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoginTemplateErrorsNameTheFile(t *testing.T) {
	for _, c := range []struct {
		name, src, want string
	}{
		{"syntax", "<h1>\n{{if .Heading}}</h1>", "login.html:2"},
		{"unknown field", "<h1>{{.Headline}}</h1>", "Headline"},
		{"unknown template", `{{template "nope" .}}`, "nope"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := writeFile(t, "login.html", c.src)
			_, err := Load(path, "")
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "login_template") {
				t.Errorf("error = %v, want login_template, %s and %q", err, path, c.want)
			}
		})
	}
	missing := filepath.Join(t.TempDir(), "missing.html")
	if _, err := Load(missing, ""); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: error = %v", err)
	}
}

// Every built-in page executes with the fields a caller fills, and the
// login page shows the login_template in place of the built-in one.
func TestEveryPageExecutesAndTheLoginTemplateReplacesOnlyTheLogin(t *testing.T) {
	builtin, err := Load("", "")
	if err != nil {
		t.Fatal(err)
	}
	custom, err := Load(writeFile(t, "login.html", `{{define "content"}}<h1>custom {{.Heading}}</h1>{{end}}`), "")
	if err != nil {
		t.Fatal(err)
	}
	d := Data{Product: "Caddy", Title: "Sign in", Heading: "Sign in to Caddy", Nonce: "n", RD: "/", StartURL: "/s", LoginURL: "/l"}
	for _, name := range Names {
		var b, c bytes.Buffer
		if err := builtin.Execute(&b, name, d); err != nil || !strings.Contains(b.String(), "<html") {
			t.Fatalf("%s: %v, %.80q", name, err, b.String())
		}
		if err := custom.Execute(&c, name, d); err != nil {
			t.Fatalf("%s with login_template: %v", name, err)
		}
		if got, want := strings.Contains(c.String(), "<h1>custom Sign in to Caddy</h1>"), name == "login"; got != want {
			t.Errorf("%s with login_template: custom heading shown %v, want %v", name, got, want)
		}
	}
}
