package jobs

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
)

// TestE2EUsesAStreamMadeByAClient: a client created SKATTEKONTO_FETCH
// first, as a plain limits stream (which cannot be turned into a work
// queue); the worker keeps it and serves requests from it.
func TestE2EUsesAStreamMadeByAClient(t *testing.T) {
	e := newEnv(t)
	putAccount(t, e.sim, acctA)
	if _, err := e.js.CreateStream(context.Background(), jetstream.StreamConfig{
		Name: contract.FetchStream, Subjects: []string{contract.FetchPrefix + ">"}, Retention: jetstream.LimitsPolicy,
	}); err != nil {
		t.Fatal(err)
	}
	e.request(acctA, `{"requestId":"c1"}`)
	e.worker(Config{}, nil)
	if only(e.wait("c1"), "FetchCompleted").ID == "" {
		t.Fatal("no FetchCompleted")
	}
}
