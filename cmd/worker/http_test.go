package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/skattekonto-events/skattekonto-events/internal/config"
	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/health"
	"github.com/skattekonto-events/skattekonto-events/internal/jobs"
	"github.com/skattekonto-events/skattekonto-events/internal/natsserver"
	"github.com/skattekonto-events/skattekonto-events/internal/sim"
	"github.com/skattekonto-events/skattekonto-events/internal/skv"
)

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func startNATS(t *testing.T, dir string, port int) *server.Server {
	t.Helper()
	srv, err := natsserver.Start(natsserver.Config{StoreDir: dir, Port: port})
	if err != nil {
		t.Fatalf("start NATS: %v", err)
	}
	return srv
}

func stopNATS(srv *server.Server) {
	srv.Shutdown()
	srv.WaitForShutdown()
}

// simClient returns an API client for a simulator on an httptest server.
func simClient(t *testing.T, obs skv.Observer) *skv.Client {
	t.Helper()
	s := sim.New(sim.Config{})
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() { hs.Close(); s.Close() })
	c, err := skv.New(skv.Config{
		BaseURL: s.BaseURL(hs.URL), TokenURL: s.TokenURL(hs.URL),
		ClientID: "sim-client", ClientSecret: "sim-secret",
		Observer: obs,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitReady polls ready until it reports want and, when want is false,
// until the nats check fails too.
func waitReady(t *testing.T, ready func() (bool, map[string]string), want bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ok, res := ready()
		if ok == want && (want || res["nats"] != "ok") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("readiness did not become %v: last results %v", want, res)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestReadinessFollowsNATS(t *testing.T) {
	dir, port := t.TempDir(), freePort(t)
	srv := startNATS(t, dir, port)
	t.Cleanup(func() { stopNATS(srv) })

	nc, err := nats.Connect(srv.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	reg, m := newMetrics()
	d := httpDeps{nc: nc, js: js, api: simClient(t, m), reg: reg, metrics: m, log: zerolog.Nop(), readyCache: time.Millisecond}
	checker := readiness(d)
	ready := func() (bool, map[string]string) { return checker.Ready(ctx) }

	// Without the streams the worker is not ready.
	if ok, res := ready(); ok || res["streams"] == "ok" || res["nats"] != "ok" || res["token"] != "ok" {
		t.Fatalf("before the streams exist: got %v %v, want only streams failing", ok, res)
	}
	if _, err := js.CreateStream(ctx, contract.FetchStreamConfig(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, contract.EventsStreamConfig(contract.EventsStreamSettings{})); err != nil {
		t.Fatal(err)
	}
	waitReady(t, ready, true)

	stopNATS(srv)
	waitReady(t, ready, false) // with the nats check failing
	if _, res := ready(); !strings.HasPrefix(res["nats"], string(jobs.FaultNATSUnreachable)+": ") || !strings.Contains(res["nats"], "check that the NATS servers run") {
		t.Errorf("nats check %q: want the fault named with what to check", res["nats"])
	}

	srv = startNATS(t, dir, port) // same port and store: the streams come back
	waitReady(t, ready, true)
}

func TestHTTPEndpoints(t *testing.T) {
	srv := startNATS(t, t.TempDir(), -1)
	t.Cleanup(func() { stopNATS(srv) })
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, contract.FetchStreamConfig(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, contract.EventsStreamConfig(contract.EventsStreamSettings{})); err != nil {
		t.Fatal(err)
	}
	for _, c := range (jobs.Config{}).ConsumerConfigs() {
		if _, err := js.CreateOrUpdateConsumer(ctx, contract.FetchStream, c); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		if _, err := js.Publish(ctx, contract.FetchSubject("x"), []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}

	reg, m := newMetrics()
	api := simClient(t, m)
	hs, err := serveHTTP(&config.Config{}, httpDeps{nc: nc, js: js, api: api, reg: reg, metrics: m, log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		hs.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code, rec.Body.String()
	}

	if code, body := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz: got %d %q, want 200", code, body)
	}
	if code, body := get("/readyz"); code != http.StatusOK || strings.TrimSpace(body) != "ready" {
		t.Errorf("/readyz: got %d %q, want 200 ready", code, body)
	}
	code, body := get("/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: got %d, want 200", code)
	}
	for _, want := range []string{
		"skattekonto_consumer_pending 3\n",
		"skattekonto_consumer_ack_pending 0\n",
		`skattekonto_token_refreshes_total{result="ok"} 1` + "\n", // the readiness check fetched it
		"go_goroutines ",
		"process_",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(body, "sim-secret") {
		t.Error("/metrics shows the client secret")
	}
}

// TestReadinessFaults: a fault that stops the worker fails readiness, an
// unreachable API is a warning that leaves it ready.
func TestReadinessFaults(t *testing.T) {
	srv := startNATS(t, t.TempDir(), -1)
	t.Cleanup(func() { stopNATS(srv) })
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, c := range []jetstream.StreamConfig{contract.FetchStreamConfig(1), contract.EventsStreamConfig(contract.EventsStreamSettings{})} {
		if _, err := js.CreateStream(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	fail := func(context.Context) error { return errors.New("storage-full: JetStream storage is full") }
	warn := func(context.Context) error { return health.Warn(errors.New("api-unreachable: no answer")) }
	for _, tc := range []struct {
		name    string
		faults  faultChecks
		wantOK  bool
		wantKey string
		want    string
	}{
		{"storage full", faultChecks{storage: fail}, false, "storage", "storage-full: JetStream storage is full"},
		{"api unreachable", faultChecks{api: warn}, true, "api", "warning: api-unreachable: no answer"},
		{"nats timing out", faultChecks{nats: fail}, false, "nats", "storage-full: JetStream storage is full"},
		{"none", faultChecks{}, true, "nats", "ok"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, res := readiness(httpDeps{nc: nc, js: js, faults: &tc.faults}).Ready(ctx)
			if ok != tc.wantOK || res[tc.wantKey] != tc.want {
				t.Errorf("Ready = %v %v, want %v with %s %q", ok, res, tc.wantOK, tc.wantKey, tc.want)
			}
		})
	}
}
