// Package appsignin signs a Plex user into an application that has a
// "Sign in with Plex" of its own, server-side, with the user's Plex token,
// and signs that application session out again. [App] speaks the
// applications' own HTTP calls and nothing else. [Block] is one plex_auth
// block's app_sign_in at run time: it keeps the application session in
// the plex_auth session (package session holds it as a fact), backs off
// per session after a refusal or a failed call, pauses for everyone after
// a 429, and makes one call for the concurrent first requests of a
// session. It decides no access and imports no Caddy module of its own;
// the root counts, audits and answers.
//
// Two kinds are known:
//
//   - [Overseerr]: Overseerr, and its successors Seerr and Jellyseerr,
//     which share the API (sct/overseerr and seerr-team/seerr,
//     server/routes/auth.ts and server/index.ts): POST /api/v1/auth/plex
//     with JSON {"authToken": token} answers 200 and sets the
//     express-session cookie connect.sid; POST /api/v1/auth/logout
//     destroys it.
//   - [Tautulli] (Tautulli/Tautulli, plexpy/webauth.py and
//     plexpy/webstart.py): POST <root>/auth/signin with the form fields
//     token and remember_me=1 answers JSON and sets
//     tautulli_token_<10 hex>, the hex being the start of the SHA-256 of
//     the Plex server's identifier; GET <root>/auth/logout ends it.
//
// A call carries only what the application needs from this package: never
// a browser's cookies or headers. Overseerr, asked with a live session
// cookie, would update that session's user with the new token instead of
// signing the token's account in (auth.ts: "If we are already logged in").
package appsignin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Kind names an application's sign-in API.
type Kind string

// The kinds of application this package signs into.
const (
	// Overseerr is Overseerr, Seerr and Jellyseerr.
	Overseerr Kind = "overseerr"
	// Tautulli is Tautulli.
	Tautulli Kind = "tautulli"
)

// Cookie names of the applications.
const (
	// OverseerrCookie is the session cookie Overseerr's express-session sets.
	OverseerrCookie = "connect.sid"
	// TautulliCookiePrefix begins the name of Tautulli's sign-in cookie;
	// the rest of the name depends on the Plex server Tautulli watches.
	TautulliCookiePrefix = "tautulli_token_"
)

// maxBody bounds what is read of an application's answer.
const maxBody = 1 << 20

// App is one application to sign users into. Its methods are safe for
// concurrent use.
type App struct {
	kind   Kind
	base   string // scheme://host[/root], without a trailing slash
	apiKey string
	client *http.Client
}

// New returns the application of kind listening at rawURL (the address
// plex_auth calls, usually the upstream's; its path is the application's
// HTTP root). apiKey is Tautulli's API key, sent as X-Api-Key so that the
// sign-in skips Tautulli's CSRF check; Overseerr takes none. Every call is
// bounded by timeout. The error says what is wrong with kind, rawURL or
// apiKey, and never repeats apiKey.
func New(kind, rawURL, apiKey string, timeout time.Duration) (*App, error) {
	k := Kind(kind)
	switch k {
	case Overseerr:
		if apiKey != "" {
			return nil, errors.New("overseerr takes no API key")
		}
	case Tautulli:
		if strings.ContainsAny(apiKey, "\r\n\x00") {
			return nil, errors.New("the API key must be one line")
		}
	default:
		return nil, fmt.Errorf("unknown kind %q (want overseerr or tautulli)", kind)
	}
	base, err := checkURL(rawURL)
	if err != nil {
		return nil, err
	}
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return &App{kind: k, base: base, apiKey: apiKey, client: &http.Client{
		Timeout: timeout,
		// An answer's redirect is the answer: following it could carry the
		// session cookie, or a POST body, somewhere else.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}, nil
}

// checkURL returns rawURL without a trailing slash, or why it cannot be an
// application's address.
func checkURL(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("%q is not a URL", rawURL)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "", u.Opaque != "":
		return "", fmt.Errorf("%q is not an absolute http(s) URL", rawURL)
	case u.User != nil:
		return "", fmt.Errorf("%q carries credentials; the application's URL must not", rawURL)
	case u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(rawURL, "?") || strings.HasSuffix(rawURL, "#"):
		return "", fmt.Errorf("%q has a query or a fragment; give the application's root only", rawURL)
	}
	return strings.TrimRight(u.Scheme+"://"+u.Host+u.EscapedPath(), "/"), nil
}

// Kind is the application's kind.
func (a *App) Kind() Kind { return a.kind }

// URL is the application's address as configured, without a trailing
// slash. With Kind, it names the application in what callers keep.
func (a *App) URL() string { return a.base }

// IsCookie reports whether name is the name of the application's sign-in
// cookie (for Tautulli, any name with TautulliCookiePrefix).
func (a *App) IsCookie(name string) bool {
	if a.kind == Tautulli {
		return strings.HasPrefix(name, TautulliCookiePrefix)
	}
	return name == OverseerrCookie
}

// LogoutPath is the method and path (under the application's root) of the
// application's own sign-out, as a browser calls it.
func (a *App) LogoutPath() (method, path string) {
	root := ""
	if u, err := url.Parse(a.base); err == nil {
		root = u.Path
	}
	if a.kind == Tautulli {
		return http.MethodGet, root + "/auth/logout"
	}
	return http.MethodPost, root + "/api/v1/auth/logout"
}

// Cookie is an application session cookie as the application set it.
type Cookie struct {
	Name  string
	Value string
	// Path is the cookie's path; "/" when the application set none.
	Path string
	// Expires is when the application said the cookie ends (from Max-Age
	// or Expires); zero when it set neither.
	Expires time.Time
}

// Refused is the application's answer when it did not sign the user in,
// or did not sign the session out.
type Refused struct {
	// Status is the application's HTTP status; 200 for a 200 that set no
	// session cookie (Seerr's REQUIRES_PROFILE).
	Status int
	// Message is a short, printable summary of the application's answer
	// (its JSON message or status, else the start of its body), never
	// holding the Plex token.
	Message string
	// RetryAfter is the application's Retry-After (a 429: Tautulli locks
	// an address out after ten failed sign-ins in five minutes); 0 when
	// it gave none.
	RetryAfter time.Duration
}

func (e *Refused) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("the application answered %d", e.Status)
	}
	return fmt.Sprintf("the application answered %d: %s", e.Status, e.Message)
}

