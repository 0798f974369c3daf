package session

import (
	"context"
	"encoding/binary"
	"errors"
	"io/fs"
	"path"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

// Tests for the survivors of the mutation run over store_caddy.go
// (scripts/mutants.sh internal/session/store_caddy.go).

// faultStorage is Caddy's file storage that fails on demand, the way a
// shared storage module (a database, an object store) fails where the file
// system does not, and that counts the locks it holds.
type faultStorage struct {
	*certmagic.FileStorage

	mu sync.Mutex
	// failLock: every Lock fails with it.
	failLock error
	// failLoad: a Load of a key holding this text fails with errLoad.
	failLoad string
	// failList: every List fails with it.
	failList error
	// relative: List answers names relative to the prefix, as some
	// storage modules do, not the keys whole.
	relative bool
	// missingIsErr: a Delete of a missing key answers fs.ErrNotExist,
	// as some storage modules do (the file system's answers nil).
	missingIsErr bool
	held         map[string]int // locks held, by name
	strayUnlocks []string       // Unlocks of a lock not held
}

var errLoad = errors.New("storage read failed")

func newFaultStorage(t *testing.T) *faultStorage {
	return &faultStorage{FileStorage: &certmagic.FileStorage{Path: t.TempDir()}, held: map[string]int{}}
}

func (f *faultStorage) Lock(ctx context.Context, name string) error {
	f.mu.Lock()
	err := f.failLock
	f.mu.Unlock()
	if err != nil {
		return err
	}
	if err := f.FileStorage.Lock(ctx, name); err != nil {
		return err
	}
	f.mu.Lock()
	f.held[name]++
	f.mu.Unlock()
	return nil
}

func (f *faultStorage) Unlock(ctx context.Context, name string) error {
	f.mu.Lock()
	if f.held[name] == 0 {
		f.strayUnlocks = append(f.strayUnlocks, name)
		f.mu.Unlock()
		return errors.New("unlock of a lock not held")
	}
	f.held[name]--
	f.mu.Unlock()
	return f.FileStorage.Unlock(ctx, name)
}

func (f *faultStorage) Load(ctx context.Context, key string) ([]byte, error) {
	f.mu.Lock()
	fail := f.failLoad != "" && strings.Contains(key, f.failLoad)
	f.mu.Unlock()
	if fail {
		return nil, errLoad
	}
	return f.FileStorage.Load(ctx, key)
}

func (f *faultStorage) Delete(ctx context.Context, key string) error {
	if f.missingIsErr && !f.FileStorage.Exists(ctx, key) {
		return fs.ErrNotExist
	}
	return f.FileStorage.Delete(ctx, key)
}

func (f *faultStorage) List(ctx context.Context, prefix string, recursive bool) ([]string, error) {
	if f.failList != nil {
		return nil, f.failList
	}
	keys, err := f.FileStorage.List(ctx, prefix, recursive)
	if f.relative {
		for i, k := range keys {
			keys[i] = path.Base(k)
		}
	}
	return keys, err
}

// locksHeld stops the test if a lock is still held or one not held was
// released: a lock kept blocks every later Replace, Remove, claim or swap of
// that key, on every instance sharing the storage (here: the next step).
func (f *faultStorage) locksHeld(t *testing.T, after string) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for name, n := range f.held {
		if n != 0 {
			t.Fatalf("after %s: lock %s still held", after, name)
		}
	}
	if len(f.strayUnlocks) > 0 {
		t.Fatalf("after %s: released locks it did not hold: %v", after, f.strayUnlocks)
	}
	f.strayUnlocks = nil
}

