package session

import (
	"strings"
	"testing"
	"time"
)

// A '#' in a Redis URL starts a fragment, which go-redis ignores: with an
// unescaped '#' in the password (redis://user:1234#rest@host), url.Parse
// takes "user:1234" for the host and port, so the store would dial
// another address and its log line ("redis user:1234") would show the
// start of the password. Such a URL is refused, saying how to write it,
// and the refusal shows no piece of it.
func TestRedisURLWithAFragmentIsRefusedShowingNoPartOfIt(t *testing.T) {
	for _, raw := range []string{
		"redis://user:1234#rest@redis.example:6379/0",
		"redis://:s3cr#et@redis.example:6379",
		"redis://redis.example:6379/0#frag",
	} {
		st, err := NewRedisStore(raw, time.Second)
		if err == nil {
			t.Errorf("%s: accepted (Describe %q), want refused", raw, st.Describe())
			continue
		}
		for _, piece := range []string{"1234", "rest", "s3cr", "et@", "frag"} {
			if strings.Contains(raw, piece) && strings.Contains(err.Error(), piece) {
				t.Errorf("%s: error %q shows %q", raw, err, piece)
			}
		}
		if !strings.Contains(err.Error(), "%23") {
			t.Errorf("%s: error %q does not say to write '#' as %%23", raw, err)
		}
	}
}
