package plextv

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/caddy-plexauth/caddy-plexauth/plextest"
)

func TestRetryAfterInSecondsOrAsADate(t *testing.T) {
	for _, c := range []struct {
		header string
		want   time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"7", 7 * time.Second},
		{"-1", 0},
		{"soon", 0},
		{"1.5", 0},
		{time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat), 0},
	} {
		if got := parseRetryAfter(c.header); got != c.want {
			t.Errorf("Retry-After %q: %v, want %v", c.header, got, c.want)
		}
	}
	date := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	if got := parseRetryAfter(date); got <= 58*time.Minute || got > time.Hour {
		t.Errorf("Retry-After %q (an hour from now): %v", date, got)
	}
}

// Every call is reported to Observe once, under its endpoint, with
// plex.tv's status, or 0 when no answer came.
func TestEveryCallIsObservedUnderItsEndpoint(t *testing.T) {
	plex := fakePlex(t)
	token := plex.Account("owner").Token
	type call struct {
		endpoint string
		status   int
	}
	var seen []call
	c := New(Config{BaseURL: plex.URL, Product: "test", ClientID: "observe-test", Timeout: 5 * time.Second,
		Observe: func(endpoint string, status int, took time.Duration) {
			if took < 0 {
				t.Errorf("%s took %v", endpoint, took)
			}
			seen = append(seen, call{endpoint, status})
		}})
	ctx := context.Background()
	pin, err := c.CreatePin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CheckPin(ctx, pin.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CheckPin(ctx, pin.ID+1000); !errors.Is(err, ErrPinNotFound) {
		t.Fatalf("an unknown pin: %v, want ErrPinNotFound", err)
	}
	if _, err := c.User(ctx, token); err != nil {
		t.Fatal(err)
	}
	if _, err := c.User(ctx, "not-a-token"); !errors.Is(err, ErrTokenRejected) {
		t.Fatalf("a wrong token: %v, want ErrTokenRejected", err)
	}
	if _, err := c.Resources(ctx, token); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Users(ctx, token); err != nil {
		t.Fatal(err)
	}
	plex.Close()
	var un *Unavailable
	if _, err := c.User(ctx, token); !errors.As(err, &un) || un.Status != 0 {
		t.Fatalf("a closed plex.tv: %v, want *Unavailable without a status", err)
	}
	want := []call{{EndpointPins, 201}, {EndpointPin, 200}, {EndpointPin, 404}, {EndpointUser, 200},
		{EndpointUser, 401}, {EndpointResources, 200}, {EndpointUsers, 200}, {EndpointUser, 0}}
	if !slices.Equal(seen, want) {
		t.Fatalf("observed %v, want %v", seen, want)
	}
}

// plex.tv's failures come back as the errors a caller tells apart.
func TestFailuresAreToldApart(t *testing.T) {
	for _, c := range []struct {
		name       string
		status     int
		retryAfter string
		rejected   bool
		unavail    bool
		wantRetry  time.Duration
	}{
		{"401", http.StatusUnauthorized, "", true, false, 0},
		{"498: an expired token", statusTokenExpired, "", true, false, 0},
		{"422 to the user call", http.StatusUnprocessableEntity, "", true, false, 0},
		{"429 with Retry-After", http.StatusTooManyRequests, "30", false, true, 30 * time.Second},
		{"503", http.StatusServiceUnavailable, "", false, true, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if c.retryAfter != "" {
					w.Header().Set("Retry-After", c.retryAfter)
				}
				w.WriteHeader(c.status)
			}))
			defer srv.Close()
			cl := New(Config{BaseURL: srv.URL, Timeout: 5 * time.Second})
			_, err := cl.User(context.Background(), "t")
			var un *Unavailable
			if errors.Is(err, ErrTokenRejected) != c.rejected || errors.As(err, &un) != c.unavail {
				t.Fatalf("%v: rejected %v, unavailable %v; want %v, %v", err, errors.Is(err, ErrTokenRejected), un != nil, c.rejected, c.unavail)
			}
			if un != nil && (un.Status != c.status || un.RetryAfter != c.wantRetry) {
				t.Fatalf("%+v, want status %d, Retry-After %v", un, c.status, c.wantRetry)
			}
			if got := Problem(err); got != ProblemError {
				t.Fatalf("Problem(%v) = %q, want %q: plex.tv answered", err, got, ProblemError)
			}
		})
	}

	slow := plextest.NewServer()
	defer slow.Close()
	slow.SetDelay(time.Minute)
	_, err := New(Config{BaseURL: slow.URL, Timeout: 50 * time.Millisecond}).User(context.Background(), "t")
	if got := Problem(err); got != ProblemTimeout {
		t.Fatalf("a call past its timeout: %v is %q, want %q", err, got, ProblemTimeout)
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	_, err = New(Config{BaseURL: closed.URL, Timeout: 5 * time.Second}).User(context.Background(), "t")
	if got := Problem(err); got != ProblemUnreachable {
		t.Fatalf("a refused connection: %v is %q, want %q", err, got, ProblemUnreachable)
	}
}

// RetryAfter finds what plex.tv asked for through any wrapping, and is 0
// for every other error.
func TestRetryAfterOfAnErrorIsUnavailablesOnly(t *testing.T) {
	un := &Unavailable{Status: http.StatusTooManyRequests, RetryAfter: 90 * time.Second}
	for err, want := range map[error]time.Duration{
		un:                            90 * time.Second,
		fmt.Errorf("reading: %w", un): 90 * time.Second,
		&Unavailable{Status: 503}:     0,
		ErrTokenRejected:              0,
		errors.New("something else"):  0,
	} {
		if got := RetryAfter(err); got != want {
			t.Errorf("RetryAfter(%v) = %v, want %v", err, got, want)
		}
	}
	if got := RetryAfter(nil); got != 0 {
		t.Errorf("RetryAfter(nil) = %v", got)
	}
}
