package plexauth

import (
	"bytes"
	"embed"
	"encoding/base64"
	"html/template"
	"net/http"

	"go.uber.org/zap"
)

//go:embed templates/*.html
var templateFS embed.FS

// pageNames are the pages the module serves; each is templates/<name>.html
// rendered inside templates/layout.html.
var pageNames = []string{"login", "waiting", "denied", "expired", "unavailable", "badstate"}

type pages struct {
	t map[string]*template.Template
}

func loadPages() (*pages, error) {
	p := &pages{t: make(map[string]*template.Template, len(pageNames))}
	for _, name := range pageNames {
		t, err := template.ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, err
		}
		p.t[name] = t
	}
	return p, nil
}

// pageData is what the page templates see.
type pageData struct {
	Product     string
	Title       string
	Heading     string
	Nonce       string
	LogoURL     string
	Refresh     int
	RD          string
	Account     string
	SignedOut   bool
	StartURL    string
	LoginURL    string
	LogoutURL   string
	CallbackURL string
}

// render writes one of the module's pages with a strict
// Content-Security-Policy: nothing loads from elsewhere, inline style only
// with this response's nonce, forms post only to this site or to Plex's
// sign-in page (the start form's answer redirects there).
func (h *PlexAuth) render(w http.ResponseWriter, r *http.Request, status int, name string, d pageData) {
	d.Product = h.Product
	d.Nonce = base64.RawStdEncoding.EncodeToString(randomBytes(16))
	if d.Title == "" {
		d.Title = "Sign in"
	}
	if d.Heading == "" {
		d.Heading = "Sign in to " + h.Product
	}
	var buf bytes.Buffer
	if err := h.pages.t[name].ExecuteTemplate(&buf, "layout", d); err != nil {
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
	hdr.Set("Content-Security-Policy", "default-src 'none'; style-src 'nonce-"+d.Nonce+"'; img-src 'self' data:; form-action 'self' "+h.appOrigin+"; frame-ancestors 'none'; base-uri 'none'")
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
