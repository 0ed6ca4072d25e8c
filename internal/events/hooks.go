package events

// hooks are where tests step into a Store; all nil in production.
type hooks struct {
	// beforeBatch may fail the batch that would store the state of
	// generation gen, before it is sent (as if the process died there).
	beforeBatch func(gen int) error
}

// batch runs the beforeBatch hook, if set, for the state of generation gen.
func (h *hooks) batch(gen uint64) error {
	if h.beforeBatch == nil {
		return nil
	}
	return h.beforeBatch(int(gen))
}
