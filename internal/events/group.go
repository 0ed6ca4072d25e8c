package events

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// Group commit: every atomic batch costs the server a fixed amount of
// work (on a one-replica file stream it stages each batch in a store of
// its own), so small commits of concurrent fetches — most are just a
// FetchCompleted and a state — are sent together as one atomic batch.
// Each member keeps its own state message with its own expected
// sequence, so the group stores every member or none; when it fails (one
// member's state moved, say), each member is sent alone again and gets
// its own answer. Exactly-once holds as for single commits: every member
// is all its messages with its state, or nothing.
const (
	// maxGroupMember is the largest commit (in messages) that joins a
	// group: a first fetch of up to ~250 transactions.
	maxGroupMember = maxBatch / 4
	// maxGroup bounds a group's messages: the server's limit. Every batch
	// costs the server a fixed amount (a staging store, a disk sync), so
	// first fetches (~60 messages at 50 transactions) go 16 to a batch.
	maxGroup = maxBatch
	// groupCommitters send groups in parallel. One: a batch holds up
	// the stream's other writes while the server syncs it to disk, so
	// fewer, larger batches (what queued while the last was sent) let
	// the lean commits of unchanged fetches through (measured: the round
	// after a change ran 0.8× the simple poller with two, 1.2–2.1× with one).
	groupCommitters = 1
	// groupTimeout bounds one group's publish.
	groupTimeout = 10 * time.Second
)

var errStoreClosed = errors.New("store closed")

type groupRequest struct {
	msgs []*nats.Msg
	done chan groupResult
}

type groupResult struct {
	seq uint64
	err error
}

type groupCommitter struct {
	store *Store
	queue chan *groupRequest
	quit  chan struct{}
	// grouped counts commits stored as members of a group of two or more.
	grouped atomic.Int64
	// sending is held while a group is gathered and sent (a test holds
	// it to let commits queue up).
	sending sync.Mutex
}

func newGroupCommitter(s *Store, n int) *groupCommitter {
	g := &groupCommitter{store: s, queue: make(chan *groupRequest, 1024), quit: make(chan struct{})}
	for range n {
		go g.run()
	}
	return g
}

func (g *groupCommitter) close() {
	select {
	case <-g.quit:
	default:
		close(g.quit)
	}
}

// commit queues msgs and waits for their group's outcome. If ctx ends
// first the outcome is unknown to the caller (as with a lost ack): the
// state tells later whether it was stored.
func (g *groupCommitter) commit(ctx context.Context, msgs []*nats.Msg) (uint64, error) {
	r := &groupRequest{msgs: msgs, done: make(chan groupResult, 1)}
	select {
	case g.queue <- r:
	case <-g.quit:
		return 0, errStoreClosed
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	select {
	case res := <-r.done:
		return res.seq, res.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func (g *groupCommitter) run() {
	var carry *groupRequest
	for {
		first := carry
		carry = nil
		if first == nil {
			select {
			case first = <-g.queue:
			case <-g.quit:
				return
			}
		}
		g.sending.Lock()
		group := []*groupRequest{first}
		total := len(first.msgs)
	fill:
		for total < maxGroup {
			select {
			case r := <-g.queue:
				if total+len(r.msgs) > maxGroup {
					carry = r
					break fill
				}
				group = append(group, r)
				total += len(r.msgs)
			default:
				break fill
			}
		}
		g.send(group, total)
		g.sending.Unlock()
	}
}

// send publishes a group; on failure each member is sent alone.
func (g *groupCommitter) send(group []*groupRequest, total int) {
	ctx, cancel := context.WithTimeout(context.Background(), groupTimeout)
	defer cancel()
	if len(group) == 1 {
		seq, err := g.store.sendAlone(ctx, group[0].msgs)
		group[0].done <- groupResult{seq, err}
		return
	}
	all := make([]*nats.Msg, 0, total)
	for _, r := range group {
		all = append(all, r.msgs...)
	}
	last, err := g.store.send(ctx, all)
	if err == nil {
		// A batch is stored contiguously: each member's state, its last
		// message, sits as far before the batch's last sequence as the
		// messages after it.
		g.grouped.Add(int64(len(group)))
		after := uint64(total)
		for _, r := range group {
			after -= uint64(len(r.msgs))
			r.done <- groupResult{seq: last - after}
		}
		return
	}
	for _, r := range group {
		seq, err := g.store.sendAlone(ctx, r.msgs)
		r.done <- groupResult{seq, err}
	}
}
