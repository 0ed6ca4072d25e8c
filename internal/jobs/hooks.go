package jobs

// hooks are where tests step into a Worker; all nil in production.
type hooks struct {
	// crashAt kills the processing of a fetch at a named step (one of
	// the step… constants) when it returns true: nothing more is done,
	// as if the process died there.
	crashAt func(step, fetchID string) bool
}

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
