package plexauth

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-plexauth/caddy-plexauth/internal/signin"
)

// The review's floods, through a real Caddy: a handful of addresses
// hammering the sign-in endpoints must not keep other people from signing
// in, and plex.tv must still see no more than the shared budgets allow.
// Each takes the flood's full length (30 s and 20 s); -short skips them.

// rawPoll asks {prefix}/poll as the login page's script does, from b's
// address and cookies (or the given state cookie), off the test's
// goroutine: it reports instead of failing the test.
func rawPoll(b *browser, cookie *http.Cookie) (int, flowAnswer, error) {
	req, _ := http.NewRequest(http.MethodGet, siteURL+"/_plexauth/poll", nil)
	req.Header.Set("Sec-Fetch-Mode", "cors")
	if cookie != nil {
		req.Header.Set("Cookie", cookie.Name+"="+cookie.Value)
	}
	return flowCall(b, req)
}

// rawStart posts to {prefix}/start as the login page's script does.
func rawStart(b *browser) (int, flowAnswer, error) {
	req, _ := http.NewRequest(http.MethodPost, siteURL+"/_plexauth/start", strings.NewReader("rd=%2F&popup=1"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return flowCall(b, req)
}

// flowCall sends req from b and reads the JSON answer of the sign-in flow.
func flowCall(b *browser, req *http.Request) (int, flowAnswer, error) {
	req.Header.Set("Accept", "application/json")
	resp, err := b.c.Do(req)
	if err != nil {
		return 0, flowAnswer{}, err
	}
	defer resp.Body.Close()
	var a flowAnswer
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, &a); err != nil {
		return resp.StatusCode, a, fmt.Errorf("%s %s answered %d %.200q: not JSON", req.Method, req.URL.Path, resp.StatusCode, body)
	}
	return resp.StatusCode, a, nil
}

// startPatiently starts a sign-in at b, waiting as told while the shared
// budget makes a client that has just started one yield to others.
func startPatiently(t *testing.T, b *browser) {
	t.Helper()
	for try := 0; ; try++ {
		status, a, err := rawStart(b)
		switch {
		case err != nil:
			t.Fatal(err)
		case status == http.StatusOK && a.Status == "started":
			return
		case status != http.StatusTooManyRequests || try == 30:
			t.Fatalf("start: %d %+v", status, a)
		}
		time.Sleep(time.Duration(a.RetryAfter) * time.Second)
	}
}

// codeOf is the pin code in the Plex sign-in URL start answered.
func codeOf(t *testing.T, e *env, a flowAnswer) string {
	t.Helper()
	frag, err := url.ParseQuery(strings.TrimPrefix(a.URL, e.plex.AppURL()+"#?"))
	if err != nil || frag.Get("code") == "" {
		t.Fatalf("start's Plex URL %q has no code", a.URL)
	}
	return frag.Get("code")
}

// flood runs one goroutine per attacker until stop, counting answers.
type flood struct {
	stop     chan struct{}
	wg       sync.WaitGroup
	sent     atomic.Int64
	refused  atomic.Int64
	mu       sync.Mutex
	unwanted []string // answers other than the expected ones
}

func newFlood() *flood { return &flood{stop: make(chan struct{})} }

func (f *flood) odd(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.unwanted) < 5 {
		f.unwanted = append(f.unwanted, s)
	}
}

// count notes one answer of the flood: a 429, or the status the flood
// expects (200 with want), or else something to report. An error once the
// flood is stopped is no answer.
func (f *flood) count(status int, a flowAnswer, err error, want string) {
	f.sent.Add(1)
	switch {
	case err != nil:
		if !f.stopped() {
			f.odd(err.Error())
		}
	case status == http.StatusTooManyRequests:
		f.refused.Add(1)
	case status != http.StatusOK || a.Status != want:
		f.odd(fmt.Sprintf("%d %+v", status, a))
	}
}

func (f *flood) end() {
	select {
	case <-f.stop:
	default:
		close(f.stop)
	}
	f.wg.Wait()
}

