package jobs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/jobs"
	"github.com/skattekonto-events/skattekonto-events/internal/natsserver"
)

// Publishing a fetch request, as an ERP does: JSON to
// skattekonto.fetch.<omfragad> in the SKATTEKONTO_FETCH stream; the
// answer comes as FetchCompleted or FetchFailed naming the requestId.
func Example_publishFetchRequest() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	srv, err := natsserver.Start(natsserver.Config{StoreDir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Shutdown()
	nc, _ := nats.Connect(srv.ClientURL())
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	// The worker creates the stream and its consumers (one per partition)
	// at start; here we create them ourselves.
	if _, err := js.CreateOrUpdateStream(ctx, contract.FetchStreamConfig(1)); err != nil {
		fmt.Println(err)
		return
	}
	for _, c := range (jobs.Config{}).ConsumerConfigs() {
		if _, err := js.CreateOrUpdateConsumer(ctx, contract.FetchStream, c); err != nil {
			fmt.Println(err)
			return
		}
	}

	body, _ := json.Marshal(map[string]any{
		"operations": []string{"saldo", "transaktioner"},
		"requestId":  "erp-7f3a",
	})
	ack, err := js.Publish(ctx, contract.FetchSubject("165566778899"), body)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(ack.Stream, ack.Sequence)
	// Output: SKATTEKONTO_FETCH 1
}
