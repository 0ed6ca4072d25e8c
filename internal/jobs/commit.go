package jobs

import (
	"context"

	"github.com/skattekonto-events/skattekonto-events/internal/events"
)

// maxCommitTries bounds re-diffing after conflicting commits.
const maxCommitTries = 5

// commit stores the fetch's events with the account's new state, all or
// nothing. When another commit of the account came first, it reads the
// state again: requests that commit answered (this very fetch before a
// crash or a lost reply, or another worker) drop out, and done when none
// is left; a failure is committed again on the new state; fresh answers
// are not: again tells runFetch to start over with fresh answers.
func (w *Worker) commit(ctx context.Context, f *fetch, a *answers) (v verdict, again bool) {
	for try := 0; ; try++ {
		c := w.diff(f, a)
		if w.hooks.crash(stepDiffed, f.id) {
			return crashed, false
		}
		_, err := w.store.Commit(ctx, c)
		w.noteNATS(err, true)
		if err == nil && w.hooks.replyLost(f.id) {
			err = errReplyLost
		}
		if err == nil {
			w.countPublished(&c)
			if w.hooks.crash(stepCommitted, f.id) {
				return crashed, false
			}
			return done, false
		}
		if !events.IsConflict(err) || try >= maxCommitTries {
			// The commit may have landed all the same (a lost reply): the
			// next delivery, or giveUp on the last, reads the state first.
			f.tr.end(OutcomeCommitFailed, err)
			return retry, false
		}
		w.cfg.Metrics.CommitConflict()
		if v, ok := w.load(ctx, f); !ok {
			return v, false
		}
		if a.failure == nil {
			// Another fetch of this account committed first, perhaps from
			// newer answers than ours: diffing ours against its state could
			// report a change backwards. Start again with fresh answers.
			f.tr.end(OutcomeConflictRetry, err)
			return retry, true
		}
	}
}

// countPublished counts a commit's events by type.
func (w *Worker) countPublished(c *events.Commit) {
	if w.cfg.Metrics == nil {
		return
	}
	n := map[events.Type]int{}
	for _, e := range c.Events() {
		n[e.Type]++
	}
	for t, k := range n {
		w.cfg.Metrics.EventsPublished(string(t), k)
	}
}
