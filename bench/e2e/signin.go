package e2e

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
)

const (
	benchUser     = "bench"
	benchPassword = "correct horse battery staple"
	plexAccount   = "viewer"
	sessionCookie = "plex_auth_session"
)

func basicAuthHeader() string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(benchUser+":"+benchPassword))
}

// signIn walks the flow a browser walks against the plex_auth site and
// returns the "name=value" of the session cookie it ends with.
func signIn(plex plexTV, port int) (string, error) {
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	resp, err := c.PostForm(base+"/_plexauth/start", url.Values{"rd": {"/"}})
	if err != nil {
		return "", err
	}
	drain(resp)
	loc := resp.Header.Get("Location")
	_, frag, ok := strings.Cut(loc, "#?")
	if resp.StatusCode != http.StatusSeeOther || !ok {
		return "", fmt.Errorf("start answered %s, Location %q", resp.Status, loc)
	}
	q, err := url.ParseQuery(frag)
	if err != nil {
		return "", err
	}
	if err := plex.Approve(q.Get("code"), plexAccount); err != nil {
		return "", err
	}

	resp, err = c.Get(base + "/_plexauth/callback")
	if err != nil {
		return "", err
	}
	drain(resp)
	for _, ck := range resp.Cookies() {
		if ck.Name == sessionCookie && ck.MaxAge > 0 {
			return ck.Name + "=" + ck.Value, nil
		}
	}
	return "", fmt.Errorf("callback answered %s without a session cookie", resp.Status)
}

// checkOK makes sure s admits the benchmark's requests before they are
// measured: a site that answered 401 fast would win.
func checkOK(s site) error {
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/", s.port), nil)
	for _, h := range s.header {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Add(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "ok" {
		return fmt.Errorf("answered %s %q, want 200 \"ok\"", resp.Status, body)
	}
	return nil
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}