func (f *flood) stopped() bool {
	select {
	case <-f.stop:
		return true
	default:
		return false
	}
}

// (a) 16 addresses each hold 3 pins and poll every 100 ms for 30 s; 20
// people at 20 other addresses each start, approve and poll once a
// second, and each is through within five polls of approving.
func TestSixteenPollingAddressesDoNotBlockOthersSigningIn(t *testing.T) {
	if testing.Short() {
		t.Skip("a 30 s flood")
	}
	e := newEnv(t, basicSite)
	f := newFlood()
	defer f.end()
	for i := range 16 {
		addr := fmt.Sprintf("127.0.0.%d", 10+i)
		var holders []*browser
		for range signin.MaxInProgress {
			b := newBrowserFrom(t, addr)
			startPatiently(t, b)
			holders = append(holders, b)
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for n := 0; ; n++ {
				select {
				case <-f.stop:
					return
				case <-tick.C:
				}
				status, a, err := rawPoll(holders[n%len(holders)], nil)
				f.count(status, a, err, "pending")
			}
		}()
	}
	began := time.Now()
	checksBefore := e.plex.Count(http.MethodGet, "/api/v2/pins/*")

	// The people come one every 1.2 s from 3 s on, so the last one still
	// signs in under the flood.
	type result struct {
		polls int
		err   string
	}
	results := make([]result, 20)
	var people sync.WaitGroup
	for i := range 20 {
		people.Add(1)
		time.Sleep(time.Until(began.Add(3*time.Second + time.Duration(i)*1200*time.Millisecond)))
		b := newBrowserFrom(t, fmt.Sprintf("127.0.0.%d", 40+i))
		code := startPopup(t, e, b, "/")
		if err := e.plex.Approve(code, "friend"); err != nil {
			t.Fatal(err)
		}
		go func() {
			defer people.Done()
			for poll := 1; poll <= 5; poll++ {
				if poll > 1 {
					time.Sleep(time.Second)
				}
				status, a, err := rawPoll(b, nil)
				switch {
				case err != nil:
					results[i].err = err.Error()
					return
				case status == http.StatusOK && a.Status == "ok":
					results[i].polls = poll
					return
				case status != http.StatusTooManyRequests && !(status == http.StatusOK && a.Status == "pending"):
					results[i].err = fmt.Sprintf("poll %d: %d %+v", poll, status, a)
					return
				}
			}
			results[i].err = "not signed in after 5 polls a second apart"
		}()
	}
	people.Wait()
	time.Sleep(time.Until(began.Add(30 * time.Second)))
	f.end()
	elapsed := time.Since(began)

	for i, r := range results {
		if r.err != "" {
			t.Errorf("person %d: %s", i, r.err)
		}
	}
	t.Logf("flood: %d polls in %v, %d refused; the people's polls until ok: %v", f.sent.Load(), elapsed.Round(time.Millisecond), f.refused.Load(), results)
	if len(f.unwanted) > 0 {
		t.Errorf("the flood got answers other than pending and 429: %v", f.unwanted)
	}
	if f.refused.Load() == 0 {
		t.Error("the flood was never refused: it did not test the limits")
	}
	checks := e.plex.Count(http.MethodGet, "/api/v2/pins/*") - checksBefore
	if bound := signin.SharedBound(signin.CheckPin, elapsed); checks > bound {
		t.Errorf("plex.tv saw %d pin checks in %v, over the shared budget's %d", checks, elapsed, bound)
	}
}

