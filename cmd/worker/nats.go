package main

import (
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/skattekonto-events/skattekonto-events/internal/config"
	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/natsserver"
)

// connectNATS connects to NATS_URL or, without it, to the embedded server
// on EMBEDDED_NATS_ADDR, started here unless another worker on this
// machine runs it. stop closes the connection and any server started.
func connectNATS(cfg *config.Config, log zerolog.Logger) (nc *nats.Conn, stop func(), err error) {
	url, stopServer := cfg.NATSURL, func() {}
	if url == "" {
		local, err := natsserver.StartOrJoin(cfg.EmbeddedNATSAddr, cfg.DataDir)
		if err != nil {
			return nil, nil, fmt.Errorf("embedded NATS on EMBEDDED_NATS_ADDR: %w", err)
		}
		url, stopServer = local.URL, local.Close
		if cfg.NATSCreds == "" && cfg.NATSNKey == "" && local.WorkerNKey != "" {
			// The embedded server knows the worker by this key alone:
			// clients without credentials are requesters and readers.
			c := *cfg
			c.NATSNKey = local.WorkerNKey
			cfg = &c
		}
		if local.Joined {
			log.Info().Str("url", url).Msg("NATS_URL is empty and EMBEDDED_NATS_ADDR is in use: joining the NATS server there (another worker's embedded server)")
		} else {
			log.Info().Str("url", url).Str("storeDir", cfg.DataDir).Msg("NATS_URL is empty: started an embedded NATS server with JetStream")
		}
	}
	nc, err = connect(cfg, url, log)
	if err != nil {
		stopServer()
		return nil, nil, err
	}
	return nc, func() { nc.Close(); stopServer() }, nil
}

func connect(cfg *config.Config, url string, log zerolog.Logger) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(contract.ConnectionName),
		nats.MaxReconnects(-1),
		// NATS may be restarting when the worker starts: keep trying
		// instead of exiting.
		nats.RetryOnFailedConnect(true),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn().Err(err).Msg("NATS disconnected")
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info().Str("url", c.ConnectedUrlRedacted()).Msg("NATS reconnected") }),
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
