package plexauth

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/caddy-plexauth/caddy-plexauth/internal/pages"
)

func TestCaddyfileLoginOptions(t *testing.T) {
	var p PlexAuth
	err := p.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`plex_auth {
		allow_any_plex_user
		login_title "Welcome to the Den"
		login_logo /srv/den/logo.svg
		login_template /srv/den/login.html
	}`))
	if err != nil {
		t.Fatal(err)
	}
	if p.LoginTitle != "Welcome to the Den" || p.LoginLogo != "/srv/den/logo.svg" || p.LoginTemplate != "/srv/den/login.html" {
		t.Errorf("parsed %q, %q, %q", p.LoginTitle, p.LoginLogo, p.LoginTemplate)
	}

	for _, c := range []struct{ input, want string }{
		{"login_title", "login_title takes exactly one value"},
		{"login_title Welcome home", "login_title takes exactly one value"},
		{"login_logo", "login_logo takes exactly one value"},
		{"login_logo a.png b.png", "login_logo takes exactly one value"},
		{"login_template", "login_template takes exactly one value"},
		{"login_template a.html b.html", "login_template takes exactly one value"},
	} {
		t.Run(c.input, func(t *testing.T) {
			var p PlexAuth
			err := p.UnmarshalCaddyfile(caddyfile.NewTestDispenser("plex_auth {\n\tallow_any_plex_user\n\t" + c.input + "\n}"))
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), ":3") {
				t.Errorf("error = %v, want %q at line 3", err, c.want)
			}
		})
	}
}

// pageHandler is a handler with only what render needs.
func pageHandler(t *testing.T, p *pages.Set) *PlexAuth {
	t.Helper()
	if p == nil {
		var err error
		if p, err = pages.Load("", ""); err != nil {
			t.Fatal(err)
		}
	}
	h := &PlexAuth{Product: "Media Tools", logger: zap.NewNop(), pages: p, appOrigin: "https://app.plex.tv"}
	h.setPrefix(defaultPrefix)
	return h
}

func scriptVersion(h *PlexAuth) string { _, v := h.pages.Script(); return v }

func logoVersion(p *pages.Set) string { _, _, v := p.Logo(); return v }

func renderPage(t *testing.T, h *PlexAuth, name string, d pageData) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	h.render(w, httptest.NewRequest(http.MethodGet, "/_plexauth/login", nil), http.StatusOK, name, d)
	if w.Code != http.StatusOK {
		t.Fatalf("%s: status %d: %s", name, w.Code, w.Body)
	}
	return w
}

var (
	nonceAttr   = regexp.MustCompile(`<(style|script)\b[^>]*>`)
	externalRef = regexp.MustCompile(`(?i)\b(src|href|action|srcset)\s*=\s*"(https?:)?//`)
)

func TestEveryPageHasAStrictCSPAndLoadsNothingFromElsewhere(t *testing.T) {
	h := pageHandler(t, nil)
	for _, name := range pages.Names {
		t.Run(name, func(t *testing.T) {
			w := renderPage(t, h, name, pageData{RD: "/", Account: "stranger", StartURL: "/_plexauth/start", LoginURL: "/_plexauth/login", LogoutURL: "/_plexauth/logout", CallbackURL: "/_plexauth/callback"})
			csp := w.Header().Get("Content-Security-Policy")
			m := regexp.MustCompile(`script-src 'nonce-([A-Za-z0-9_-]+)'`).FindStringSubmatch(csp)
			if m == nil {
				t.Fatalf("CSP %q has no script nonce", csp)
			}
			nonce := m[1]
			for _, want := range []string{"default-src 'none'", "style-src 'nonce-" + nonce + "'", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "img-src 'self';"} {
				if !strings.Contains(csp, want) {
					t.Errorf("CSP %q lacks %q", csp, want)
				}
			}
			for _, bad := range []string{"unsafe-inline", "unsafe-eval", "*", "data:"} {
				if strings.Contains(csp, bad) {
					t.Errorf("CSP %q allows %s", csp, bad)
				}
			}
			body := w.Body.String()
			for _, tag := range nonceAttr.FindAllString(body, -1) {
				if !strings.Contains(tag, `nonce="`+nonce+`"`) {
					t.Errorf("%s lacks this response's nonce", tag)
				}
			}
			if strings.Contains(body, " style=") || strings.Contains(body, " onclick=") {
				t.Error("inline style or handler attributes would be refused by the CSP")
			}
			if ref := externalRef.FindString(body); ref != "" {
				t.Errorf("page loads from elsewhere: %s", ref)
			}
			if !strings.Contains(body, `<html lang="en">`) || !strings.Contains(body, "<main>") {
				t.Error("page needs a language and a main landmark")
			}
			if w.Header().Get("Cache-Control") != "no-store" || w.Header().Get("X-Frame-Options") != "DENY" {
				t.Errorf("headers: %v", w.Header())
			}
		})
	}
}

