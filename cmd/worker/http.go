package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/skattekonto-events/skattekonto-events/internal/config"
	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/health"
	"github.com/skattekonto-events/skattekonto-events/internal/jobs"
	"github.com/skattekonto-events/skattekonto-events/internal/metrics"
	"github.com/skattekonto-events/skattekonto-events/internal/skv"
)

var _ skv.Observer = (*metrics.Metrics)(nil)

// newMetrics returns a registry with the Go runtime and process collectors
// and the worker's own metrics.
func newMetrics() (*prometheus.Registry, *metrics.Metrics) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg, metrics.New(reg)
}

// httpDeps is what the operations endpoints look at.
type httpDeps struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	api    *skv.Client  // nil: no token check
	access health.Check // nil: no access check (token refused, scope, certificate)
	// faults are the worker's checks of the outages its fetches meet
	// (jobs.Worker.CheckNATS, CheckStorage, CheckAPI); nil: none.
	faults  *faultChecks
	reg     prometheus.Gatherer
	metrics *metrics.Metrics
	log     zerolog.Logger
	// readyCache is how long readiness results are reused, default 5s.
	readyCache time.Duration
	// durability, when set, warns that the embedded NATS server
	// acknowledges before fsync.
	durability health.Check
}

// faultChecks are the readiness checks of the outages the fetches meet.
type faultChecks struct {
	nats, storage, api health.Check
}

// readiness returns the checks behind /readyz: the NATS connection (and
// NATS answering the fetches), the two streams, JetStream's storage, and
// an access token for the API, plus the warnings that the API gives no
// answer and that the embedded NATS server acknowledges before fsync.
func readiness(d httpDeps) *health.Checker {
	checks := map[string]health.Check{
		"nats": func(ctx context.Context) error {
			if st := d.nc.Status(); st != nats.CONNECTED {
				return natsDown(st, d.nc.LastError())
			}
			if d.faults != nil && d.faults.nats != nil {
				return d.faults.nats(ctx)
			}
			return nil
		},
		"streams": func(ctx context.Context) error {
			for _, name := range []string{contract.FetchStream, contract.EventsStream} {
				if _, err := d.js.Stream(ctx, name); err != nil {
					return fmt.Errorf("stream %s: %w", name, err)
				}
			}
			return nil
		},
	}
	if d.api != nil {
		// Cheap while the client's cached token is valid.
		checks["token"] = d.api.Token
	}
	if d.access != nil {
		checks["access"] = d.access
	}
	if d.durability != nil {
		checks["durability"] = d.durability
	}
	if d.faults != nil && d.faults.storage != nil {
		checks["storage"] = d.faults.storage
	}
	if d.faults != nil && d.faults.api != nil {
		checks["api"] = d.faults.api
	}
	return health.New(checks, d.readyCache)
}

// natsDown says that the connection to NATS is not up, in words an
// operator acts on.
func natsDown(st nats.Status, last error) error {
	msg := fmt.Sprintf("%s: NATS unreachable: connection %s; check that the NATS servers run and that this pod reaches them "+
		"(NATS_URL, network policies, the servers' logs)", jobs.FaultNATSUnreachable, st)
	if last != nil {
		msg += " (last error: " + last.Error() + ")"
	}
	return errors.New(msg)
}

// watchGauges adds the gauges read on scrape: the consumer's backlog and the
// client certificate's expiry.
func watchGauges(d httpDeps) {
	d.metrics.WatchConsumer(func(ctx context.Context) (uint64, uint64, error) {
		b, err := jobs.ReadBacklog(ctx, d.js, contract.Durable) // one CONSUMER.INFO request per partition
		if err != nil {
			return 0, 0, err
		}
		return b.Pending, uint64(b.AckPending), nil
	})
	if d.api != nil {
		d.metrics.WatchCertificateExpiry(d.api.CertificateExpiry)
	}
}

// serveHTTP serves /healthz (the process runs), /readyz (NATS, the
// streams and the API token are usable) and /metrics on HTTP_ADDR.
func serveHTTP(cfg *config.Config, d httpDeps) (*http.Server, error) {
	watchGauges(d)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.Handle("GET /readyz", readiness(d).Handler())
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.reg, promhttp.HandlerOpts{
		ErrorLog:            promLogger{d.log},
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	}))
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
	if cfg.HTTPAddr == "" {
		return srv, nil
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if errors.Is(err, syscall.EADDRINUSE) {
		// Several workers on one machine with the default address: the
		// first serves the endpoints, the others work without them.
		d.log.Warn().Str("addr", cfg.HTTPAddr).Msg("HTTP_ADDR is in use: this worker serves no /healthz, /readyz or /metrics (set HTTP_ADDR to serve them)")
		return srv, nil
	}
	if err != nil {
		return nil, fmt.Errorf("config: HTTP_ADDR: %w", err)
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error().Err(err).Msg("http server")
		}
	}()
	d.log.Info().Str("addr", ln.Addr().String()).Msg("serving /healthz, /readyz and /metrics")
	return srv, nil
}

// shutdownHTTP stops the operations endpoints, giving requests in flight
// 5s to finish.
func shutdownHTTP(srv *http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
}

// promLogger sends promhttp's errors to the log.
type promLogger struct{ log zerolog.Logger }

func (l promLogger) Println(v ...any) { l.log.Error().Msg(fmt.Sprint(v...)) }
