package events

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
)

// maxBatch is JetStream's limit of messages in one atomic batch.
const maxBatch = 1000

// ErrConflict means the account's state changed since it was read (another
// fetch of the same account committed first, or this one already did): the
// caller re-reads the state and decides again.
var ErrConflict = errors.New("account state changed since it was read")

// ErrTooManyChanges means a single fetch found more changes other than new
// transactions than one atomic batch can hold.
var ErrTooManyChanges = errors.New("too many changes for one atomic batch")

// StoreConfig configures a Store. The zero value means the defaults.
type StoreConfig struct {
	// Stream is the events stream's name; default contract.EventsStream.
	Stream string
	// Create creates or updates the stream at start (default on; switch
	// off when streams are managed declaratively).
	NoCreate bool
	// Replicas of the stream when it is created; default 1.
	Replicas int
	// Duplicates is the de-duplication window for Nats-Msg-Id; default 10 minutes.
	Duplicates time.Duration
	// NoGroupCommit commits each fetch in its own atomic batch instead of
	// grouping concurrent fetches' commits into one.
	NoGroupCommit bool
	// MaxAge of events; default 0 (kept forever). Every fetch rewrites its
	// account's state, so an account fetched more often than MaxAge keeps it.
	MaxAge time.Duration
	// OnStaleState, when set, is told of every commit that found events
	// of the account stored after its state (tail.go); it must not block.
	OnStaleState func(StaleState)
	// StateCache is how many accounts' states are kept in memory (cache.go);
	// default DefaultStateCache, negative none.
	StateCache int
}

// StreamConfig is the configuration the events stream needs (see
// contract.EventsStreamConfig): atomic batches for events with their
// state, rollup so that each account keeps one state message, direct get
// to read it cheaply.
func (c StoreConfig) StreamConfig() jetstream.StreamConfig {
	return contract.EventsStreamConfig(contract.EventsStreamSettings{
		Name: c.Stream, Replicas: c.Replicas, Duplicates: c.Duplicates, MaxAge: c.MaxAge,
	})
}

func (c StoreConfig) withDefaults() StoreConfig {
	if c.Stream == "" {
		c.Stream = contract.EventsStream
	}
	return c
}

// Store reads accounts' states and commits events with the new state.
type Store struct {
	js     jetstream.JetStream
	stream jetstream.Stream
	hooks  hooks
	// group, unless switched off, commits small commits together.
	group *groupCommitter
	// onStale is StoreConfig.OnStaleState.
	onStale func(StaleState)
	// cache, unless switched off, keeps recently used states (cache.go).
	cache *stateCache
}

func (s *Store) staleState(st StaleState) {
	if s.onStale != nil {
		s.onStale(st)
	}
}

