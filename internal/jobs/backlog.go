package jobs

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
)

// Backlog is what the workers' consumers of the fetch stream hold, summed
// over the partitions' consumers and the legacy consumer.
type Backlog struct {
	// Consumers are the consumers read.
	Consumers []string
	// Pending requests not yet delivered; AckPending delivered and not
	// yet acknowledged.
	Pending    uint64
	AckPending int
	// Delivered and Acked count deliveries and acknowledgements (the
	// consumers' sequence numbers and ack floors).
	Delivered, Acked uint64
	// Waiting counts the open pull requests.
	Waiting int
}

// ReadBacklog reads the backlog of the workers' consumers (durable is
// their name, contract.Durable by default): one consumer info request per
// partition, and one for the stream.
func ReadBacklog(ctx context.Context, js jetstream.JetStream, durable string) (Backlog, error) {
	if durable == "" {
		durable = contract.Durable
	}
	st, err := js.Stream(ctx, contract.FetchStream)
	if err != nil {
		return Backlog{}, fmt.Errorf("backlog: stream %s: %w", contract.FetchStream, err)
	}
	names := []string{durable}
	for p := range contract.StreamPartitions(st.CachedInfo().Config) {
		names = append(names, contract.PartitionConsumer(durable, p))
	}
	var b Backlog
	for i, name := range names {
		c, err := st.Consumer(ctx, name)
		if i == 0 && errors.Is(err, jetstream.ErrConsumerNotFound) && len(names) > 1 {
			continue // no legacy consumer
		}
		if err != nil {
			return Backlog{}, fmt.Errorf("backlog: consumer %s: %w", name, err)
		}
		info := c.CachedInfo()
		b.Consumers = append(b.Consumers, name)
		b.Pending += info.NumPending
		b.AckPending += info.NumAckPending
		b.Delivered += info.Delivered.Consumer
		b.Acked += info.AckFloor.Consumer
		b.Waiting += info.NumWaiting
	}
	return b, nil
}
