package loadtest

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/skattekonto-events/skattekonto-events/internal/audit"
	"github.com/skattekonto-events/skattekonto-events/internal/config"
	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/events"
	"github.com/skattekonto-events/skattekonto-events/internal/jobs"
	"github.com/skattekonto-events/skattekonto-events/internal/skv"
)

// writeAllocs writes the heap profile's allocation samples to path, or
// says on stderr why it could not.
func writeAllocs(path string) {
	f, err := os.Create(path)
	if err == nil {
		err = pprof.Lookup("allocs").WriteTo(f, 0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadtest worker: allocation profile: %v\n", err)
	}
}

// RunWorker is the worker wired from the same packages and environment
// as cmd/worker (without its HTTP endpoints and metrics), so that the load
// tool can run it as a child process of its own with a CPU profile
// written to cpuprofile (when not empty) on a clean stop.
func RunWorker(ctx context.Context, cpuprofile string) error {
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	if cfg.NATSURL == "" || cfg.Sim() {
		return fmt.Errorf("loadtest worker: NATS_URL and SKV_BASE_URL are required")
	}
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
		// The allocations since start, beside the CPU profile: where the
		// garbage collector's work comes from.
		defer writeAllocs(cpuprofile + ".allocs")
	}
	log := zerolog.New(os.Stderr).Level(cfg.Level).With().Timestamp().Logger()
	api, err := skv.New(skv.Config{
		BaseURL: cfg.SKVBaseURL, TokenURL: cfg.SKVTokenURL,
		ClientID: cfg.SKVClientID, ClientSecret: cfg.SKVClientSecret,
		Scopes: []string{cfg.SKVScope}, CorrelationHeader: cfg.CorrelationHeader,
		Timeout: cfg.SKVTimeout, MaxAttempts: cfg.SKVMaxAttempts, MaxElapsed: cfg.SKVMaxElapsed,
		RateLimit: cfg.SKVRateLimit,
	})
	if err != nil {
		return err
	}
	nc, err := nats.Connect(cfg.NATSURL, nats.Name(contract.ConnectionName), nats.MaxReconnects(-1))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	store, err := events.NewStore(ctx, js, events.StoreConfig{NoCreate: !cfg.StreamsCreate, Replicas: cfg.StreamReplicas, MaxAge: cfg.EventsMaxAge})
	if err != nil {
		return err
	}
	jcfg := jobs.Config{
		Concurrency: cfg.Concurrency, AckWait: cfg.AckWait, MaxDeliver: cfg.MaxDeliver,
		DrainTimeout: cfg.DrainTimeout, Replicas: cfg.StreamReplicas, NoCreate: !cfg.StreamsCreate,
		Diff: events.Options{ReminderDays: cfg.ReminderDays}, Logger: log,
	}
	if cfg.AuditEnabled { // as cmd/worker: every answer kept before the commit
		ev, err := audit.Open(ctx, js, audit.Config{MaxAge: cfg.AuditMaxAge, Replicas: cfg.StreamReplicas, NoCreate: !cfg.StreamsCreate})
		if err != nil {
			return err
		}
		jcfg.Evidence = ev
	}
	w, err := jobs.New(ctx, js, api, store, jcfg)
	if err != nil {
		return err
	}
	if err := w.Run(ctx); err != nil {
		return err
	}
	return nc.Drain()
}
