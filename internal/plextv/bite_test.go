package plextv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"
)

// statusServer answers every call with status (and Retry-After, body, when
// given).
func statusServer(t *testing.T, status int, retryAfter, body string) *Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return New(Config{BaseURL: srv.URL, Product: "p", ClientID: "c", Timeout: 5 * time.Second})
}

type failure int

const (
	rejected failure = iota
	pinGone
	unavailable
	plain // an answer plex.tv should not give: neither of the above
)

func kindOf(err error) failure {
	var un *Unavailable
	switch {
	case errors.Is(err, ErrTokenRejected):
		return rejected
	case errors.Is(err, ErrPinNotFound):
		return pinGone
	case errors.As(err, &un):
		return unavailable
	}
	return plain
}

// Each status means what the client's doc says, for each call: 401 and
// 498 reject the token on any call, another 4xx only on the user call; a
// 404 is a missing pin only for a pin; 429 and every 5xx from 500 up are
// plex.tv unavailable; anything else is a plain error.
func TestEachStatusMeansWhatItSaysOnEachCall(t *testing.T) {
	ctx := context.Background()
	calls := map[string]func(*Client) error{
		"user":      func(c *Client) error { _, err := c.User(ctx, "t"); return err },
		"resources": func(c *Client) error { _, err := c.Resources(ctx, "t"); return err },
		"users":     func(c *Client) error { _, err := c.Users(ctx, "t"); return err },
		"pin":       func(c *Client) error { _, err := c.CheckPin(ctx, 7); return err },
	}
	for _, c := range []struct {
		status int
		want   map[string]failure
	}{
		{300, map[string]failure{"user": plain, "resources": plain, "users": plain, "pin": plain}},
		{400, map[string]failure{"user": rejected, "resources": plain, "users": plain, "pin": plain}},
		{401, map[string]failure{"user": rejected, "resources": rejected, "users": rejected, "pin": rejected}},
		{403, map[string]failure{"user": rejected, "resources": plain, "users": plain, "pin": plain}},
		{404, map[string]failure{"user": rejected, "resources": plain, "users": plain, "pin": pinGone}},
		{498, map[string]failure{"user": rejected, "resources": rejected, "users": rejected, "pin": rejected}},
		{499, map[string]failure{"user": rejected, "resources": plain, "users": plain, "pin": plain}},
		{429, map[string]failure{"user": unavailable, "resources": unavailable, "users": unavailable, "pin": unavailable}},
		{500, map[string]failure{"user": unavailable, "resources": unavailable, "users": unavailable, "pin": unavailable}},
		{502, map[string]failure{"user": unavailable, "resources": unavailable, "users": unavailable, "pin": unavailable}},
	} {
		cl := statusServer(t, c.status, "", "")
		for name, call := range calls {
			err := call(cl)
			if err == nil {
				t.Fatalf("%d to the %s call: no error", c.status, name)
			}
			if got := kindOf(err); got != c.want[name] {
				t.Errorf("%d to the %s call: %v is kind %d, want %d", c.status, name, err, got, c.want[name])
			}
		}
	}
}

// A failure plex.tv answered names its status; only no answer is
// "unreachable" (the operator's log tells a network problem from plex.tv's).
func TestUnavailableSaysTheStatusOrWhyNoAnswerCame(t *testing.T) {
	if got := (&Unavailable{Status: 503, Err: errors.New("503 Service Unavailable")}).Error(); got != "plex.tv answered 503" {
		t.Errorf("with a status: %q", got)
	}
	if got := (&Unavailable{Err: errors.New("connection refused")}).Error(); got != "plex.tv unreachable: connection refused" {
		t.Errorf("without a status: %q", got)
	}
}

