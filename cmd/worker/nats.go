package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/skattekonto-events/skattekonto-events/internal/config"
	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/health"
	"github.com/skattekonto-events/skattekonto-events/internal/jobs"
	"github.com/skattekonto-events/skattekonto-events/internal/natsserver"
)

// connectNATS connects to NATS_URL or, without it, to the embedded server
// on EMBEDDED_NATS_ADDR, started here unless another worker on this
// machine runs it. stop closes the connection and any server started.
// durability, when not nil, is a readiness check that warns that the
// embedded server acknowledges before it fsyncs.
func connectNATS(cfg *config.Config, log zerolog.Logger) (nc *nats.Conn, durability health.Check, stop func(), err error) {
	url, stopServer := cfg.NATSURL, func() {}
	if url == "" {
		local, err := natsserver.StartOrJoin(cfg.EmbeddedNATSAddr, natsserver.Config{
			StoreDir:     cfg.DataDir,
			SyncInterval: cfg.EmbeddedNATSSyncInterval,
		})
		if err != nil {
			return nil, nil, nil, fmt.Errorf("embedded NATS on EMBEDDED_NATS_ADDR: %w", err)
		}
		url, stopServer = local.URL, local.Close
		if cfg.NATSCreds == "" && cfg.NATSNKey == "" && local.WorkerNKey != "" {
			// The embedded server knows the worker by this key alone:
			// clients without credentials are requesters and readers.
			c := *cfg
			c.NATSNKey = local.WorkerNKey
			cfg = &c
		}
		durability = embeddedDurability(cfg, local, log)
	} else {
		log.Info().Msg("NATS_URL is set: the NATS servers' fsync policy is theirs and not visible to the worker " +
			"(check sync_always under jetstream.config on their /varz; the cluster configuration shipped in deploy/nats sets sync_interval: always)")
	}
	nc, err = connect(cfg, url, log)
	if err != nil {
		stopServer()
		return nil, nil, nil, err
	}
	return nc, durability, func() { nc.Close(); stopServer() }, nil
}

// embeddedDurability logs how the embedded server stores what it
// acknowledges and returns the readiness warning when it acknowledges
// before fsync (nil otherwise).
func embeddedDurability(cfg *config.Config, local *natsserver.Local, log zerolog.Logger) health.Check {
	switch {
	case local.Joined:
		log.Info().Str("url", local.URL).Msg("NATS_URL is empty and EMBEDDED_NATS_ADDR is in use: joining the NATS server there " +
			"(another worker's embedded server, with that worker's EMBEDDED_NATS_SYNC)")
		return nil
	case local.SyncsBeforeAck:
		log.Info().Str("url", local.URL).Str("storeDir", cfg.DataDir).
			Msg("NATS_URL is empty: started an embedded NATS server with JetStream, fsync before every acknowledgement")
		return nil
	}
	msg := fmt.Sprintf("the embedded NATS server acknowledges before fsync (EMBEDDED_NATS_SYNC=%s): "+
		"a power loss or kernel crash can lose up to %s of acknowledged events and account states", cfg.EmbeddedNATSSyncRaw, cfg.EmbeddedNATSSyncInterval)
	log.Warn().Str("url", local.URL).Str("storeDir", cfg.DataDir).Str("EMBEDDED_NATS_SYNC", cfg.EmbeddedNATSSyncRaw).
		Msg("NATS DURABILITY REDUCED: " + msg + " (EMBEDDED_NATS_SYNC=always, the default, fsyncs first)")
	return func(context.Context) error { return health.Warn(errors.New(msg)) }
}

func connect(cfg *config.Config, url string, log zerolog.Logger) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(contract.ConnectionName),
		nats.MaxReconnects(-1),
		// NATS may be restarting when the worker starts: keep trying
		// instead of exiting.
		nats.RetryOnFailedConnect(true),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn().Err(err).Str("fault", string(jobs.FaultNATSUnreachable)).
				Msg("NATS disconnected: reconnecting; fetch requests wait meanwhile. If this lasts, check that the NATS servers run and that this pod reaches them (NATS_URL, network policies, the servers' logs)")
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info().Str("url", c.ConnectedUrlRedacted()).Msg("NATS reconnected") }),
		nats.ReconnectErrHandler(reconnectFailures(log)),
		nats.ConnectHandler(func(c *nats.Conn) { log.Info().Str("url", c.ConnectedUrlRedacted()).Msg("NATS connected") }),
	}
	if cfg.NATSCreds != "" {
		opts = append(opts, nats.UserCredentials(cfg.NATSCreds))
	}
	if cfg.NATSNKey != "" {
		o, err := nats.NkeyOptionFromSeed(cfg.NATSNKey)
		if err != nil {
			return nil, fmt.Errorf("config: NATS_NKEY: %w", err)
		}
		opts = append(opts, o)
	}
	if cfg.NATSCAFile != "" {
		opts = append(opts, nats.RootCAs(cfg.NATSCAFile))
	}
	if cfg.NATSCertFile != "" {
		opts = append(opts, nats.ClientCert(cfg.NATSCertFile, cfg.NATSKeyFile))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS: %w", err)
	}
	return nc, nil
}

// reconnectFailures logs a failed attempt to reach NATS (at start too: the
// worker keeps trying instead of exiting): the first at once, then at most
// one line every 30 seconds, with the number of attempts since the last.
func reconnectFailures(log zerolog.Logger) nats.ConnErrHandler {
	var (
		mu     sync.Mutex
		last   time.Time
		missed int
	)
	return func(c *nats.Conn, err error) {
		mu.Lock()
		defer mu.Unlock()
		missed++
		if now := time.Now(); now.Sub(last) >= 30*time.Second {
			log.Warn().Err(err).Int("attempts", missed).Str("fault", string(jobs.FaultNATSUnreachable)).
				Msg("NATS not reachable: still trying. Check that the NATS servers run and that this pod reaches them (NATS_URL, network policies, the servers' logs)")
			last, missed = now, 0
		}
	}
}
