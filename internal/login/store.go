package login

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
)

// bucket is where logins, their leases and the logins being started are
// kept: the NATS KV bucket SKATTEKONTO_LOGIN (kvBucket), shared by every
// replica, or this process's memory (memBucket) without a token key.
// Every write but a plain remove is a compare-and-set on the key's
// revision, so two replicas never both win.
type bucket interface {
	// get returns a key's value and revision, errNotFound without one.
	get(ctx context.Context, key string) ([]byte, uint64, error)
	// create writes a key that does not exist (or was deleted), living
	// ttl; errConflict when it exists.
	create(ctx context.Context, key string, val []byte, ttl time.Duration) (uint64, error)
	// update replaces a key whose revision is still rev, living ttl from
	// now; errConflict otherwise.
	update(ctx context.Context, key string, val []byte, rev uint64, ttl time.Duration) (uint64, error)
	// remove deletes a key with all its history; with rev, only while its
	// revision is still rev (errConflict otherwise).
	remove(ctx context.Context, key string, rev uint64) error
	// watch calls fn for the present keys under prefix, then returns, and
	// goes on calling it for every change until ctx ends. fn is never
	// called concurrently with itself.
	watch(ctx context.Context, prefix string, fn func(key string, val []byte, rev uint64, deleted bool)) error
}

var (
	errNotFound = errors.New("not found")
	errConflict = errors.New("changed meanwhile (revision mismatch)")
)

// Bucket settings: History 1 keeps no older sealed tokens; TTL bounds
// every key (more than a login's longest life, 10 refreshes of about 65
// minutes); LimitMarkerTTL turns on per-key TTLs and leaves a marker
// when a key expires, which the watchers see.
const (
	bucketTTL       = 12 * time.Hour
	bucketMarkerTTL = time.Minute
)

// BucketConfig is the configuration of the KV bucket of logins, for an
// operator who creates it ahead (NACK); New creates or updates it so.
func BucketConfig() jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:         contract.LoginBucket,
		Description:    "skattekonto-events: users' logins (sealed with AES-GCM), their leases and logins being started",
		History:        1,
		TTL:            bucketTTL,
		LimitMarkerTTL: bucketMarkerTTL,
		Storage:        jetstream.FileStorage,
	}
}

// kvBucket is a bucket in NATS KV.
type kvBucket struct {
	js jetstream.JetStream
	kv jetstream.KeyValue
}

func openKV(ctx context.Context, js jetstream.JetStream) (*kvBucket, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, BucketConfig())
	if err != nil {
		return nil, fmt.Errorf("create KV bucket %s: %w", contract.LoginBucket, err)
	}
	return &kvBucket{js: js, kv: kv}, nil
}

func (b *kvBucket) get(ctx context.Context, key string) ([]byte, uint64, error) {
	e, err := b.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return nil, 0, errNotFound
	}
	if err != nil {
		return nil, 0, fmt.Errorf("get %s: %w", key, err)
	}
	return e.Value(), e.Revision(), nil
}

func (b *kvBucket) create(ctx context.Context, key string, val []byte, ttl time.Duration) (uint64, error) {
	rev, err := b.kv.Create(ctx, key, val, jetstream.KeyTTL(kvTTL(ttl)))
	if errors.Is(err, jetstream.ErrKeyExists) || wrongRevision(err) {
		return 0, errConflict
	}
	if err != nil {
		return 0, fmt.Errorf("create %s: %w", key, err)
	}
	return rev, nil
}

// update is KeyValue.Update with a TTL, which Update cannot set: the
// same message, published with the expected revision and Nats-TTL.
func (b *kvBucket) update(ctx context.Context, key string, val []byte, rev uint64, ttl time.Duration) (uint64, error) {
	m := &nats.Msg{Subject: "$KV." + contract.LoginBucket + "." + key, Header: nats.Header{}, Data: val}
	ack, err := b.js.PublishMsg(ctx, m, jetstream.WithExpectLastSequencePerSubject(rev), jetstream.WithMsgTTL(kvTTL(ttl)))
	if wrongRevision(err) {
		return 0, errConflict
	}
	if err != nil {
		return 0, fmt.Errorf("update %s: %w", key, err)
	}
	return ack.Sequence, nil
}

func (b *kvBucket) remove(ctx context.Context, key string, rev uint64) error {
	var opts []jetstream.KVDeleteOpt
	if rev != 0 {
		opts = append(opts, jetstream.LastRevision(rev))
	}
	err := b.kv.Purge(ctx, key, opts...)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return nil
	case errors.Is(err, jetstream.ErrKeyRevisionMismatch) || wrongRevision(err):
		return errConflict
	case err != nil:
		return fmt.Errorf("remove %s: %w", key, err)
	}
	return nil
}

