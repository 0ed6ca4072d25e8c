package login

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/oauth2"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
)

// record is what is kept of a login across restarts, sealed.
type record struct {
	ID             string        `json:"id"`
	Browser        string        `json:"browser"`
	Accounts       []string      `json:"accounts"`
	Started        time.Time     `json:"started"`
	Token          *oauth2.Token `json:"token"`
	Issued         time.Time     `json:"issued"`
	Refreshes      int           `json:"refreshes"`
	RefreshExpires time.Time     `json:"refreshExpires"`
}

// sealer seals records with AES-256-GCM; the key name is the additional
// data, so a sealed value cannot be moved to another key.
type sealer struct{ aead cipher.AEAD }

func newSealer(key []byte) (*sealer, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("token key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("token key: %w", err)
	}
	return &sealer{aead: aead}, nil
}

// seal returns nonce ‖ ciphertext of plain, bound to name.
func (s *sealer) seal(name string, plain []byte) []byte {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	_, _ = rand.Read(nonce)
	return s.aead.Seal(nonce, nonce, plain, []byte(name))
}

// errUnseal means a sealed value was not made under this key for this name.
var errUnseal = errors.New("cannot unseal: wrong key, wrong name or tampered")

func (s *sealer) open(name string, sealed []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n+s.aead.Overhead() {
		return nil, errUnseal
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(name))
	if err != nil {
		return nil, errUnseal
	}
	return plain, nil
}

// tokenStore keeps sealed records in a NATS KV bucket, each key living
// as long as its refresh token.
type tokenStore struct {
	kv     jetstream.KeyValue
	sealer *sealer
}

// openStore creates or updates the bucket. Keys get a per-key TTL
// (LimitMarkerTTL turns those on); the bucket's TTL bounds them all.
func openStore(ctx context.Context, js jetstream.JetStream, key []byte) (*tokenStore, error) {
	s, err := newSealer(key)
	if err != nil {
		return nil, err
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:         contract.LoginBucket,
		Description:    "skattekonto-events: users' logins, sealed with AES-GCM",
		History:        1,
		TTL:            12 * time.Hour, // more than 10 refreshes of 65 minutes
		LimitMarkerTTL: time.Minute,
		Storage:        jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("create KV bucket %s: %w", contract.LoginBucket, err)
	}
	return &tokenStore{kv: kv, sealer: s}, nil
}

func storeKey(id string) string { return "session." + id }

// save replaces the record of a login; it expires after ttl.
func (t *tokenStore) save(ctx context.Context, r *record, ttl time.Duration) error {
	plain, err := json.Marshal(r)
	if err != nil {
		return err
	}
	key := storeKey(r.ID)
	sealed := t.sealer.seal(key, plain)
	ttl = max(ttl.Truncate(time.Second), time.Second)
	// Purge drops the previous versions (older sealed tokens) too.
	if err := t.kv.Purge(ctx, key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("purge %s: %w", key, err)
	}
	if _, err := t.kv.Create(ctx, key, sealed, jetstream.KeyTTL(ttl)); err != nil {
		return fmt.Errorf("store %s: %w", key, err)
	}
	return nil
}

func (t *tokenStore) remove(ctx context.Context, id string) error {
	err := t.kv.Purge(ctx, storeKey(id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	return err
}

// load returns every stored record it can open.
func (t *tokenStore) load(ctx context.Context) ([]record, error) {
	lister, err := t.kv.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	var out []record
	var errs []error
	for key := range lister.Keys() {
		e, err := t.kv.Get(ctx, key)
		if err != nil {
			continue // expired meanwhile
		}
		plain, err := t.sealer.open(key, e.Value())
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
			continue
		}
		var r record
		if err := json.Unmarshal(plain, &r); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
			continue
		}
		out = append(out, r)
	}
	return out, errors.Join(errs...)
}
