package ratelimit_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/skattekonto-events/skattekonto-events/internal/natsserver"
	"github.com/skattekonto-events/skattekonto-events/internal/ratelimit"
)

func Example() {
	dir, err := os.MkdirTemp("", "ratelimit-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	srv, err := natsserver.Start(natsserver.Config{StoreDir: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer shutdown(srv)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()

	// Every replica runs the same: SKV_RATE_LIMIT calls per second for
	// the whole deployment.
	l, err := ratelimit.New(nc, ratelimit.Config{Rate: 4})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	// Pass l as skv.Config.Limiter; the client then calls Wait before
	// every attempt and Throttled on every 429.
	if err := l.Wait(context.Background()); err != nil {
		log.Fatal(err)
	}
	fmt.Println("replicas:", l.Peers())
	// Output:
	// replicas: 1
}

func shutdown(s *server.Server) {
	s.Shutdown()
	s.WaitForShutdown()
}
