package plexauth

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/caddy-plexauth/caddy-plexauth/internal/pages"
)

// The module's pages are rendered by internal/pages; here is their HTTP
// answer: the headers, the strict CSP, and the assets they load.

// pageData is what the page templates see (internal/pages lists the fields).
type pageData = pages.Data

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
	logo, _, logoVersion := h.pages.Logo()
	switch {
	case logo != nil:
		d.LogoURL = base + "/logo?v=" + logoVersion
	case h.pages.LogoURL() != "":
		d.LogoURL = h.pages.LogoURL()
	}
	if name == "login" {
		_, scriptVersion := h.pages.Script()
		d.PollURL = base + "/poll"
		d.ScriptURL = base + "/login.js?v=" + scriptVersion
	}

	var buf bytes.Buffer
	if err := h.pages.Execute(&buf, name, d); err != nil {
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
	hdr.Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+d.Nonce+"'; style-src 'nonce-"+d.Nonce+"'; img-src "+h.pages.ImgSrc()+"; connect-src 'self'; form-action 'self' "+h.appOrigin+"; frame-ancestors 'none'; base-uri 'none'")
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
	script, version := h.pages.Script()
	serveAsset(w, r, "text/javascript; charset=utf-8", script, version, "default-src 'none'")
}

// serveLogo serves a login_logo given as a file. The login page shows it to
// people without a session, so it cannot live behind the handler.
func (h *PlexAuth) serveLogo(w http.ResponseWriter, r *http.Request) {
	logo, typ, version := h.pages.Logo()
	if logo == nil {
		writeStatus(w, r, http.StatusNotFound, "not found", "")
		return
	}
	// An SVG opened directly would run its scripts on this origin; this
	// CSP stops that and changes nothing for <img>.
	serveAsset(w, r, typ, logo, version, "default-src 'none'; style-src 'unsafe-inline'; sandbox")
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