func sealedFor(t *testing.T, id string, expires time.Time) []byte {
	t.Helper()
	b, err := sealEntry(id, &Session{Username: id, Expires: expires})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Every operation that takes a storage lock gives it back, whichever way it
// ends.
func TestCaddyStoreReleasesEveryLockItTakes(t *testing.T) {
	f := newFaultStorage(t)
	c := NewCaddyStore(f)
	ctx := context.Background()
	later := time.Now().Add(time.Hour)
	if err := c.Save(ctx, "s", sealedFor(t, "s", later), later); err != nil {
		t.Fatal(err)
	}
	if err := c.Replace(ctx, "s", sealedFor(t, "s", later), later); err != nil {
		t.Fatalf("Replace = %v", err)
	}
	f.locksHeld(t, "Replace of an entry there")
	if err := c.Replace(ctx, "none", sealedFor(t, "none", later), later); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Replace of a missing entry = %v", err)
	}
	f.locksHeld(t, "Replace of a missing entry")
	if err := c.Remove(ctx, "s"); err != nil {
		t.Fatalf("Remove = %v", err)
	}
	f.locksHeld(t, "Remove")
	if ok, err := c.ClaimPin(ctx, "p", later); !ok || err != nil {
		t.Fatalf("ClaimPin = %v, %v", ok, err)
	}
	if ok, err := c.ClaimPin(ctx, "p", later); ok || err != nil {
		t.Fatalf("second ClaimPin = %v, %v", ok, err)
	}
	f.locksHeld(t, "ClaimPin")
	code := binary.BigEndian.AppendUint64(nil, uint64(later.Unix()))
	if err := c.PutCode(ctx, "c", code, later); err != nil {
		t.Fatal(err)
	}
	if old, err := c.SwapCode(ctx, "c", code, later); old == nil || err != nil {
		t.Fatalf("SwapCode = %v, %v", old, err)
	}
	if old, err := c.SwapCode(ctx, "none", code, later); old != nil || err != nil {
		t.Fatalf("SwapCode of nothing = %v, %v", old, err)
	}
	f.locksHeld(t, "SwapCode")
}

// Without the lock, Replace, ClaimPin and SwapCode write nothing and fail
// (a claim is not granted): the lock is what makes them one step across
// instances. Remove deletes all the same (deleting is never wrong) and
// reports the lock's failure, so that the cache deletes again later; it
// releases no lock it did not get (another instance's).
func TestCaddyStoreWithoutItsLockWritesNothingButDeletes(t *testing.T) {
	f := newFaultStorage(t)
	c := NewCaddyStore(f)
	ctx := context.Background()
	later := time.Now().Add(time.Hour)
	old := sealedFor(t, "s", later)
	if err := c.Save(ctx, "s", old, later); err != nil {
		t.Fatal(err)
	}
	code := binary.BigEndian.AppendUint64(nil, uint64(later.Unix()))
	if err := c.PutCode(ctx, "c", append(code, "grant"...), later); err != nil {
		t.Fatal(err)
	}
	lockDown := errors.New("lock service down")
	f.failLock = lockDown

	if err := c.Replace(ctx, "s", sealedFor(t, "s", later.Add(time.Hour)), later); !errors.Is(err, lockDown) {
		t.Errorf("Replace without the lock = %v, want the lock's failure", err)
	}
	if b, err := c.Load(ctx, "s"); err != nil || string(b) != string(old) {
		t.Errorf("Replace without the lock wrote the entry (%v)", err)
	}
	if ok, err := c.ClaimPin(ctx, "p", later); ok || !errors.Is(err, lockDown) {
		t.Errorf("ClaimPin without the lock = %v, %v; want false and the lock's failure", ok, err)
	}
	if _, err := f.FileStorage.Load(ctx, caddyPinPrefix+"/p"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ClaimPin without the lock wrote the claim (%v)", err)
	}
	if got, err := c.SwapCode(ctx, "c", append(code, "used"...), later); got != nil || !errors.Is(err, lockDown) {
		t.Errorf("SwapCode without the lock = %q, %v; want nothing and the lock's failure", got, err)
	}
	if got, _ := c.PeekCode(ctx, "c"); len(got) < 8 || string(got[8:]) != "grant" {
		t.Errorf("SwapCode without the lock wrote %q", got)
	}
	if err := c.Remove(ctx, "s"); !errors.Is(err, lockDown) {
		t.Errorf("Remove without the lock = %v, want the lock's failure", err)
	}
	if _, err := c.Load(ctx, "s"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Remove without the lock left the entry (%v)", err)
	}
	f.locksHeld(t, "operations without the lock")

	// With the lock back, the entry now missing removes without error.
	f.failLock = nil
	if err := c.Remove(ctx, "s"); err != nil {
		t.Errorf("Remove of a missing entry = %v", err)
	}
}

// Storage modules that answer fs.ErrNotExist for a missing key: a missing
// entry or claim is no error to remove, as the Store interface says.
func TestCaddyStoreRemovingWhatIsNotThereIsFine(t *testing.T) {
	f := newFaultStorage(t)
	f.missingIsErr = true
	c := NewCaddyStore(f)
	ctx := context.Background()
	if err := c.Remove(ctx, "nothing"); err != nil {
		t.Errorf("Remove of a missing entry = %v", err)
	}
	if err := c.UnclaimPin(ctx, "nothing"); err != nil {
		t.Errorf("UnclaimPin of a missing claim = %v", err)
	}
	f.locksHeld(t, "Remove of a missing entry")
}