func (b *kvBucket) watch(ctx context.Context, prefix string, fn func(string, []byte, uint64, bool)) error {
	w, err := b.kv.Watch(ctx, prefix+">")
	if err != nil {
		return fmt.Errorf("watch %s>: %w", prefix, err)
	}
	deliver := func(e jetstream.KeyValueEntry) {
		fn(e.Key(), e.Value(), e.Revision(), e.Operation() != jetstream.KeyValuePut)
	}
	// The present keys, up to the nil that ends them.
	for {
		select {
		case <-ctx.Done():
			_ = w.Stop()
			return ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("watch ended before the present keys were read")
			}
			if e != nil {
				deliver(e)
				continue
			}
		}
		break
	}
	go func() {
		defer func() { _ = w.Stop() }()
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e != nil {
					deliver(e)
				}
			}
		}
	}()
	return nil
}

// kvTTL rounds a TTL to what NATS keeps: whole seconds, at least one.
func kvTTL(ttl time.Duration) time.Duration {
	return max(ttl.Truncate(time.Second), time.Second)
}

func wrongRevision(err error) bool {
	var ae *jetstream.APIError
	return errors.As(err, &ae) && (ae.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		ae.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// memBucket is a bucket in this process's memory, with the same
// revisions and TTLs as kvBucket: logins without a token key.
type memBucket struct {
	mu       sync.Mutex
	seq      uint64
	entries  map[string]memEntry
	watchers []memWatcher
}

type memEntry struct {
	val   []byte
	rev   uint64
	timer *time.Timer
}

type memWatcher struct {
	prefix string
	fn     func(string, []byte, uint64, bool)
	mu     *sync.Mutex // fn is never called concurrently
}

func newMemBucket() *memBucket { return &memBucket{entries: map[string]memEntry{}} }

func (b *memBucket) get(_ context.Context, key string) ([]byte, uint64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.entries[key]
	if !ok {
		return nil, 0, errNotFound
	}
	return e.val, e.rev, nil
}

func (b *memBucket) create(ctx context.Context, key string, val []byte, ttl time.Duration) (uint64, error) {
	return b.put(key, val, 0, ttl)
}

func (b *memBucket) update(ctx context.Context, key string, val []byte, rev uint64, ttl time.Duration) (uint64, error) {
	return b.put(key, val, rev, ttl)
}

func (b *memBucket) put(key string, val []byte, rev uint64, ttl time.Duration) (uint64, error) {
	b.mu.Lock()
	e, ok := b.entries[key]
	if (ok && e.rev != rev) || (!ok && rev != 0) {
		b.mu.Unlock()
		return 0, errConflict
	}
	if e.timer != nil {
		e.timer.Stop()
	}
	b.seq++
	n := memEntry{val: val, rev: b.seq}
	nrev := n.rev
	n.timer = time.AfterFunc(kvTTL(ttl), func() { b.expire(key, nrev) })
	b.entries[key] = n
	ws := b.watching(key)
	b.mu.Unlock()
	notify(ws, key, val, n.rev, false)
	return n.rev, nil
}

func (b *memBucket) expire(key string, rev uint64) {
	b.mu.Lock()
	e, ok := b.entries[key]
	if !ok || e.rev != rev {
		b.mu.Unlock()
		return
	}
	delete(b.entries, key)
	b.seq++
	ws, seq := b.watching(key), b.seq
	b.mu.Unlock()
	notify(ws, key, nil, seq, true)
}

func (b *memBucket) remove(_ context.Context, key string, rev uint64) error {
	b.mu.Lock()
	e, ok := b.entries[key]
	if !ok {
		b.mu.Unlock()
		return nil
	}
	if rev != 0 && e.rev != rev {
		b.mu.Unlock()
		return errConflict
	}
	e.timer.Stop()
	delete(b.entries, key)
	b.seq++
	ws, seq := b.watching(key), b.seq
	b.mu.Unlock()
	notify(ws, key, nil, seq, true)
	return nil
}

func (b *memBucket) watch(ctx context.Context, prefix string, fn func(string, []byte, uint64, bool)) error {
	w := memWatcher{prefix: prefix, fn: fn, mu: &sync.Mutex{}}
	b.mu.Lock()
	type kv struct {
		key string
		val []byte
		rev uint64
	}
	var present []kv
	for k, e := range b.entries {
		if strings.HasPrefix(k, prefix) {
			present = append(present, kv{k, e.val, e.rev})
		}
	}
	b.watchers = append(b.watchers, w)
	b.mu.Unlock()
	for _, p := range present {
		notify([]memWatcher{w}, p.key, p.val, p.rev, false)
	}
	go func() {
		<-ctx.Done()
		b.mu.Lock()
		defer b.mu.Unlock()
		for i := range b.watchers {
			if b.watchers[i].mu == w.mu {
				b.watchers = append(b.watchers[:i], b.watchers[i+1:]...)
				break
			}
		}
	}()
	return nil
}

// watching returns the watchers of key; b.mu is held.
func (b *memBucket) watching(key string) []memWatcher {
	var out []memWatcher
	for _, w := range b.watchers {
		if strings.HasPrefix(key, w.prefix) {
			out = append(out, w)
		}
	}
	return out
}

func notify(ws []memWatcher, key string, val []byte, rev uint64, deleted bool) {
	for _, w := range ws {
		w.mu.Lock()
		w.fn(key, val, rev, deleted)
		w.mu.Unlock()
	}
}
