package plexauth

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"html/template"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"go.uber.org/zap"
)

// The module's pages are html/templates embedded in the binary; everything
// they use (styles, script, icons) comes from the module itself, so a login
// page makes no request to anyone else.

//go:embed templates/*.html templates/login.js
var templateFS embed.FS

// pageNames are the pages the module serves; each is templates/<name>.html
// rendered inside templates/layout.html, with templates/signin.html (the
// sign-in form, its messages and its script) available to all.
var pageNames = []string{"login", "waiting", "denied", "expired", "unavailable", "badstate", "limited", "logout", "used"}

// maxLogoSize bounds a login_logo file: it is kept in memory.
const maxLogoSize = 512 << 10

type pages struct {
	t map[string]*template.Template

	// customLogin is the operator's login_template; inLayout tells whether
	// it only defines "content" (rendered inside the module's layout) or
	// is a whole page.
	customLogin *template.Template
	inLayout    bool

	script        []byte
	scriptVersion string

	// The logo: either a file served under {prefix}/logo, or an absolute
	// URL whose origin the CSP admits.
	logo        []byte
	logoType    string
	logoVersion string
	logoURL     string
	imgSrc      string
}

// loadPages parses the built-in pages, and the operator's login template and
// logo when given. It runs at Provision, so a broken template or logo stops
// the config from loading instead of failing a user later.
func loadPages(loginTemplate, logo string) (*pages, error) {
	p := &pages{t: make(map[string]*template.Template, len(pageNames)), imgSrc: "'self'"}
	for _, name := range pageNames {
		t, err := template.ParseFS(templateFS, "templates/layout.html", "templates/signin.html", "templates/"+name+".html")
		if err != nil {
			return nil, err
		}
		p.t[name] = t
	}

	script, err := templateFS.ReadFile("templates/login.js")
	if err != nil {
		return nil, err
	}
	p.script = script
	p.scriptVersion = shortHash(script)

	if loginTemplate != "" {
		if err := p.loadLoginTemplate(loginTemplate); err != nil {
			return nil, fmt.Errorf("login_template: %w", err)
		}
	}
	if logo != "" {
		if err := p.loadLogo(logo); err != nil {
			return nil, fmt.Errorf("login_logo: %w", err)
		}
	}
	return p, nil
}

func (p *pages) loadLoginTemplate(file string) error {
	src, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	t, err := template.ParseFS(templateFS, "templates/layout.html", "templates/signin.html")
	if err != nil {
		return err
	}
	// Named after the file, so a parse error says which file and line.
	if t, err = t.New(file).Parse(string(src)); err != nil {
		return err
	}
	p.customLogin = t
	p.inLayout = t.Lookup("content") != nil
	// A field that does not exist only fails when executed: try it now.
	sample := pageData{
		Product: "Caddy", Title: "Sign in", Heading: "Sign in to Caddy", Nonce: "n",
		RD: "/", StartURL: "/_plexauth/start", PollURL: "/_plexauth/poll",
		ScriptURL: "/_plexauth/login.js", LoginURL: "/_plexauth/login",
	}
	if err := p.executeLogin(io.Discard, sample); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}

func (p *pages) executeLogin(w io.Writer, d pageData) error {
	if p.inLayout {
		return p.customLogin.ExecuteTemplate(w, "layout", d)
	}
	return p.customLogin.Execute(w, d)
}

func (p *pages) loadLogo(logo string) error {
	if strings.HasPrefix(logo, "http://") || strings.HasPrefix(logo, "https://") {
		u, err := url.Parse(logo)
		if err != nil || u.Host == "" {
			return fmt.Errorf("%q is not an absolute URL", logo)
		}
		p.logoURL = u.String()
		p.imgSrc = "'self' " + u.Scheme + "://" + u.Host
		return nil
	}
	f, err := os.Open(logo)
	if err != nil {
		return err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxLogoSize+1))
	if err != nil {
		return err
	}
	if len(data) > maxLogoSize {
		return fmt.Errorf("%s is larger than %d KiB", logo, maxLogoSize>>10)
	}
	typ := mime.TypeByExtension(strings.ToLower(filepath.Ext(logo)))
	if typ == "" {
		typ = http.DetectContentType(data)
	}
	if !strings.HasPrefix(typ, "image/") {
		return fmt.Errorf("%s is not an image (%s)", logo, typ)
	}
	p.logo, p.logoType, p.logoVersion = data, typ, shortHash(data)
	return nil
}

func shortHash(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6])
}