// A storage that cannot be read answers a failure, never "none": a claim is
// refused (a pin finished twice), a sign-out marker is not read as absent
// (a session ended elsewhere would live), a code is not read as unused.
func TestCaddyStoreThatCannotReadAnswersAFailure(t *testing.T) {
	f := newFaultStorage(t)
	c := NewCaddyStore(f)
	ctx := context.Background()
	later := time.Now().Add(time.Hour)
	if err := c.SaveSignout(ctx, "acct", 7, time.Hour); err != nil {
		t.Fatal(err)
	}
	code := binary.BigEndian.AppendUint64(nil, uint64(later.Unix()))
	if err := c.PutCode(ctx, "c", code, later); err != nil {
		t.Fatal(err)
	}
	f.failLoad = "plex_auth/"
	if ok, err := c.ClaimPin(ctx, "p", later); ok || !errors.Is(err, errLoad) {
		t.Errorf("ClaimPin = %v, %v; want false and the read's failure", ok, err)
	}
	if m, err := c.LoadSignout(ctx, "acct"); !errors.Is(err, errLoad) {
		t.Errorf("LoadSignout = %d, %v; want the read's failure", m, err)
	}
	if got, err := c.SwapCode(ctx, "c", code, later); got != nil || !errors.Is(err, errLoad) {
		t.Errorf("SwapCode = %q, %v; want nothing and the read's failure", got, err)
	}
	if got, err := c.PeekCode(ctx, "c"); got != nil || !errors.Is(err, errLoad) {
		t.Errorf("PeekCode = %q, %v; want nothing and the read's failure", got, err)
	}
	f.locksHeld(t, "reads that failed")
}

// A marker that is not one this store wrote is refused, not read as a
// number (nor as none).
func TestCaddyStoreRefusesAMalformedSignoutMarker(t *testing.T) {
	f := newFaultStorage(t)
	c := NewCaddyStore(f)
	ctx := context.Background()
	for _, b := range [][]byte{{1, 2, 3}, make([]byte, 8), make([]byte, 24)} {
		if err := f.Store(ctx, caddySignoutPrefix+"/acct", b); err != nil {
			t.Fatal(err)
		}
		if m, err := c.LoadSignout(ctx, "acct"); err == nil {
			t.Errorf("a marker of %d bytes read as %d", len(b), m)
		}
	}
}

// The sweep drops what ran out under every prefix whether the storage lists
// keys whole or relative to the prefix, keeps what it could not read (a
// live session must not go for a read that failed), and reports a listing
// that failed.
func TestCaddyStoreSweepWithStoragesThatListOrReadOtherwise(t *testing.T) {
	ctx := context.Background()
	over := time.Now().Add(-time.Minute)
	later := time.Now().Add(time.Hour)
	fill := func(t *testing.T, c *CaddyStore) {
		t.Helper()
		for id, exp := range map[string]time.Time{"dead": over, "live": later} {
			if err := c.Save(ctx, id, sealedFor(t, id, exp), exp); err != nil {
				t.Fatal(err)
			}
			if err := c.PutCode(ctx, id, binary.BigEndian.AppendUint64(nil, uint64(exp.Unix())), exp); err != nil {
				t.Fatal(err)
			}
		}
	}
	count := func(t *testing.T, f *faultStorage, prefix string) int {
		t.Helper()
		keys, err := f.FileStorage.List(ctx, prefix, false)
		if err != nil {
			t.Fatal(err)
		}
		return len(keys)
	}

	t.Run("relative names", func(t *testing.T) {
		f := newFaultStorage(t)
		f.relative = true
		c := NewCaddyStore(f)
		fill(t, c)
		if err := c.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if n, m := count(t, f, caddyStorePrefix), count(t, f, caddyCodePrefix); n != 1 || m != 1 {
			t.Errorf("after the sweep: %d session entries, %d codes; want 1 each (the live ones)", n, m)
		}
	})
	t.Run("a read that fails", func(t *testing.T) {
		f := newFaultStorage(t)
		c := NewCaddyStore(f)
		fill(t, c)
		f.failLoad = "live"
		if err := c.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		f.failLoad = ""
		if _, err := c.Load(ctx, "live"); err != nil {
			t.Errorf("the sweep dropped a live entry it could not read: %v", err)
		}
		if _, err := c.Load(ctx, "dead"); !errors.Is(err, ErrNotFound) {
			t.Errorf("the sweep kept an entry that ran out: %v", err)
		}
	})
	t.Run("a listing that fails", func(t *testing.T) {
		f := newFaultStorage(t)
		f.failList = errors.New("listing failed")
		if err := NewCaddyStore(f).Sweep(ctx); !errors.Is(err, f.failList) {
			t.Errorf("Sweep = %v, want the listing's failure", err)
		}
	})
}
