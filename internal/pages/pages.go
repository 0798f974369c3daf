// Package pages holds the module's HTML pages: the built-in templates
// embedded in the binary, the login page's script, and the operator's
// login_template and login_logo, all loaded once (at Provision) so that
// rendering a page cannot fail on a file a user request would reach. It
// writes bodies only; the HTTP answer (headers, the CSP with its nonce) is
// the caller's.
package pages

import (
	"crypto/sha256"
	"embed"
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
)

// The module's pages are html/templates embedded in the binary; everything
// they use (styles, script, icons) comes from the module itself, so a login
// page makes no request to anyone else.

//go:embed templates/*.html templates/login.js
var templateFS embed.FS

// Names are the pages the module serves; each is templates/<name>.html
// rendered inside templates/layout.html, with templates/signin.html (the
// sign-in form, its messages and its script) available to all. Execute
// accepts exactly these names.
var Names = []string{"login", "waiting", "denied", "expired", "unavailable", "badstate", "limited", "logout", "used"}

// MaxLogoSize bounds a login_logo file: it is kept in memory, and Load
// refuses a larger one.
const MaxLogoSize = 512 << 10

// Set is the loaded pages of one block. It is only read after Load, so
// any number of requests may use it at once.
type Set struct {
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

// Load parses the built-in pages, and the operator's login template and
// logo when given. It runs at Provision, so a broken template or logo stops
// the config from loading instead of failing a user later: an error names
// the option (login_template, login_logo) and the file.
func Load(loginTemplate, logo string) (*Set, error) {
	p := &Set{t: make(map[string]*template.Template, len(Names)), imgSrc: "'self'"}
	for _, name := range Names {
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

func (p *Set) loadLoginTemplate(file string) error {
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
	sample := Data{
		Product: "Caddy", Title: "Sign in", Heading: "Sign in to Caddy", Nonce: "n",
		RD: "/", StartURL: "/_plexauth/start", PollURL: "/_plexauth/poll",
		ScriptURL: "/_plexauth/login.js", LoginURL: "/_plexauth/login",
	}
	if err := p.executeLogin(io.Discard, sample); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}

func (p *Set) executeLogin(w io.Writer, d Data) error {
	if p.inLayout {
		return p.customLogin.ExecuteTemplate(w, "layout", d)
	}
	return p.customLogin.Execute(w, d)
}

func (p *Set) loadLogo(logo string) error {
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
	data, err := io.ReadAll(io.LimitReader(f, MaxLogoSize+1))
	if err != nil {
		return err
	}
	if len(data) > MaxLogoSize {
		return fmt.Errorf("%s is larger than %d KiB", logo, MaxLogoSize>>10)
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

// Data is what the page templates see. docs/login_template.md lists
// these fields for operators who write a login_template: keep the two in
// step.
type Data struct {
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

// Execute writes page name with d: the operator's login_template for
// "login" when there is one, the built-in page otherwise. name must be one
// of Names. An error leaves w with part of a page at most: write to a
// buffer and send it only when Execute succeeds.
func (p *Set) Execute(w io.Writer, name string, d Data) error {
	if name == "login" && p.customLogin != nil {
		return p.executeLogin(w, d)
	}
	return p.t[name].ExecuteTemplate(w, "layout", d)
}

// Script is the login page's script and its version, a hash of its
// content for the URL that caches it.
func (p *Set) Script() (body []byte, version string) { return p.script, p.scriptVersion }

// Logo is the login_logo given as a file: its bytes, Content-Type and
// version (a hash of its content); nil bytes when there is none.
func (p *Set) Logo() (body []byte, typ, version string) { return p.logo, p.logoType, p.logoVersion }

// LogoURL is the login_logo given as an absolute URL, or "".
func (p *Set) LogoURL() string { return p.logoURL }

// ImgSrc is the CSP img-src the pages need: 'self', plus the origin of a
// login_logo given as a URL.
func (p *Set) ImgSrc() string { return p.imgSrc }
