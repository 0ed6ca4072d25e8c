package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/events"
	"github.com/skattekonto-events/skattekonto-events/internal/skv"
)

// The metadata keys of an answer's object: what first brought it.
const (
	MetaOperation     = "operation"
	MetaHTTPStatus    = "http-status"
	MetaCorrelationID = "correlation-id"
	MetaAt            = "at"
)

var (
	// ErrNotKept is returned for an answer that is not in
	// the bucket (never kept, or past its retention).
	ErrNotKept = errors.New("audit: not kept")
	// ErrTampered is returned when a kept answer's bytes do not hash to
	// its name: the evidence was changed after it was kept.
	ErrTampered = errors.New("audit: answer does not match its hash")
)

// Config configures a Store. The zero value means the defaults.
type Config struct {
	// Bucket, MaxAge and Replicas of the bucket (contract.AuditSettings).
	Bucket   string
	MaxAge   time.Duration
	Replicas int
	// NoCreate opens a bucket made by the operator instead of creating it.
	NoCreate bool
	// KeptCache is how many answers' hashes the store remembers as kept
	// (0: DefaultKeptCache, negative: none).
	KeptCache int
}

// Store keeps and reads API answers. It is safe for concurrent use.
type Store struct {
	obj    jetstream.ObjectStore
	bucket string
	// pub publishes answers (write): a JetStream context of its own, so
	// that waiting for its acks waits for nothing else.
	pub    jetstream.JetStream
	maxAge time.Duration
	// kept remembers answers known to be in the bucket, so that an
	// answer that comes again (most do: an unchanged balance, the same
	// payout account) costs no round trip.
	kept *keptCache
}

