package oidc

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// KeyBits is the size of the RSA keys GenerateKey makes.
const KeyBits = 2048

// Key is one RS256 signing key.
type Key struct {
	// ID is the key's kid: its RFC 7638 JWK thumbprint (SHA-256,
	// base64url), so the same key always has the same kid.
	ID string
	// Created is when the key was generated.
	Created time.Time
	// RetireAt is zero for the current key. For a previous key it is when
	// the last token signed with it expires: until then it is published
	// and verifies; after that it leaves the set.
	RetireAt time.Time

	priv *rsa.PrivateKey
}

// KeySet is the current signing key and the previous keys whose tokens may
// still be alive. A KeySet is never modified: Rotate and Prune return new
// ones.
type KeySet struct {
	// Current signs every new token.
	Current *Key
	// Previous verify tokens signed before the last rotations, each until
	// its RetireAt.
	Previous []*Key
}

// GenerateKey makes a new RSA key created at now.
func GenerateKey(now time.Time) (*Key, error) {
	priv, err := rsa.GenerateKey(rand.Reader, KeyBits)
	if err != nil {
		return nil, err
	}
	return newKey(priv, now, time.Time{}), nil
}

func newKey(priv *rsa.PrivateKey, created, retire time.Time) *Key {
	return &Key{ID: thumbprint(&priv.PublicKey), Created: created, RetireAt: retire, priv: priv}
}

// NewKeySet is a set with one fresh key, created at now.
func NewKeySet(now time.Time) (*KeySet, error) {
	k, err := GenerateKey(now)
	if err != nil {
		return nil, err
	}
	return &KeySet{Current: k}, nil
}

// RotationDue reports whether the current key is at least every old.
func (ks *KeySet) RotationDue(now time.Time, every time.Duration) bool {
	return !now.Before(ks.Current.Created.Add(every))
}

// Rotate returns a set whose current key is fresh; the old current key is
// kept, to verify and be published, until keep (the longest lifetime of a
// token it signed) has passed. Retired keys are pruned.
func (ks *KeySet) Rotate(now time.Time, keep time.Duration) (*KeySet, error) {
	k, err := GenerateKey(now)
	if err != nil {
		return nil, err
	}
	old := *ks.Current
	old.RetireAt = now.Add(keep)
	next := &KeySet{Current: k, Previous: []*Key{&old}}
	for _, p := range ks.Previous {
		if now.Before(p.RetireAt) {
			next.Previous = append(next.Previous, p)
		}
	}
	return next, nil
}

// Prune returns the set without the previous keys retired at now (ks
// itself when there are none).
func (ks *KeySet) Prune(now time.Time) *KeySet {
	keep := make([]*Key, 0, len(ks.Previous))
	for _, p := range ks.Previous {
		if now.Before(p.RetireAt) {
			keep = append(keep, p)
		}
	}
	if len(keep) == len(ks.Previous) {
		return ks
	}
	return &KeySet{Current: ks.Current, Previous: keep}
}

// live returns the key kid names if it verifies at now, or nil.
func (ks *KeySet) live(kid string, now time.Time) *Key {
	if ks.Current.ID == kid {
		return ks.Current
	}
	for _, p := range ks.Previous {
		if p.ID == kid && now.Before(p.RetireAt) {
			return p
		}
	}
	return nil
}

// storedKey is a key as Marshal writes it.
type storedKey struct {
	PKCS8    []byte    `json:"pkcs8"`
	Created  time.Time `json:"created"`
	RetireAt time.Time `json:"retire_at,omitzero"`
}

type storedSet struct {
	Keys []storedKey `json:"keys"` // the current key first
}

// Marshal encodes the set, private keys included, for the caller's storage.
// ParseKeySet reads it back.
func (ks *KeySet) Marshal() ([]byte, error) {
	var st storedSet
	for _, k := range append([]*Key{ks.Current}, ks.Previous...) {
		der, err := x509.MarshalPKCS8PrivateKey(k.priv)
		if err != nil {
			return nil, err
		}
		st.Keys = append(st.Keys, storedKey{PKCS8: der, Created: k.Created, RetireAt: k.RetireAt})
	}
	return json.Marshal(st)
}

// ParseKeySet decodes what Marshal wrote. It refuses anything but RSA keys
// of at least KeyBits bits.
func ParseKeySet(b []byte) (*KeySet, error) {
	var st storedSet
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("signing keys: %v", err)
	}
	if len(st.Keys) == 0 {
		return nil, errors.New("signing keys: none stored")
	}
	ks := &KeySet{}
	for i, sk := range st.Keys {
		parsed, err := x509.ParsePKCS8PrivateKey(sk.PKCS8)
		if err != nil {
			return nil, fmt.Errorf("signing key %d: %v", i, err)
		}
		priv, ok := parsed.(*rsa.PrivateKey)
		if !ok || priv.N.BitLen() < KeyBits {
			return nil, fmt.Errorf("signing key %d: not an RSA key of at least %d bits", i, KeyBits)
		}
		k := newKey(priv, sk.Created, sk.RetireAt)
		if i == 0 {
			k.RetireAt = time.Time{}
			ks.Current = k
		} else {
			ks.Previous = append(ks.Previous, k)
		}
	}
	return ks, nil
}

// jwk is the public half of a key as JWKS publishes it (RFC 7517).
type jwk struct {
	Kty string `json:"kty"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	N   string `json:"n"`
	E   string `json:"e"`
}

// JWKS is the JSON Web Key Set of the keys that verify at now: the current
// key first, then the previous ones not yet retired.
func (ks *KeySet) JWKS(now time.Time) []byte {
	var set struct {
		Keys []jwk `json:"keys"`
	}
	for _, k := range append([]*Key{ks.Current}, ks.Previous...) {
		if k != ks.Current && !now.Before(k.RetireAt) {
			continue
		}
		pub := &k.priv.PublicKey
		set.Keys = append(set.Keys, jwk{Kty: "RSA", Use: "sig", Alg: "RS256", Kid: k.ID,
			N: b64(pub.N.Bytes()), E: b64(big.NewInt(int64(pub.E)).Bytes())})
	}
	b, _ := json.Marshal(set)
	return b
}

// thumbprint is the RFC 7638 thumbprint of an RSA public key: SHA-256 of
// the required members in lexicographic order, no white space.
func thumbprint(pub *rsa.PublicKey) string {
	e := b64(big.NewInt(int64(pub.E)).Bytes())
	sum := sha256.Sum256([]byte(`{"e":"` + e + `","kty":"RSA","n":"` + b64(pub.N.Bytes()) + `"}`))
	return b64(sum[:])
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