// pageData is what the page templates see. docs/login_template.md lists
// these fields for operators who write a login_template: keep the two in
// step.
type pageData struct {
	Product     string // the product option: the site's name
	Title       string // the page's title, before " · Product"
	Heading     string // the login page's heading: login_title, or "Sign in to Product"
	Nonce       string // this response's CSP nonce, for <style> and <script>
	LogoURL     string // the login_logo to show; empty for the built-in mark
	Refresh     int    // seconds before the page reloads itself; 0 for never
	RD          string // where to go after signing in
	Account     string // the Plex username refused (denied page)
	SignedOut   bool   // the user just signed out (login page)
	StartURL    string // where the sign-in form posts
	PollURL     string // where the script polls (login page)
	ScriptURL   string // the login page's script (login page)
	LoginURL    string // the login page
	LogoutURL   string // the logout endpoint (denied and logout pages)
	CallbackURL string // the callback, to check again (waiting and limited pages)
	StoreDown   bool   // the unavailable page is about the session store, not plex.tv
	PlexProblem string // plextv.Problem: unreachable, timeout or error: what went wrong with plex.tv (unavailable page)
	RetryAfter  int    // seconds to wait before trying again (limited page)
	// SetupNeedsAttention: the unavailable page is about the site's Plex
	// set-up (owner_token), not plex.tv.
	SetupNeedsAttention bool
}

// render writes one of the module's pages with a strict
// Content-Security-Policy: nothing loads from elsewhere, style and script
// only with this response's nonce, fetch only to this site, forms post only
// to this site or to Plex's sign-in page (the start form's answer redirects
// there), no framing.
func (h *PlexAuth) render(w http.ResponseWriter, r *http.Request, status int, name string, d pageData) {
	base := h.externalPrefix(r)
	d.Product = h.Product
	d.Nonce = base64.RawURLEncoding.EncodeToString(randomBytes(16))
	if d.Title == "" {
		d.Title = "Sign in"
	}
	if d.Heading == "" {
		d.Heading = h.LoginTitle
	}
	if d.Heading == "" {
		d.Heading = "Sign in to " + h.Product
	}
	switch {
	case h.pages.logo != nil:
		d.LogoURL = base + "/logo?v=" + h.pages.logoVersion
	case h.pages.logoURL != "":
		d.LogoURL = h.pages.logoURL
	}
	if name == "login" {
		d.PollURL = base + "/poll"
		d.ScriptURL = base + "/login.js?v=" + h.pages.scriptVersion
	}

	var buf bytes.Buffer
	var err error
	if name == "login" && h.pages.customLogin != nil {
		err = h.pages.executeLogin(&buf, d)
	} else {
		err = h.pages.t[name].ExecuteTemplate(&buf, "layout", d)
	}
	if err != nil {
		h.logger.Error("rendering page", zap.String("page", name), zap.Error(err))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+d.Nonce+"'; style-src 'nonce-"+d.Nonce+"'; img-src "+h.pages.imgSrc+"; connect-src 'self'; form-action 'self' "+h.appOrigin+"; frame-ancestors 'none'; base-uri 'none'")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}

func (h *PlexAuth) renderDenied(w http.ResponseWriter, r *http.Request, account, rd string) {
	base := h.externalPrefix(r)
	h.render(w, r, http.StatusForbidden, "denied", pageData{
		Title: "No access", Account: account, RD: rd,
		LogoutURL: base + "/logout", LoginURL: base + "/login",
	})
}

// serveScript serves the login page's script. Its URL carries a hash of its
// content, so it can be cached across a session and still change with the
// module.
func (h *PlexAuth) serveScript(w http.ResponseWriter, r *http.Request) {
	serveAsset(w, r, "text/javascript; charset=utf-8", h.pages.script, h.pages.scriptVersion, "default-src 'none'")
}

// serveLogo serves a login_logo given as a file. The login page shows it to
// people without a session, so it cannot live behind the handler.
func (h *PlexAuth) serveLogo(w http.ResponseWriter, r *http.Request) {
	if h.pages.logo == nil {
		writeStatus(w, r, http.StatusNotFound, "not found", "")
		return
	}
	// An SVG opened directly would run its scripts on this origin; this
	// CSP stops that and changes nothing for <img>.
	serveAsset(w, r, h.pages.logoType, h.pages.logo, h.pages.logoVersion, "default-src 'none'; style-src 'unsafe-inline'; sandbox")
}

func serveAsset(w http.ResponseWriter, r *http.Request, typ string, body []byte, version, csp string) {
	hdr := w.Header()
	hdr.Set("Content-Type", typ)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Content-Security-Policy", csp)
	hdr.Set("ETag", `"`+version+`"`)
	if r.URL.Query().Get("v") == version {
		hdr.Set("Cache-Control", "public, max-age=86400")
	} else {
		hdr.Set("Cache-Control", "no-cache")
	}
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, `"`+version+`"`) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}