// Open opens the audit bucket, creating it (or updating its settings)
// unless cfg.NoCreate.
func Open(ctx context.Context, js jetstream.JetStream, cfg Config) (*Store, error) {
	oc := contract.AuditBucketConfig(contract.AuditSettings{Bucket: cfg.Bucket, MaxAge: cfg.MaxAge, Replicas: cfg.Replicas})
	var obj jetstream.ObjectStore
	err := events.RetrySetup(ctx, func(ctx context.Context) (err error) {
		if cfg.NoCreate {
			obj, err = js.ObjectStore(ctx, oc.Bucket)
		} else {
			obj, err = js.CreateOrUpdateObjectStore(ctx, oc)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("audit: open bucket %s: %w", oc.Bucket, err)
	}
	// An ack that never comes (a connection lost with the publish in it)
	// ends in an error after writeTimeout, not a wait as long as ctx.
	pub, err := jetstream.New(js.Conn(), jetstream.WithPublishAsyncTimeout(writeTimeout))
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return &Store{obj: obj, bucket: oc.Bucket, pub: pub, maxAge: cfg.MaxAge, kept: newKeptCache(cfg.KeptCache, cfg.MaxAge)}, nil
}

// Keep stores the answer of each call that brought one (a Body), once
// however many calls brought it. An answer already kept is not stored
// again, unless it is old enough (half the retention) that it could
// expire before the events that now cite it. The answers are written
// together and their acks awaited together: one round trip for a fetch's
// new answers (an answer this worker knows is kept costs none). It
// returns only when all is stored: the caller may then commit the events
// the answers explain.
//
// Which call brought which answer is told by the fetch's closing event
// (data.calls[]: correlation id, operation, status, time, sha256), stored
// after the answers; the answer's metadata name the call that first
// brought it.
func (s *Store) Keep(ctx context.Context, calls []skv.Call) error {
	now := time.Now()
	var sent []pending
	byHash := map[string]skv.Call{}
	for _, c := range calls {
		if c.Body == nil {
			continue
		}
		sum := c.Sha256()
		if _, twice := byHash[sum]; twice || s.kept.fresh(sum, now) {
			continue // kept already, seen by this process, or in this Keep
		}
		if len(c.Body) > maxChunk {
			// Answers of more than one chunk take the Object Store's own
			// Put (rare: a year of transactions is a few tens of KB).
			if err := s.putLarge(ctx, sum, c, now); err != nil {
				return err
			}
			continue
		}
		p, err := s.write(sum, answerMeta(sum, c), c.Body, false)
		if err != nil {
			return fmt.Errorf("audit: keep answer %s: %w", sum, err)
		}
		sent = append(sent, p)
		byHash[sum] = c
	}
	for _, p := range sent {
		exists, err := p.wait(ctx)
		if err != nil {
			return err
		}
		if exists {
			// Kept before, by another replica or before a restart.
			if err := s.keptBefore(ctx, p.sum, byHash[p.sum], now); err != nil {
				return err
			}
			continue
		}
		s.kept.add(p.sum, now, now)
	}
	return nil
}

// keptBefore settles an answer found in the bucket already: one young
// enough to be cited is left as it is (its metadata keep naming the call
// that first brought it); an older one, or one deleted, is written anew so
// that it outlives the events that are about to cite it.
func (s *Store) keptBefore(ctx context.Context, sum string, c skv.Call, now time.Time) error {
	info, kept, err := s.lookUp(ctx, sum, now)
	if err != nil {
		return err
	}
	if kept {
		if info.NUID != sum {
			// Kept by an older version under chunks of another name: the
			// chunk just written is not the object's.
			s.purgeChunks(ctx, sum)
		}
		return nil
	}
	p, err := s.write(sum, answerMeta(sum, c), c.Body, true)
	if err != nil {
		return fmt.Errorf("audit: keep answer %s: %w", sum, err)
	}
	if _, err := p.wait(ctx); err != nil {
		return err
	}
	if info != nil && info.NUID != "" && info.NUID != sum {
		s.purgeChunks(ctx, info.NUID) // the former version's chunks, as Put purges them
	}
	s.kept.add(sum, now, now)
	return nil
}

// lookUp looks an answer up in the bucket. kept reports one young enough
// to be cited again without being written anew (it is then remembered);
// info is the object found, deleted or not, nil when there is none.
func (s *Store) lookUp(ctx context.Context, sum string, now time.Time) (info *jetstream.ObjectInfo, kept bool, err error) {
	info, err = s.obj.GetInfo(ctx, sum, jetstream.GetObjectInfoShowDeleted())
	switch {
	case errors.Is(err, jetstream.ErrObjectNotFound):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("audit: look up answer %s: %w", sum, err)
	case !info.Deleted && s.young(info.ModTime, now):
		s.kept.add(sum, info.ModTime, now)
		return info, true, nil
	}
	return info, false, nil
}

// purgeChunks removes the chunks named nuid, as the Object Store's Put
// removes an object's former chunks: best effort (a purge the role
// refuses leaves them until the bucket's TTL).
func (s *Store) purgeChunks(ctx context.Context, nuid string) {
	if st, err := s.pub.Stream(ctx, "OBJ_"+s.bucket); err == nil {
		_ = st.Purge(ctx, jetstream.WithPurgeSubject("$O."+s.bucket+".C."+nuid))
	}
}

// answerMeta is the object metadata of an answer: its hash for a name and
// the call that brought it.
func answerMeta(sum string, c skv.Call) jetstream.ObjectMeta {
	return jetstream.ObjectMeta{
		Name: sum,
		// One chunk of the answer's size: the client reads a body through
		// a buffer of the chunk size (128 KiB by default), which for
		// answers of a few KB was most of what a worker allocated while
		// keeping evidence.
		Opts: &jetstream.ObjectMetaOptions{ChunkSize: chunkSize(len(c.Body))},
		Metadata: map[string]string{
			MetaOperation:     string(c.Operation),
			MetaHTTPStatus:    strconv.Itoa(c.HTTPStatus),
			MetaCorrelationID: c.CorrelationID,
			MetaAt:            c.At.UTC().Format(time.RFC3339Nano),
		},
	}
}

// putLarge stores an answer of more than one chunk through the Object
// Store's Put, once: an answer kept already and young enough is not
// written again.
func (s *Store) putLarge(ctx context.Context, sum string, c skv.Call, now time.Time) error {
	if _, kept, err := s.lookUp(ctx, sum, now); err != nil || kept {
		return err
	}
	info, err := s.obj.Put(ctx, answerMeta(sum, c), bytes.NewReader(c.Body))
	if err != nil {
		return fmt.Errorf("audit: keep answer %s: %w", sum, err)
	}
	s.kept.add(sum, info.ModTime, now)
	return nil
}

// writeTimeout bounds the wait for the acks of an answer's writes.
const writeTimeout = 10 * time.Second

// maxChunk is the largest chunk an answer is stored in: the Object
// Store's default.
const maxChunk = 128 * 1024

// chunkSize is the chunk size that stores an answer of n bytes in one
// chunk, up to maxChunk.
func chunkSize(n int) uint32 {
	return uint32(min(max(n, 1), maxChunk))
}

// young reports whether an answer stored at mod is young enough to be
// cited again without storing it anew: within half the retention.
func (s *Store) young(mod, now time.Time) bool {
	return s.maxAge == 0 || now.Sub(mod) < s.maxAge/2
}

// Answer returns the kept answer named sum after checking that its bytes
// hash to sum (ErrTampered when not), with the metadata of the call that
// first brought it.
func (s *Store) Answer(ctx context.Context, sum string) ([]byte, map[string]string, error) {
	info, err := s.obj.GetInfo(ctx, sum)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, nil, fmt.Errorf("answer %s: %w", sum, ErrNotKept)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("audit: answer %s: %w", sum, err)
	}
	b, err := s.obj.GetBytes(ctx, sum)
	if errors.Is(err, jetstream.ErrDigestMismatch) {
		return nil, info.Metadata, fmt.Errorf("answer %s: %w (%v)", sum, ErrTampered, err)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("audit: answer %s: %w", sum, err)
	}
	if got := skv.Sha256(b); got != sum {
		return b, info.Metadata, fmt.Errorf("answer %s: %w: the bytes hash to %s", sum, ErrTampered, got)
	}
	return b, info.Metadata, nil
}
