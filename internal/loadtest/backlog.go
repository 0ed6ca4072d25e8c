package loadtest

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/jobs"
)

// idle reports whether the consumer durable of stream holds nothing
// pending and nothing delivered but unacknowledged. The workers'
// consumers (contract.Durable on the fetch stream) are one per partition
// of the stream, and the legacy one: their sum counts.
func idle(ctx context.Context, js jetstream.JetStream, stream, durable string) bool {
	if stream == contract.FetchStream && durable == contract.Durable {
		b, err := jobs.ReadBacklog(ctx, js, durable)
		return err == nil && b.Pending == 0 && b.AckPending == 0
	}
	c, err := js.Consumer(ctx, stream, durable)
	if err != nil {
		return false
	}
	info, err := c.Info(ctx)
	return err == nil && info.NumPending == 0 && info.NumAckPending == 0
}

// pullingConsumer is the consumer whose waiting pulls show how many
// workers pull: every worker keeps a pull open on every partition's
// consumer (pinned or standing by), so the first partition's tells.
func pullingConsumer(durable string) string {
	if durable == contract.Durable {
		return contract.PartitionConsumer(durable, 0)
	}
	return durable
}
