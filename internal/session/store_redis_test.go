package session

import (
	"strings"
	"testing"
	"time"
)

// A Redis URL in a config carries the Redis password. When it does not
// parse, the error Caddy prints at start must not carry it, nor any piece
// of it: url.Parse quotes the URL whole, and its escape errors quote the
// bytes around the bad escape.
func TestRedisURLErrorsNeverEchoThePassword(t *testing.T) {
	for _, c := range []struct {
		url     string
		secrets []string // must not appear in the error
		want    string   // must appear: what is wrong, for the operator
	}{
		// url.Parse fails: a bad escape in the password.
		{"redis://:p%zzss@host:6379/0", []string{"p%zzss", "%zz", "zzss", "p%zz"}, "invalid redis URL"},
		// url.Parse fails: an unclosed IPv6 bracket after credentials.
		{"redis://user:secret@[bad", []string{"secret", "user:secret"}, "invalid redis URL"},
		// url.Parse fails: a bad port after credentials.
		{"redis://:hunter2@host:port/0", []string{"hunter2"}, "invalid redis URL"},
		// url.Parse fails: a control character.
		{"redis://:qq7\x7fzz9@host/0", []string{"qq7", "zz9"}, "invalid redis URL"},
		// url.Parse succeeds, redis.ParseURL refuses the database.
		{"redis://:s3cr3t-pw@host:6379/notanumber", []string{"s3cr3t-pw"}, "invalid redis URL"},
		// url.Parse succeeds, redis.ParseURL refuses an option.
		{"redis://:s3cr3t-pw@host:6379/0?nonsense=1", []string{"s3cr3t-pw"}, "invalid redis URL"},
	} {
		_, err := NewRedisStore(c.url, time.Second)
		if err == nil {
			t.Errorf("%q: parsed, want an error", c.url)
			continue
		}
		msg := err.Error()
		for _, s := range append(c.secrets, c.url) {
			if strings.Contains(msg, s) {
				t.Errorf("%q: error %q shows %q", c.url, msg, s)
			}
		}
		if !strings.Contains(msg, c.want) {
			t.Errorf("%q: error %q does not say %q", c.url, msg, c.want)
		}
	}
}

// Without a password, the error may say precisely what is wrong.
func TestRedisURLErrorsWithoutPasswordSayWhatIsWrong(t *testing.T) {
	_, err := NewRedisStore("redis://host:6379/notanumber", time.Second)
	if err == nil || !strings.Contains(err.Error(), "database") {
		t.Fatalf("err = %v, want it to name the database number", err)
	}
}