// Problem by the error's own kind: an answer is always ProblemError, a
// dial that failed any way is unreachable, a connection dropped after it
// was made is an error, not a timeout.
func TestProblemTellsTheFailuresApart(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want string
	}{
		{"an answer, whatever its cause says", &Unavailable{Status: 503, Err: context.DeadlineExceeded}, ProblemError},
		{"no route to host", &Unavailable{Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.EHOSTUNREACH}}, ProblemUnreachable},
		{"refused", &Unavailable{Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}, ProblemUnreachable},
		{"no such host", &Unavailable{Err: &net.DNSError{Err: "no such host", Name: "plex.tv"}}, ProblemUnreachable},
		{"reset while reading", &Unavailable{Err: &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}}, ProblemError},
		{"deadline", &Unavailable{Err: fmt.Errorf("get: %w", context.DeadlineExceeded)}, ProblemTimeout},
		{"something else", errors.New("odd"), ProblemError},
	} {
		if got := Problem(c.err); got != c.want {
			t.Errorf("%s: Problem(%v) = %q, want %q", c.name, c.err, got, c.want)
		}
	}
}

// Every call says who asks, as plex.tv wants (the X-Plex-* headers of the
// Plex API), and the token only in its header.
func TestEveryCallCarriesTheClientHeaders(t *testing.T) {
	plex := fakePlex(t)
	token := plex.Account("owner").Token
	c := New(Config{BaseURL: plex.URL, Product: "Media at example.com", ClientID: "cid-1", Timeout: 5 * time.Second})
	ctx := context.Background()
	pin, err := c.CreatePin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CheckPin(ctx, pin.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.User(ctx, token); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"Accept":                   "application/json",
		"X-Plex-Product":           "Media at example.com",
		"X-Plex-Device-Name":       "Media at example.com",
		"X-Plex-Client-Identifier": "cid-1",
		"X-Plex-Version":           moduleVersion,
		"X-Plex-Platform":          "Caddy",
		"X-Plex-Device":            "Caddy",
	}
	reqs := plex.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	for _, r := range reqs {
		for k, v := range want {
			if got := r.Header.Get(k); got != v {
				t.Errorf("%s %s: %s = %q, want %q", r.Method, r.Path, k, got, v)
			}
		}
		if strings.Contains(r.Query.Encode(), token) {
			t.Errorf("%s %s: the token is in the URL", r.Method, r.Path)
		}
	}
	if got := reqs[2].Header.Get("X-Plex-Token"); got != token {
		t.Errorf("the user call's X-Plex-Token = %q, want the token", got)
	}
	if got := reqs[0].Header.Get("X-Plex-Token"); got != "" {
		t.Errorf("creating a pin sent a token %q", got)
	}
}

// An address that is no URL is an error, not a crash.
func TestBadBaseURLIsAnError(t *testing.T) {
	c := New(Config{BaseURL: "http://plex tv\x7f", Timeout: time.Second})
	if _, err := c.User(context.Background(), "t"); err == nil {
		t.Fatal("a call to an address that is no URL succeeded")
	}
}

// An answer cut short is plex.tv unavailable, whatever its status said:
// a 401 whose body broke off does not end anyone's session.
func TestAnswerCutShortIsUnavailable(t *testing.T) {
	for _, status := range []int{http.StatusOK, http.StatusUnauthorized} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", "100")
			w.WriteHeader(status)
			w.Write([]byte(`{"id":1`))
			// Returning with less than Content-Length written makes
			// net/http close the connection.
		}))
		_, err := New(Config{BaseURL: srv.URL, Timeout: 5 * time.Second}).User(context.Background(), "t")
		srv.Close()
		var un *Unavailable
		if !errors.As(err, &un) || un.Status != 0 || errors.Is(err, ErrTokenRejected) {
			t.Errorf("%d cut short: %v, want *Unavailable without a status", status, err)
		}
	}
}

