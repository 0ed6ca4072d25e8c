package jobs

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/events"
)

// One account, one replica at a time, across the deployment.
//
// The fetch stream stores each request under skattekonto.fetch.<p>.<omfragad>
// (a subject transform hashes the account into one of the partitions), and
// each partition has its own durable consumer whose priority group the
// server pins to one replica at a time (pinned_client): every request of
// an account reaches the same replica, whose queue (queue.go) coalesces
// them. The other replicas pull as hot standbys; when the pinned one stops
// pulling (killed, cut off) the server unpins it after PinnedTTL and the
// next request goes to a standby.
//
// Where the pins land is the server's choice: the first waiting pull when
// a request comes to an unpinned partition. So that they spread, each
// replica checks every partition's consumer now and then (balance): a
// replica holding more than its share (the partitions divided by the live
// replicas that Config.Peers counts) hands one over — it stops pulling it,
// lets what it holds of it finish, and unpins it, so that a standby takes
// it without two replicas ever serving it at once — and a replica that
// holds its share stops standing by for the others' partitions, except
// for one that nobody has taken since the last check. A replica that
// stops hands over all of its partitions once its fetches are done.

// pinHeader is the header of a message delivered to the pinned client,
// with its pin id.
const pinHeader = "Nats-Pin-Id"

// partition is one consumer the worker pulls from: a partition's, or the
// legacy consumer of requests stored before the stream was partitioned.
type partition struct {
	num  int // -1: the legacy consumer
	name string
	cons jetstream.Consumer

	mu sync.Mutex
	// want: pull from it; changed is closed (and replaced) when want changes.
	want    bool
	changed chan struct{}
	// pinID is the pin id the last request carried.
	pinID string
	// held counts the requests of it being handled; pulling tells
	// whether a pull is open.
	held    int
	pulling bool
	// releasing: being handed over; gone: the legacy consumer is empty
	// or deleted, never pulled again.
	releasing bool
	gone      bool
	// orphan: at the last check it had requests waiting and no pin.
	orphan bool
}

func newPartition(num int, name string, cons jetstream.Consumer) *partition {
	return &partition{num: num, name: name, cons: cons, want: true, changed: make(chan struct{})}
}

func (p *partition) setWant(v bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gone {
		v = false
	}
	if p.want == v {
		return
	}
	p.want = v
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *partition) state() (bool, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.want, p.changed
}

func (p *partition) hold(n int) {
	p.mu.Lock()
	p.held += n
	p.mu.Unlock()
}

func (p *partition) setPulling(v bool) {
	p.mu.Lock()
	p.pulling = v
	p.mu.Unlock()
}

// idle tells whether it is neither pulled nor has requests in hand.
func (p *partition) idle() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.pulling && p.held == 0
}

func (p *partition) inHand() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.held
}

func (p *partition) setPin(id string) {
	p.mu.Lock()
	p.pinID = id
	p.mu.Unlock()
}

func (p *partition) pin() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pinID
}

// startRelease marks it as being handed over, unless it already is.
func (p *partition) startRelease() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.releasing {
		return false
	}
	p.releasing = true
	return true
}

func (p *partition) endRelease() {
	p.mu.Lock()
	p.releasing = false
	p.mu.Unlock()
}

func (p *partition) isReleasing() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.releasing
}

// retire stops pulling it for good.
func (p *partition) retire() {
	p.setWant(false)
	p.mu.Lock()
	p.gone = true
	p.mu.Unlock()
}

func (p *partition) isGone() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.gone
}

// wasOrphan returns what the last check saw and records what this one saw.
func (p *partition) wasOrphan(now bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	was := p.orphan
	p.orphan = now
	return was
}

// consumers are the consumers Run pulls from.
func (w *Worker) consumers() []*partition {
	if w.legacy == nil {
		return w.parts
	}
	return append(w.parts[:len(w.parts):len(w.parts)], w.legacy)
}

// keepStreamPartitions keeps the partitions of a fetch stream that has
// them already: requests are stored in them, and a worker configured for
// another count would strand those in partitions no consumer serves (or,
// in a rolling update, two counts would take turns). Changing the count
// is an operator's procedure (docs/operations.md).
func (w *Worker) keepStreamPartitions(ctx context.Context) {
	st, err := w.js.Stream(ctx, contract.FetchStream)
	if err != nil {
		return // none yet (or unreadable: creating it will say)
	}
	n := contract.StreamPartitions(st.CachedInfo().Config)
	if n == 0 || n == w.cfg.Partitions {
		return
	}
	w.cfg.Logger.Warn().Int("streamPartitions", n).Int("WORKER_PARTITIONS", w.cfg.Partitions).Str("stream", contract.FetchStream).
		Msg("the fetch stream keeps its partitions: WORKER_PARTITIONS applies to a new stream only (changing it: docs/operations.md)")
	w.cfg.Partitions = n
}