// NewStore opens (and unless cfg.NoCreate, creates or updates) the events stream.
func NewStore(ctx context.Context, js jetstream.JetStream, cfg StoreConfig) (*Store, error) {
	cfg = cfg.withDefaults()
	var (
		st  jetstream.Stream
		err error
	)
	if cfg.NoCreate {
		err = RetrySetup(ctx, func(ctx context.Context) (err error) {
			st, err = js.Stream(ctx, cfg.Stream)
			return err
		})
	} else {
		err = RetrySetup(ctx, func(ctx context.Context) (err error) {
			st, err = js.CreateOrUpdateStream(ctx, cfg.StreamConfig())
			return err
		})
		if err != nil {
			// A stream made by someone else may refuse an update (its
			// retention, say): use it as it is if it allows what commits need.
			if existing, e := js.Stream(ctx, cfg.Stream); e == nil {
				st, err = existing, checkEventsStream(existing.CachedInfo().Config)
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open stream %s: %w", cfg.Stream, err)
	}
	store := &Store{js: js, stream: st, onStale: cfg.OnStaleState}
	store.startCache(cfg.StateCache)
	if !cfg.NoGroupCommit {
		store.group = newGroupCommitter(store, groupCommitters)
	}
	return store, nil
}

// Close stops the group committers; commits after it are refused.
func (s *Store) Close() {
	if s.group != nil {
		s.group.close()
	}
}

// checkEventsStream tells whether an existing stream can hold events and
// states: atomic batches, rollups and both subject spaces.
func checkEventsStream(c jetstream.StreamConfig) error {
	var missing []string
	if !c.AllowAtomicPublish {
		missing = append(missing, "allow_atomic")
	}
	if !c.AllowRollup {
		missing = append(missing, "allow_rollup_hdrs")
	}
	for _, want := range []string{contract.AllEvents, contract.StatePrefix + ">"} {
		if !slices.ContainsFunc(c.Subjects, func(f string) bool { return covers(f, want) }) {
			missing = append(missing, "subject "+want)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("existing stream cannot be updated and lacks %v", missing)
	}
	return nil
}

// covers reports whether the subject filter f matches every subject that
// filter want matches: token by token, "*" stands for any one token and a
// final ">" for the rest.
func covers(f, want string) bool {
	ft, wt := strings.Split(f, "."), strings.Split(want, ".")
	for i, t := range ft {
		switch {
		case t == ">":
			return true
		case i >= len(wt) || wt[i] == ">":
			return false
		case t != "*" && t != wt[i]:
			return false
		}
	}
	return len(ft) == len(wt)
}

// Load returns the account's stored state and the sequence of its
// message, 0 when the account has none yet: from the state cache when it
// holds the account (the commit tells when that was stale).
func (s *Store) Load(ctx context.Context, omfragad string) (State, uint64, error) {
	if st, seq, ok := s.cache.get(omfragad); ok {
		return st, seq, nil
	}
	m, err := s.stream.GetLastMsgForSubject(ctx, contract.StateSubject(omfragad))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		s.cache.put(omfragad, State{}, 0, found{})
		return State{}, 0, nil
	}
	if err != nil {
		return State{}, 0, fmt.Errorf("load state: %w", err)
	}
	st, err := DecodeState(m.Data)
	if err != nil {
		return State{}, 0, err
	}
	if s.cache != nil {
		// Where the account's last event is: after the state when lean
		// commits followed it (lean.go).
		f := found{at: position{state: m.Sequence}, stored: m.Time}
		last, err := s.stream.GetLastMsgForSubject(ctx, contract.AccountEvents(omfragad))
		if err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return State{}, 0, fmt.Errorf("load state: last event: %w", err)
		}
		if err == nil {
			f.at.lastEvent = last.Sequence
		}
		s.cache.put(omfragad, st, m.Sequence, f)
	}
	return st, m.Sequence, nil
}

// publish stores one batch: events (but those whose ids are in skip,
// already in the stream), the closing event (likewise) and the state, on
// top of the account's position at. It returns the new position.
func (s *Store) publish(ctx context.Context, acct string, at position, events []Event, closing *Event, st *State, skip map[string]bool) (position, error) {
	if err := s.hooks.batch(st.Generation); err != nil {
		return position{}, err
	}
	msgs := make([]*nats.Msg, 0, len(events)+2)
	add := func(e *Event) error {
		if skip[e.ID] {
			return nil
		}
		m, err := e.Msg()
		if err != nil {
			return err
		}
		if len(msgs) == 0 {
			// The account's last event must be where its state says:
			// otherwise the stream holds events after the state (tail.go).
			m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(at.lastEvent, 10))
			m.Header.Set(jetstream.ExpectedLastSubjSeqSubjHeader, contract.AccountEvents(acct))
		}
		msgs = append(msgs, m)
		return nil
	}
	for i := range events {
		if err := add(&events[i]); err != nil {
			return position{}, err
		}
	}
	if closing != nil {
		if err := add(closing); err != nil {
			return position{}, err
		}
	}
	stored := len(msgs)
	body, err := st.Encode()
	if err != nil {
		return position{}, fmt.Errorf("encode state: %w", err)
	}
	sm := nats.NewMsg(contract.StateSubject(acct))
	sm.Data = body
	sm.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(at.state, 10))
	sm.Header.Set("Nats-Rollup", "sub")
	msgs = append(msgs, sm)

	var ack uint64
	if s.group != nil && len(msgs) <= maxGroupMember {
		ack, err = s.group.commit(ctx, msgs)
	} else {
		ack, err = s.send(ctx, msgs)
	}
	// Whatever happened, the cached state is not the stored one now
	// (Commit caches the new state after a success).
	s.cache.drop(acct)
	if err != nil {
		if IsConflict(err) {
			return position{}, fmt.Errorf("commit %d events: %w (%v)", stored, ErrConflict, err)
		}
		return position{}, fmt.Errorf("commit %d events: %w", stored, err)
	}
	next := position{state: ack, lastEvent: at.lastEvent}
	if stored > 0 {
		next.lastEvent = ack - 1
	}
	return next, nil
}

// sendAlone stores one commit: a single message (a lean commit) with a
// plain publish, more as one atomic batch.
func (s *Store) sendAlone(ctx context.Context, msgs []*nats.Msg) (uint64, error) {
	if len(msgs) == 1 {
		return s.publishOne(ctx, msgs[0])
	}
	return s.send(ctx, msgs)
}

// clearBatch removes what an earlier attempt's batch left on m (the
// publish sets the batch headers and a reply on the caller's messages):
// sent with them, the server would take it for part of that batch.
func clearBatch(m *nats.Msg) {
	m.Reply = ""
	for _, h := range []string{jetstreamext.BatchIDHeader, jetstreamext.BatchSeqHeader, jetstreamext.BatchCommitHeader} {
		m.Header.Del(h)
	}
}

// send publishes msgs as one atomic batch and returns the sequence of the
// last one.
func (s *Store) send(ctx context.Context, msgs []*nats.Msg) (uint64, error) {
	for _, m := range msgs {
		clearBatch(m)
	}
	// No flow control: the batch is at most the server's limit, and an
	// ack every 50 messages made a first fetch's commit wait for about 20
	// round trips (measured: first fetches 4,800–8,700 events/s with it,
	// 10,500–15,100 without). A message the server did not get fails the
	// whole batch at its commit, as any other failure.
	ack, err := jetstreamext.PublishMsgBatch(ctx, s.js, msgs, jetstreamext.BatchFlowControl{})
	if err != nil {
		return 0, err
	}
	return ack.Sequence, nil
}

// IsConflict reports whether a publish failed because the expected state
// sequence was stale (10071 on one server, 10164 on a replicated stream)
// or because an event id was already stored (10201): in each case the
// state must be re-read.
func IsConflict(err error) bool {
	if errors.Is(err, ErrConflict) {
		return true
	}
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode {
	case jetstream.JSErrCodeStreamWrongLastSequence, jetstream.JSErrCodeStreamWrongLastSequenceConstant,
		jetstreamext.JSErrCodeBatchPublishDuplicateMsgID:
		return true
	}
	return false
}

// PublishAlone publishes one event outside any state (the FetchFailed of a
// request whose account cannot be told). Nats-Msg-Id de-duplicates a repeat.
func (s *Store) PublishAlone(ctx context.Context, e *Event) error {
	m, err := e.Msg()
	if err != nil {
		return err
	}
	if _, err := s.js.PublishMsg(ctx, m, jetstream.WithExpectStream(s.stream.CachedInfo().Config.Name)); err != nil {
		return fmt.Errorf("publish %s: %w", e.Type, err)
	}
	return nil
}