// Closing idle connections closes the one a call left open (a reload
// drops its handler's connections to plex.tv).
func TestCloseIdleConnectionsClosesThem(t *testing.T) {
	closed := make(chan struct{}, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"id":1,"uuid":"u","username":"a"}`))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			closed <- struct{}{}
		}
	}
	srv.Start()
	defer srv.Close()
	c := New(Config{BaseURL: srv.URL, Timeout: 5 * time.Second, HTTP: &http.Client{Transport: &http.Transport{}}})
	if _, err := c.User(context.Background(), "t"); err != nil {
		t.Fatal(err)
	}
	c.CloseIdleConnections()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the idle connection is still open")
	}
}

// A pin plex.tv returns without an id or a code cannot be finished: it is
// plex.tv unavailable, not a pin. A failed creation keeps plex.tv's status
// and Retry-After.
func TestCreatedPinNeedsAnIDAndACode(t *testing.T) {
	ctx := context.Background()
	for _, body := range []string{`{"id":0,"code":"abcd"}`, `{"id":5,"code":""}`, `{}`} {
		p, err := statusServer(t, http.StatusCreated, "", body).CreatePin(ctx)
		var un *Unavailable
		if p != nil || !errors.As(err, &un) {
			t.Errorf("pin %s: %+v, %v; want *Unavailable", body, p, err)
		}
	}
	if p, err := statusServer(t, http.StatusCreated, "", `{"id":5,"code":"abcd"}`).CreatePin(ctx); err != nil || p.ID != 5 || p.Code != "abcd" {
		t.Fatalf("a whole pin: %+v, %v", p, err)
	}
	p, err := statusServer(t, http.StatusTooManyRequests, "9", "").CreateCodePin(ctx)
	var un *Unavailable
	if p != nil || !errors.As(err, &un) || un.Status != http.StatusTooManyRequests || un.RetryAfter != 9*time.Second {
		t.Fatalf("429 with Retry-After 9: %+v, %v; want *Unavailable 429 asking 9s", p, err)
	}
}

// WaitForPin returns ctx's error as it is when its wait ends for another
// reason than the deadline (the user pressed Ctrl-C): it does not poll on.
func TestWaitForPinStopsWhenItsContextIsCanceled(t *testing.T) {
	plex := fakePlex(t)
	c := setupClient(plex)
	pin, err := c.CreateCodePin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	sleeps := 0
	_, err = c.WaitForPin(ctx, pin.ID, func(ctx context.Context, _ time.Duration) error {
		if sleeps++; sleeps > 3 {
			t.Fatal("WaitForPin polls on after its context was canceled")
		}
		return ctx.Err()
	})
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrCodeExpired) {
		t.Fatalf("canceled: %v, want context.Canceled", err)
	}
}

// An approved pin carries a token; plex.tv's "authToken": "" is not one,
// and WaitForPin polls on until it is.
func TestWaitForPinTakesNoEmptyToken(t *testing.T) {
	polls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		polls++
		w.Header().Set("Content-Type", "application/json")
		if polls < 3 {
			w.Write([]byte(`{"id":7,"code":"abcd","authToken":""}`))
			return
		}
		w.Write([]byte(`{"id":7,"code":"abcd","authToken":"the-token"}`))
	}))
	defer srv.Close()
	c := New(Config{BaseURL: srv.URL, Timeout: 5 * time.Second})
	token, err := c.WaitForPin(context.Background(), 7, func(context.Context, time.Duration) error { return nil })
	if err != nil || token != "the-token" || polls != 3 {
		t.Fatalf("WaitForPin = %q, %v after %d polls; want the token after 3", token, err, polls)
	}
}

// AppURL puts the client, the code and the product in the fragment, and
// forwardUrl only when there is somewhere to come back to.
func TestAppURLCarriesItsParametersInTheFragment(t *testing.T) {
	for _, forward := range []string{"https://tools.example.com/_plexauth/callback", ""} {
		u := AppURL("https://app.plex.tv/auth", "cid-1", "c0de", "Media & more", forward)
		base, frag, ok := strings.Cut(u, "#?")
		if !ok || base != "https://app.plex.tv/auth" {
			t.Fatalf("%q: want the sign-in page and a fragment", u)
		}
		v, err := url.ParseQuery(frag)
		if err != nil {
			t.Fatal(err)
		}
		want := url.Values{"clientID": {"cid-1"}, "code": {"c0de"}, "context[device][product]": {"Media & more"}}
		if forward != "" {
			want.Set("forwardUrl", forward)
		}
		if v.Encode() != want.Encode() {
			t.Errorf("forward %q: fragment %v, want %v", forward, v, want)
		}
	}
}