func TestLoginPageCarriesTheScriptAndTitle(t *testing.T) {
	h := pageHandler(t, nil)
	body := renderPage(t, h, "login", pageData{RD: "/a?b=1", StartURL: "/_plexauth/start"}).Body.String()
	for _, want := range []string{
		`<h1>Sign in to Media Tools</h1>`,
		`action="/_plexauth/start" data-poll="/_plexauth/poll"`,
		`src="/_plexauth/login.js?v=` + scriptVersion(h) + `" defer>`,
		`value="/a?b=1"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("login page lacks %s", want)
		}
	}
	h.LoginTitle = "Welcome to the <Den>"
	body = renderPage(t, h, "login", pageData{}).Body.String()
	if !strings.Contains(body, "<h1>Welcome to the &lt;Den&gt;</h1>") || !strings.Contains(body, "<strong>Media Tools</strong>") {
		t.Error("login_title should be the heading, escaped, with the product still named")
	}
	// Other pages have no script.
	if body := renderPage(t, h, "expired", pageData{}).Body.String(); strings.Contains(body, "<script") {
		t.Error("only the login page needs the script")
	}
}

func TestLoginScriptIsServedUnderThePrefix(t *testing.T) {
	h := pageHandler(t, nil)
	w := httptest.NewRecorder()
	h.serveScript(w, httptest.NewRequest(http.MethodGet, "/_plexauth/login.js?v="+scriptVersion(h), nil))
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") || w.Body.Len() == 0 {
		t.Fatalf("Content-Type %q, %d bytes", ct, w.Body.Len())
	}
	if cc := w.Header().Get("Cache-Control"); !strings.Contains(cc, "max-age") {
		t.Errorf("versioned script should be cacheable, Cache-Control %q", cc)
	}
	w = httptest.NewRecorder()
	h.serveScript(w, httptest.NewRequest(http.MethodGet, "/_plexauth/login.js", nil))
	if cc := w.Header().Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("unversioned script Cache-Control %q, want no-cache", cc)
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoginTemplateInsideTheLayoutOrAsAWholePage(t *testing.T) {
	t.Run("content only", func(t *testing.T) {
		p, err := pages.Load(writeFile(t, "login.html", `{{define "content"}}<h1>Hello from {{.Product}}</h1>{{template "signin" .}}{{end}}`), "")
		if err != nil {
			t.Fatal(err)
		}
		h := pageHandler(t, p)
		body := renderPage(t, h, "login", pageData{StartURL: "/_plexauth/start"}).Body.String()
		for _, want := range []string{"<h1>Hello from Media Tools</h1>", "<style nonce=", `data-poll="/_plexauth/poll"`, `class="mark"`} {
			if !strings.Contains(body, want) {
				t.Errorf("page lacks %s", want)
			}
		}
		// The other pages keep the built-in look.
		if body := renderPage(t, h, "expired", pageData{}).Body.String(); !strings.Contains(body, "Sign-in expired") {
			t.Error("login_template changed another page")
		}
	})
	t.Run("whole page", func(t *testing.T) {
		src := `<!doctype html><html lang="en"><title>{{.Product}}</title><style nonce="{{.Nonce}}">h1{color:red}</style><main><h1>{{.Heading}}</h1>{{template "signin" .}}</main></html>`
		p, err := pages.Load(writeFile(t, "login.html", src), "")
		if err != nil {
			t.Fatal(err)
		}
		w := renderPage(t, pageHandler(t, p), "login", pageData{StartURL: "/_plexauth/start"})
		body := w.Body.String()
		if !strings.HasPrefix(body, `<!doctype html><html lang="en"><title>Media Tools</title>`) || strings.Contains(body, `class="mark"`) {
			t.Errorf("whole-page template was not rendered as given: %.200s", body)
		}
		if !strings.Contains(w.Header().Get("Content-Security-Policy"), "default-src 'none'") {
			t.Error("an operator's page gets the same CSP")
		}
	})
}

func TestLoginLogo(t *testing.T) {
	t.Run("file served under the prefix", func(t *testing.T) {
		path := writeFile(t, "logo.svg", `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><rect width="10" height="10"/></svg>`)
		p, err := pages.Load("", path)
		if err != nil {
			t.Fatal(err)
		}
		h := pageHandler(t, p)
		body := renderPage(t, h, "denied", pageData{}).Body.String()
		if !strings.Contains(body, `<img class="logo" src="/_plexauth/logo?v=`+logoVersion(p)+`" alt="">`) {
			t.Errorf("logo not on the page: %.600s", body)
		}
		w := httptest.NewRecorder()
		h.serveLogo(w, httptest.NewRequest(http.MethodGet, "/_plexauth/logo?v="+logoVersion(p), nil))
		if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "image/svg+xml" || !strings.Contains(w.Body.String(), "<rect") {
			t.Fatalf("logo: %d %q", w.Code, w.Header().Get("Content-Type"))
		}
		if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "sandbox") || strings.Contains(csp, "script") {
			t.Errorf("an SVG opened directly must not run scripts: CSP %q", csp)
		}
	})
	t.Run("no logo", func(t *testing.T) {
		w := httptest.NewRecorder()
		pageHandler(t, nil).serveLogo(w, httptest.NewRequest(http.MethodGet, "/_plexauth/logo", nil))
		if w.Code != http.StatusNotFound {
			t.Errorf("status %d, want 404", w.Code)
		}
	})
	t.Run("URL admitted by the CSP", func(t *testing.T) {
		p, err := pages.Load("", "https://cdn.example.com/den/logo.png")
		if err != nil {
			t.Fatal(err)
		}
		w := renderPage(t, pageHandler(t, p), "login", pageData{})
		if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "img-src 'self' https://cdn.example.com;") {
			t.Errorf("CSP %q", csp)
		}
		if !strings.Contains(w.Body.String(), `src="https://cdn.example.com/den/logo.png"`) {
			t.Error("logo URL not on the page")
		}
	})
	for _, c := range []struct{ name, file, content, want string }{
		{"not an image", "logo.txt", "hello", "not an image"},
		{"too large", "logo.png", strings.Repeat("x", pages.MaxLogoSize+1), "larger than"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := writeFile(t, c.file, c.content)
			if _, err := pages.Load("", path); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "login_logo") {
				t.Errorf("error = %v, want login_logo and %q", err, c.want)
			}
		})
	}
}
