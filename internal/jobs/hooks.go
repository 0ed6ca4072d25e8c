package jobs

import (
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
)

// hooks are where tests step into a Worker; all nil in production.
type hooks struct {
	// crashAt kills the processing of a fetch at a named step (one of
	// the step… constants) when it returns true: nothing more is done,
	// as if the process died there.
	crashAt func(step, fetchID string) bool
	// roundStarts is called as a round is about to run, with its
	// members' fetch ids, the lead's first. A test may block in it, so
	// that more requests of the account queue up for the next round.
	roundStarts func(fetchIDs []string)
	// loseAck, when it returns true, drops the acknowledgement of msg as
	// if it were lost on the way to the server: the request stays
	// pending and is delivered again (the test may Nak it to hurry).
	loseAck func(msg jetstream.Msg) bool
	// loseCommitReply, when it returns true, turns a stored commit of
	// the fetch into an error, as if the stream's reply were lost: the
	// worker cannot tell whether its commit landed.
	loseCommitReply func(fetchID string) bool
	// serviceWindow replaces contract.InServiceWindow in deciding whether
	// a scheduled tick, or a failure the window explains, falls in
	// Skatteverket's service window, so that a test passes at any hour.
	serviceWindow func(time.Time) bool
	// rounds is told the account (omfragad) of every round as it is
	// about to run: which replica serves which account.
	rounds func(acct string)
	// held is told, at every check of the partitions, how many of them
	// this replica holds.
	held func(n int)
}

// errReplyLost is the error of a commit whose reply a test dropped.
var errReplyLost = errors.New("commit reply lost (test)")

// The steps of a fetch after which a test may kill it.
const (
	stepLoaded    = "loaded"    // the account's state is read
	stepCalled    = "called"    // the API is called
	stepKept      = "kept"      // the answers are kept as evidence, nothing committed
	stepDiffed    = "diffed"    // the commit is ready
	stepCommitted = "committed" // the commit is stored, the request not yet acknowledged
)

// crash reports whether a test wants the fetch killed at step.
func (h *hooks) crash(step, fetchID string) bool {
	return h.crashAt != nil && h.crashAt(step, fetchID)
}

// startRound tells a test that a round of these members is about to run.
func (h *hooks) startRound(round []*member) {
	if h.rounds != nil {
		h.rounds(round[0].req.Account.String())
	}
	if h.roundStarts == nil {
		return
	}
	ids := make([]string, len(round))
	for i, m := range round {
		ids[i] = m.fetchID
	}
	h.roundStarts(ids)
}

// ackLost reports whether a test wants the acknowledgement of msg lost.
func (h *hooks) ackLost(msg jetstream.Msg) bool {
	return h.loseAck != nil && h.loseAck(msg)
}

// inServiceWindow reports whether t is in the service window, as the
// test says if it says.
func (h *hooks) inServiceWindow(t time.Time) bool {
	if h.serviceWindow != nil {
		return h.serviceWindow(t)
	}
	return contract.InServiceWindow(t)
}

// replyLost reports whether a test wants the reply to the fetch's commit lost.
func (h *hooks) replyLost(fetchID string) bool {
	return h.loseCommitReply != nil && h.loseCommitReply(fetchID)
}

// pinned tells a test how many partitions this replica holds.
func (h *hooks) pinned(n int) {
	if h.held != nil {
		h.held(n)
	}
}
