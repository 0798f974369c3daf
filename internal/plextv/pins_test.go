package plextv

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/caddy-plexauth/caddy-plexauth/plextest"
)

const machineID = "3dff4c4da3b1229a649aa574a9e2b419a684a20e"

// fakePlex is the fake plex.tv with a server, its owner and a friend.
func fakePlex(t *testing.T) *plextest.Server {
	plex := plextest.NewServer()
	t.Cleanup(plex.Close)
	plex.AddServer(machineID, "Living Room")
	plex.AddAccount("owner")
	plex.Share(machineID, "owner", plextest.Owner)
	plex.AddAccount("friend")
	plex.Share(machineID, "friend", plextest.Friend)
	return plex
}

func setupClient(plex *plextest.Server) *Client {
	return New(Config{BaseURL: plex.URL, Product: "Caddy", ClientID: "setup-test", Timeout: 5 * time.Second})
}

func TestSetupAsksForAShortCodeAndPollsOnceASecondUntilApproved(t *testing.T) {
	plex := fakePlex(t)
	c := setupClient(plex)
	pin, err := c.CreateCodePin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(pin.Code) != 4 {
		t.Fatalf("code %q, want the 4 characters plex.tv/link takes", pin.Code)
	}
	for _, r := range plex.Requests() {
		if r.Method == http.MethodPost && r.Path == "/api/v2/pins" && r.Query.Get("strong") != "" {
			t.Fatalf("the pin was asked for with strong=%s: its code would be too long to type", r.Query.Get("strong"))
		}
	}
	var waits []time.Duration
	sleep := func(_ context.Context, d time.Duration) error {
		waits = append(waits, d)
		if len(waits) == 3 {
			if err := plex.Approve(pin.Code, "owner"); err != nil {
				t.Fatal(err)
			}
		}
		return nil
	}
	token, err := c.WaitForPin(context.Background(), pin.ID, sleep)
	if err != nil || token != plex.Account("owner").Token {
		t.Fatalf("WaitForPin = %q, %v; want the owner's token", token, err)
	}
	if want := []time.Duration{time.Second, time.Second, time.Second}; !slices.Equal(waits, want) {
		t.Fatalf("waited %v, want %v", waits, want)
	}
}

func TestSetupHonoursRetryAfterAndBacksOffWhilePlexFails(t *testing.T) {
	plex := fakePlex(t)
	c := setupClient(plex)
	pin, err := c.CreateCodePin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	plex.SetStatus(http.StatusTooManyRequests, 7)
	var waits []time.Duration
	sleep := func(_ context.Context, d time.Duration) error {
		waits = append(waits, d)
		switch len(waits) {
		case 3:
			plex.SetStatus(http.StatusServiceUnavailable, 0)
		case 4:
			plex.SetStatus(0, 0)
		case 5:
			if err := plex.Approve(pin.Code, "owner"); err != nil {
				t.Fatal(err)
			}
		}
		return nil
	}
	if _, err := c.WaitForPin(context.Background(), pin.ID, sleep); err != nil {
		t.Fatal(err)
	}
	// 1s, then 429 with Retry-After 7: 7s; 429 again: twice that; 503:
	// twice again, capped; answered: back to once a second.
	want := []time.Duration{time.Second, 7 * time.Second, 14 * time.Second, 28 * time.Second, time.Second}
	if !slices.Equal(waits, want) {
		t.Fatalf("waited %v, want %v", waits, want)
	}
}

func TestSetupGivesUpWhenTheCodeExpires(t *testing.T) {
	plex := fakePlex(t)
	c := setupClient(plex)
	pin, err := c.CreateCodePin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	plex.ExpirePins()
	if _, err := c.WaitForPin(context.Background(), pin.ID, func(context.Context, time.Duration) error { return nil }); !errors.Is(err, ErrCodeExpired) {
		t.Fatalf("an expired pin: %v, want ErrCodeExpired", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 0)
	defer cancel()
	if _, err := c.WaitForPin(ctx, pin.ID, nil); !errors.Is(err, ErrCodeExpired) {
		t.Fatalf("past the pin's lifetime: %v, want ErrCodeExpired", err)
	}
}