// SignIn signs the account of the Plex token in and returns the session
// cookie the application set. The error is a *Refused when the
// application answered without signing the user in, anything else when
// it could not be asked (unreachable, timed out, an answer that could not
// be read). No error, and no Refused, holds token.
func (a *App) SignIn(ctx context.Context, token string) (Cookie, error) {
	if token == "" {
		return Cookie{}, &Refused{Message: "no Plex token"}
	}
	var c Cookie
	var err error
	if a.kind == Tautulli {
		c, err = a.tautulliSignIn(ctx, token)
	} else {
		c, err = a.overseerrSignIn(ctx, token)
	}
	var ref *Refused
	if errors.As(err, &ref) {
		ref.Message = strings.ReplaceAll(ref.Message, token, "…")
	}
	return c, err
}

// SignOut ends the application session c names. The error is a *Refused
// when the application answered otherwise than it does to a sign-out.
func (a *App) SignOut(ctx context.Context, c Cookie) error {
	if a.kind == Tautulli {
		// Tautulli answers its logout with a redirect to its login page.
		resp, err := a.do(ctx, http.MethodGet, "/auth/logout", nil, "", []*http.Cookie{{Name: c.Name, Value: c.Value}}, nil)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode >= 400 {
			return refusal(resp, "")
		}
		return nil
	}
	resp, err := a.overseerrPost(ctx, "/api/v1/auth/logout", nil, []*http.Cookie{{Name: c.Name, Value: c.Value}})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return refusal(resp, "")
	}
	return nil
}

