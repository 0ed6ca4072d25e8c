package main

import (
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/skattekonto-events/skattekonto-events/internal/config"
	"github.com/skattekonto-events/skattekonto-events/internal/sie"
)

// serveSIE answers SIE export requests (skattekonto.sie.export) on nc,
// naming accounts from the rule table; stop ends it.
func serveSIE(cfg *config.Config, js jetstream.JetStream, nc *nats.Conn) (stop func(), err error) {
	table, err := bookingTable(cfg)
	if err != nil {
		return nil, err
	}
	x, err := sie.New(js, sie.Config{Company: cfg.SIECompanyName, Series: cfg.SIESeries, Rules: table})
	if err != nil {
		return nil, fmt.Errorf("config: SIE_SERIES: %w", err)
	}
	stopServe, err := x.Serve(nc)
	if err != nil {
		return nil, err
	}
	return func() { _ = stopServe() }, nil
}
