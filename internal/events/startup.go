package events

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// SetupTimeout bounds how long stream and consumer setup is retried.
const SetupTimeout = 60 * time.Second

// RetrySetup runs a JetStream setup call (creating a stream or consumer)
// until it succeeds, fails for good, or SetupTimeout passes: a cluster
// that is starting, electing a leader or busy with other replicas' setup
// answers with time-outs for a while. Each failure that is retried is
// logged at warn on the logger of ctx (zerolog.Ctx), so that a worker
// waiting at start says what for.
func RetrySetup(ctx context.Context, f func(context.Context) error) error {
	deadline := time.Now().Add(SetupTimeout)
	wait := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := f(cctx)
		cancel()
		if err == nil || !transientSetup(err) || time.Now().Add(wait).After(deadline) || ctx.Err() != nil {
			return err
		}
		zerolog.Ctx(ctx).Warn().Err(err).Int("attempt", attempt).Dur("retryIn", wait).
			Msg("JetStream setup (streams, consumers, buckets) not done yet: NATS is starting, electing a leader or unreachable; retrying")
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return err
		}
		wait = min(2*wait, 4*time.Second)
	}
}

func transientSetup(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		// 503-like answers: no leader yet, not enough peers.
		return apiErr.Code >= 500
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrJetStreamNotEnabled)
}