func (a *App) overseerrSignIn(ctx context.Context, token string) (Cookie, error) {
	body, err := json.Marshal(map[string]string{"authToken": token})
	if err != nil {
		return Cookie{}, err
	}
	resp, err := a.overseerrPost(ctx, "/api/v1/auth/plex", body, nil)
	if err != nil {
		return Cookie{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Cookie{}, refusal(resp, token)
	}
	if c, ok := a.sessionCookie(resp); ok {
		return c, nil
	}
	// Seerr answers the admin and the Plex Home's main user 200
	// {"status":"REQUIRES_PROFILE"} and signs in no one until a profile
	// is chosen: a 200 without a session cookie is a refusal.
	return Cookie{}, refusal(resp, token)
}

// overseerrPost posts body (JSON) to path. Overseerr's optional "CSRF
// Protection" (csurf with its secret in the _csrf cookie, server/index.ts)
// answers 403 "invalid csrf token" to a POST without the token: then the
// token is fetched, as its own pages get it (the XSRF-TOKEN cookie of any
// answer), and the POST sent once more with it.
func (a *App) overseerrPost(ctx context.Context, path string, body []byte, cookies []*http.Cookie) (*http.Response, error) {
	resp, err := a.do(ctx, http.MethodPost, path, body, "application/json", cookies, nil)
	if err != nil || resp.StatusCode != http.StatusForbidden {
		return resp, err
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if !strings.Contains(strings.ToLower(string(msg)), "csrf") {
		// Not the CSRF check: give the answer back as it came.
		resp.Body = io.NopCloser(strings.NewReader(string(msg)))
		return resp, nil
	}
	tr, err := a.do(ctx, http.MethodGet, "/api/v1/status", nil, "", nil, nil)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(tr.Body, maxBody))
	tr.Body.Close()
	var secret, xsrf *http.Cookie
	for _, c := range tr.Cookies() {
		switch c.Name {
		case "_csrf":
			secret = c
		case "XSRF-TOKEN":
			xsrf = c
		}
	}
	if secret == nil || xsrf == nil {
		return nil, errors.New("the application asked for a CSRF token and gave none")
	}
	tok, err := url.QueryUnescape(xsrf.Value)
	if err != nil {
		tok = xsrf.Value
	}
	return a.do(ctx, http.MethodPost, path, body, "application/json",
		append(cookies, &http.Cookie{Name: secret.Name, Value: secret.Value}), http.Header{"X-Xsrf-Token": {tok}})
}

// csrfMeta finds Tautulli's CSRF token in the page GET <root>/auth/login
// serves (data/interfaces/default/login.html: <meta name="csrf-token"
// content="...">).
var csrfMeta = regexp.MustCompile(`<meta\s+name="csrf-token"\s+content="([^"]*)"`)

func (a *App) tautulliSignIn(ctx context.Context, token string) (Cookie, error) {
	var cookies []*http.Cookie
	hdr := http.Header{}
	if a.apiKey != "" {
		// A valid X-Api-Key skips the CSRF check (check_csrf_token).
		hdr.Set("X-Api-Key", a.apiKey)
	} else {
		// Tautulli 2.17.1 on checks POSTs outside /api for an X-CSRF-Token
		// equal to the one kept in the server-side session that the
		// tautulli_session_<hash> cookie names; GET auth/login hands it
		// out. Older versions have neither, and check nothing.
		resp, err := a.do(ctx, http.MethodGet, "/auth/login", nil, "", nil, nil)
		if err != nil {
			return Cookie{}, err
		}
		page, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
		resp.Body.Close()
		if err != nil {
			return Cookie{}, err
		}
		if resp.StatusCode == http.StatusTooManyRequests {
			return Cookie{}, refusal(resp, token)
		}
		if m := csrfMeta.FindSubmatch(page); m != nil {
			hdr.Set("X-CSRF-Token", html.UnescapeString(string(m[1])))
			for _, c := range resp.Cookies() {
				if strings.HasPrefix(c.Name, "tautulli_session_") {
					cookies = append(cookies, &http.Cookie{Name: c.Name, Value: c.Value})
				}
			}
		}
	}
	form := url.Values{"token": {token}, "remember_me": {"1"}}
	resp, err := a.do(ctx, http.MethodPost, "/auth/signin", []byte(form.Encode()), "application/x-www-form-urlencoded", cookies, hdr)
	if err != nil {
		return Cookie{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Cookie{}, refusal(resp, token)
	}
	if c, ok := a.sessionCookie(resp); ok {
		return c, nil
	}
	return Cookie{}, refusal(resp, token)
}

// sessionCookie is the application's sign-in cookie among resp's.
func (a *App) sessionCookie(resp *http.Response) (Cookie, bool) {
	for _, c := range resp.Cookies() {
		if !a.IsCookie(c.Name) || c.Value == "" || c.MaxAge < 0 {
			continue
		}
		out := Cookie{Name: c.Name, Value: c.Value, Path: c.Path}
		if out.Path == "" || out.Path[0] != '/' {
			out.Path = "/"
		}
		switch {
		case c.MaxAge > 0:
			out.Expires = time.Now().Add(time.Duration(c.MaxAge) * time.Second)
		case !c.Expires.IsZero():
			out.Expires = c.Expires
		}
		return out, true
	}
	return Cookie{}, false
}

// do sends one request to the application with only what is given: no
// other cookie, no header of anyone's.
func (a *App) do(ctx context.Context, method, path string, body []byte, contentType string, cookies []*http.Cookie, hdr http.Header) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = strings.NewReader(string(body))
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	return a.client.Do(req)
}

// refusal reads resp into a *Refused, token removed from what it keeps.
func refusal(resp *http.Response, token string) *Refused {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	e := &Refused{Status: resp.StatusCode}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		if n, err := strconv.Atoi(strings.TrimSpace(ra)); err == nil && n > 0 {
			e.RetryAfter = time.Duration(min(n, 86400)) * time.Second
		} else if t, err := http.ParseTime(ra); err == nil {
			e.RetryAfter = max(time.Until(t), 0)
		}
	}
	var msg struct {
		Message string `json:"message"`
		Error   string `json:"error"`
		Status  string `json:"status"`
	}
	text := ""
	if json.Unmarshal(b, &msg) == nil {
		switch {
		case msg.Message != "":
			text = msg.Message
		case msg.Error != "":
			text = msg.Error
		default:
			text = msg.Status
		}
	} else {
		text = string(b)
	}
	if token != "" {
		text = strings.ReplaceAll(text, token, "…")
	}
	e.Message = printable(text, 200)
	return e
}

// printable is s with control characters replaced, cut to n bytes.
func printable(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "") + "…"
	}
	return s
}