// openConsumers opens (and unless NoCreate first creates) the fetch
// stream and its consumers. A legacy consumer (Durable, made before
// partitions with filter skattekonto.fetch.>) is narrowed to the requests
// stored before the transform, before the transform is set, so that none
// it still serves moves; it is served beside the partitions until empty.
func (w *Worker) openConsumers(ctx context.Context) error {
	cfg := w.cfg
	js := w.js
	if cfg.NoCreate {
		err := events.RetrySetup(ctx, func(ctx context.Context) (err error) {
			w.stream, err = js.Stream(ctx, contract.FetchStream)
			return err
		})
		if err != nil {
			return fmt.Errorf("open stream %s: %w", contract.FetchStream, err)
		}
	} else {
		if err := w.narrowLegacy(ctx); err != nil {
			return err
		}
		w.keepStreamPartitions(ctx)
		cfg = w.cfg
		err := events.RetrySetup(ctx, func(ctx context.Context) (err error) {
			w.stream, err = js.CreateOrUpdateStream(ctx, contract.PartitionedFetchStreamConfig(cfg.Replicas, cfg.Partitions))
			return err
		})
		if err != nil {
			// A stream made by someone else may refuse the update (its
			// retention cannot change): use it as it is.
			st, e := js.Stream(ctx, contract.FetchStream)
			if e != nil {
				return fmt.Errorf("create stream %s: %w", contract.FetchStream, err)
			}
			w.stream = st
			cfg.Logger.Warn().Err(err).Str("stream", contract.FetchStream).Msg("existing stream kept as it is: it could not be updated")
		}
	}
	n := contract.StreamPartitions(w.stream.CachedInfo().Config)
	for p := range n {
		name := contract.PartitionConsumer(cfg.Durable, p)
		var c jetstream.Consumer
		err := events.RetrySetup(ctx, func(ctx context.Context) (err error) {
			if cfg.NoCreate {
				c, err = js.Consumer(ctx, contract.FetchStream, name)
			} else {
				c, err = js.CreateOrUpdateConsumer(ctx, contract.FetchStream, contract.ConsumerConfig(cfg.consumerSettings(), p))
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("open consumer %s: %w", name, err)
		}
		w.parts = append(w.parts, newPartition(p, name, c))
	}
	if n == 0 {
		// A stream without partitions (made by an operator before them, or
		// an update refused): its one consumer serves every request.
		cfg.Logger.Warn().Str("stream", contract.FetchStream).
			Msg("the fetch stream has no partitions: the replicas share one consumer, and an account's requests may be served by two replicas at once (docs/operations.md)")
		var c jetstream.Consumer
		err := events.RetrySetup(ctx, func(ctx context.Context) (err error) {
			if cfg.NoCreate {
				c, err = js.Consumer(ctx, contract.FetchStream, cfg.Durable)
			} else {
				c, err = js.CreateOrUpdateConsumer(ctx, contract.FetchStream, cfg.LegacyConsumerConfig())
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("open consumer %s: %w", cfg.Durable, err)
		}
		w.legacy = newPartition(-1, cfg.Durable, c)
		return nil
	}
	c, err := w.findLegacy(ctx)
	if err != nil {
		return err
	}
	if c != nil {
		w.legacy = newPartition(-1, cfg.Durable, c)
	}
	return nil
}

// findLegacy returns the legacy consumer, or nil when there is none.
func (w *Worker) findLegacy(ctx context.Context) (jetstream.Consumer, error) {
	var c jetstream.Consumer
	err := events.RetrySetup(ctx, func(ctx context.Context) (err error) {
		c, err = w.js.Consumer(ctx, contract.FetchStream, w.cfg.Durable)
		if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
			c, err = nil, nil
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("look up consumer %s: %w", w.cfg.Durable, err)
	}
	return c, nil
}

// narrowLegacy narrows a consumer made before partitions (filter
// skattekonto.fetch.>) to the unpartitioned requests, which the
// partitions' consumers would overlap otherwise (a work queue refuses
// that).
func (w *Worker) narrowLegacy(ctx context.Context) error {
	c, err := w.findLegacy(ctx)
	if err != nil || c == nil {
		return err
	}
	if info := c.CachedInfo(); info != nil && info.Config.FilterSubject == contract.LegacyFilter && len(info.Config.FilterSubjects) == 0 {
		return nil
	}
	err = events.RetrySetup(ctx, func(ctx context.Context) error {
		_, err := w.js.CreateOrUpdateConsumer(ctx, contract.FetchStream, w.cfg.LegacyConsumerConfig())
		return err
	})
	if err != nil {
		return fmt.Errorf("narrow consumer %s to %s: %w", w.cfg.Durable, contract.LegacyFilter, err)
	}
	w.log.Info().Str("consumer", w.cfg.Durable).Str("filter", contract.LegacyFilter).
		Msg("the consumer made before partitions now serves only the requests stored before them; it is deleted once they are answered")
	return nil
}

// pinnedTTL is the partitions' pinned TTL as the server has it.
func (w *Worker) pinnedTTL() time.Duration {
	for _, p := range w.parts {
		if info := p.cons.CachedInfo(); info != nil && info.Config.PinnedTTL > 0 {
			return info.Config.PinnedTTL
		}
	}
	return w.cfg.PinnedTTL
}

// pullExpiryFor is the expiry of each pull from p: a pinned replica pulls
// again at least three times per pinned TTL, so that it keeps its pin.
func (w *Worker) pullExpiryFor(p *partition) time.Duration {
	if p.num < 0 {
		return pullExpiry
	}
	return max(time.Second, min(pullExpiry, w.pinnedTTL()/3))
}

// balanceEvery is how often balance checks the partitions.
func (w *Worker) balanceEvery() time.Duration {
	return max(time.Second, min(5*time.Second, w.pinnedTTL()/4))
}

// pull pulls requests from p while it is wanted, until ctx ends, and
// hands each to dispatch. When p is no longer wanted, or ctx ends, the
// pull is drained: the requests already received are still dispatched.
func (w *Worker) pull(ctx context.Context, p *partition, dispatch func(jetstream.Msg, *partition)) {
	batch := 2 * w.cfg.Concurrency
	if p.num >= 0 {
		batch = max(8, batch/len(w.parts))
	}
	for {
		want, changed := p.state()
		if !want {
			select {
			case <-ctx.Done():
				return
			case <-changed:
				continue
			}
		}
		if ctx.Err() != nil {
			return
		}
		// A pull the server no longer holds (nats.go#1622: the consumer
		// shows no waiting pull while requests wait) is noticed when
		// heartbeats stop, after two of them: a 5 s expiry bounds that wait.
		opts := []jetstream.PullMessagesOpt{jetstream.PullMaxMessages(batch), jetstream.PullExpiry(w.pullExpiryFor(p))}
		if p.num >= 0 {
			opts = append(opts, jetstream.PullPriorityGroup(contract.PriorityGroup))
		}
		iter, err := p.cons.Messages(opts...)
		if err != nil {
			w.log.Warn().Err(err).Str("consumer", p.name).Msg("pull fetch requests")
			select {
			case <-ctx.Done():
				return
			case <-time.After(w.cfg.RetryDelay):
			}
			continue
		}
		p.setPulling(true)
		stop := make(chan struct{})
		go func() {
			select {
			case <-ctx.Done():
			case <-changed:
			case <-stop:
				return
			}
			iter.Drain()
		}()
		w.drainIter(p, iter, dispatch)
		close(stop)
		p.setPulling(false)
	}
}

// drainIter dispatches the requests of one pull until it is closed.
func (w *Worker) drainIter(p *partition, iter jetstream.MessagesContext, dispatch func(jetstream.Msg, *partition)) {
	for {
		msg, err := iter.Next()
		switch {
		case err == nil:
		case errors.Is(err, jetstream.ErrMsgIteratorClosed):
			return
		case errors.Is(err, jetstream.ErrConsumerDeleted), errors.Is(err, jetstream.ErrConsumerNotFound):
			iter.Stop()
			if p.num < 0 {
				p.retire() // the legacy consumer, deleted once empty
				return
			}
			w.log.Error().Err(err).Str("consumer", p.name).Msg("the partition's consumer is gone: its requests wait until it is made again")
			time.Sleep(w.cfg.RetryDelay)
			return
		case errors.Is(err, jetstream.ErrPinIDMismatch):
			// Another replica holds the partition: this one stands by.
			continue
		default:
			w.log.Warn().Err(err).Str("consumer", p.name).Msg("pull fetch requests")
			continue
		}
		if id := msg.Headers().Get(pinHeader); id != "" {
			p.setPin(id)
		}
		dispatch(msg, p)
	}
}

// pinOf returns the pin id of c's priority group, "" when unpinned.
func pinOf(info *jetstream.ConsumerInfo) string {
	for _, g := range info.PriorityGroups {
		if g.Group == contract.PriorityGroup {
			return g.PinnedClientID
		}
	}
	return ""
}

// balance checks the partitions every balanceEvery until ctx ends.
func (w *Worker) balance(ctx context.Context) {
	t := time.NewTicker(w.balanceEvery())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		w.checkLegacy(ctx)
		w.balanceOnce(ctx)
	}
}

// balanceOnce decides, from every partition's consumer, which ones this
// replica pulls from, and hands one over when it holds more than its share.
func (w *Worker) balanceOnce(ctx context.Context) {
	if len(w.parts) == 0 {
		return
	}
	peers := 0
	if w.cfg.Peers != nil {
		peers = w.cfg.Peers()
	}
	type view struct {
		p          *partition
		held       bool
		orphan     bool
		ackPending int
	}
	var views []view
	held := 0
	for _, p := range w.parts {
		if p.isReleasing() {
			continue
		}
		ictx, cancel := context.WithTimeout(ctx, w.balanceEvery())
		info, err := p.cons.Info(ictx)
		cancel()
		if err != nil {
			continue // unknown this time: left as it is
		}
		pin := pinOf(info)
		v := view{p: p, held: pin != "" && pin == p.pin(), orphan: pin == "" && info.NumPending > 0, ackPending: info.NumAckPending}
		if v.held {
			held++
		}
		views = append(views, v)
	}
	w.hooks.pinned(held)
	if peers <= 0 {
		for _, v := range views {
			v.p.setWant(true)
		}
		return
	}
	target := (len(w.parts) + peers - 1) / peers
	var shed *partition
	fewest := 0
	for _, v := range views {
		wasOrphan := v.p.wasOrphan(v.orphan)
		if v.held {
			v.p.setWant(true)
			if shed == nil || v.ackPending < fewest {
				shed, fewest = v.p, v.ackPending
			}
			continue
		}
		// A standby while under its share; beyond it, only for a
		// partition nobody has taken since the last check.
		v.p.setWant(held < target || (v.orphan && wasOrphan))
	}
	if held > target && shed != nil {
		w.handOver(ctx, shed, held, target)
	}
}

// handOver gives p up: it stops pulling p, waits until the requests of p
// it holds are settled, then unpins p, so that a standby takes it with no
// two replicas serving it at once.
func (w *Worker) handOver(ctx context.Context, p *partition, held, target int) {
	if !p.startRelease() {
		return
	}
	p.setWant(false)
	go func() {
		defer p.endRelease()
		for !p.idle() {
			select {
			case <-ctx.Done():
				return // unpinAll hands it over after the drain
			case <-time.After(50 * time.Millisecond):
			}
		}
		if w.unpin(ctx, p) {
			w.log.Info().Str("consumer", p.name).Int("held", held).Int("share", target).
				Msg("partition handed over to another replica: this one held more than its share")
		}
	}()
}

// unpin unpins p when this replica holds its pin, and tells whether it did.
func (w *Worker) unpin(ctx context.Context, p *partition) bool {
	pin := p.pin()
	if pin == "" {
		return false
	}
	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	info, err := p.cons.Info(ictx)
	if err != nil || pinOf(info) != pin {
		return false
	}
	if err := w.stream.UnpinConsumer(ictx, p.name, contract.PriorityGroup); err != nil {
		w.log.Warn().Err(err).Str("consumer", p.name).Msg("unpin partition: the others take it over after the pinned TTL")
		return false
	}
	return true
}

// unpinAll hands over every partition this replica holds, as it stops.
func (w *Worker) unpinAll() {
	var wg sync.WaitGroup
	for _, p := range w.parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.unpin(context.Background(), p)
		}()
	}
	wg.Wait()
}

// checkLegacy retires the legacy consumer once no request is left in it:
// it is deleted (NoCreate: the operator is told to delete it).
func (w *Worker) checkLegacy(ctx context.Context) {
	l := w.legacy
	if l == nil || len(w.parts) == 0 || l.isGone() {
		return
	}
	ictx, cancel := context.WithTimeout(ctx, w.balanceEvery())
	defer cancel()
	info, err := l.cons.Info(ictx)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		l.retire()
		return
	}
	if err != nil || info.NumPending > 0 || info.NumAckPending > 0 || l.inHand() > 0 {
		return
	}
	l.retire()
	if w.cfg.NoCreate {
		w.log.Warn().Str("consumer", l.name).
			Msg("the consumer made before partitions has no requests left: delete it (every request now goes to the partitions' consumers)")
		return
	}
	if err := w.js.DeleteConsumer(ictx, contract.FetchStream, l.name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		w.log.Warn().Err(err).Str("consumer", l.name).Msg("delete the consumer made before partitions")
		return
	}
	w.log.Info().Str("consumer", l.name).Msg("the consumer made before partitions is empty and deleted")
}