// (b) 64 addresses post to start as fast as they can for 20 s; 20 people at
// other addresses each get their pin on the first or second try, a second
// apart.
func TestSixtyFourStartingAddressesDoNotBlockOthersStarting(t *testing.T) {
	if testing.Short() {
		t.Skip("a 20 s flood")
	}
	e := newEnv(t, basicSite)
	f := newFlood()
	defer f.end()
	began := time.Now()
	for i := range 64 {
		b := newBrowserFrom(t, fmt.Sprintf("127.0.0.%d", 100+i))
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			for !f.stopped() {
				status, a, err := rawStart(b)
				f.count(status, a, err, "started")
			}
		}()
	}

	tries := make([]int, 20)
	for i := range 20 {
		time.Sleep(time.Until(began.Add(2*time.Second + time.Duration(i)*900*time.Millisecond)))
		b := newBrowserFrom(t, fmt.Sprintf("127.0.0.%d", 200+i))
		for try := 1; try <= 2; try++ {
			if try > 1 {
				time.Sleep(time.Second)
			}
			status, a, err := rawStart(b)
			if err != nil {
				t.Fatal(err)
			}
			if status == http.StatusOK && a.Status == "started" {
				codeOf(t, e, a)
				tries[i] = try
				break
			}
			if status != http.StatusTooManyRequests {
				t.Fatalf("person %d's start: %d %+v", i, status, a)
			}
		}
		if tries[i] == 0 {
			t.Errorf("person %d: start refused twice, a second apart", i)
		}
	}
	time.Sleep(time.Until(began.Add(20 * time.Second)))
	f.end()
	elapsed := time.Since(began)

	t.Logf("flood: %d starts in %v, %d refused; the people's tries: %v", f.sent.Load(), elapsed.Round(time.Millisecond), f.refused.Load(), tries)
	if len(f.unwanted) > 0 {
		t.Errorf("the flood got answers other than started and 429: %v", f.unwanted)
	}
	if f.refused.Load() == 0 {
		t.Error("the flood was never refused: it did not test the limits")
	}
	pins := e.plex.Count(http.MethodPost, "/api/v2/pins")
	if bound := signin.SharedBound(signin.CreatePin, elapsed); pins > bound {
		t.Errorf("plex.tv saw %d pin creations in %v, over the shared budget's %d", pins, elapsed, bound)
	}
}

// A pin plex.tv said it no longer has, or one that finished, is answered
// from memory when a copy of its state cookie asks again: plex.tv is not
// asked, and no budget is spent.
func TestEndedPinIsAnsweredWithoutAskingPlex(t *testing.T) {
	e := newEnv(t, basicSite)
	checks := func() int { return e.plex.Count(http.MethodGet, "/api/v2/pins/*") }

	expired := newBrowserFrom(t, "127.0.0.2")
	startPopup(t, e, expired, "/")
	expiredState := stateCookie(expired)
	e.plex.ExpirePins()
	if resp, a := pollJSON(t, expired); resp.StatusCode != http.StatusGone || a.Status != "expired" {
		t.Fatalf("poll of an expired pin: %d %+v", resp.StatusCode, a)
	}

	finished := newBrowserFrom(t, "127.0.0.3")
	code := startPopup(t, e, finished, "/")
	finishedState := stateCookie(finished)
	if err := e.plex.Approve(code, "friend"); err != nil {
		t.Fatal(err)
	}
	if resp, a := pollUntilSettled(t, finished); a.Status != "ok" {
		t.Fatalf("poll of an approved pin: %d %+v", resp.StatusCode, a)
	}

	// 40 polls from one address over 2.5 s, past the second in which
	// checks of one pin share an answer, and more than the address's burst
	// of checks: any that cost its budget would be refused.
	before := checks()
	copyHolder := newBrowserFrom(t, "127.0.0.4")
	for i := range 20 {
		if i%4 == 0 && i > 0 {
			time.Sleep(signin.CheckEvery / 2)
		}
		for _, c := range []struct {
			state  *http.Cookie
			status int
		}{{expiredState, http.StatusGone}, {finishedState, http.StatusBadRequest}} {
			status, a, err := rawPoll(copyHolder, c.state)
			if err != nil || status != c.status {
				t.Fatalf("a copy of an ended sign-in's state cookie: %d %+v %v, want %d", status, a, err, c.status)
			}
		}
	}
	if got := checks(); got != before {
		t.Errorf("copies of ended sign-ins' state cookies made %d pin checks at plex.tv", got-before)
	}
}
