package jobs

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/skattekonto-events/skattekonto-events/internal/health"
	"github.com/skattekonto-events/skattekonto-events/internal/sim"
	"github.com/skattekonto-events/skattekonto-events/internal/skv"
	"github.com/skattekonto-events/skattekonto-events/internal/testlog"
)

// Faults on real servers: each shows on the worker's readiness check and
// in its log lines by name, and ends when the fault does; the request
// caught in it is answered exactly once.

// waitCheck polls check until ok tells it has what the test waits for,
// and returns its last result.
func waitCheck(t *testing.T, what string, check health.Check, ok func(error) bool, logs *testlog.Buffer) error {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := check(context.Background())
		if ok(err) {
			return err
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: last check %v; worker log:\n%s", what, err, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func failing(err error) bool { return err != nil }
func passing(err error) bool { return err == nil }

func TestFaultNATSUnreachable(t *testing.T) {
	e := newEnv(t)
	g := &gate{}
	g.arm()
	w := e.workerWith(Config{}, hooks{roundStarts: g.hook})
	e.request(acctA, `{"requestId":"nats-down"}`)
	g.waitHeld(t)

	e.srv.Shutdown()
	e.srv.WaitForShutdown()
	g.open()
	err := waitCheck(t, "NATS stopped", w.CheckNATS, failing, e.logs)
	if !strings.HasPrefix(err.Error(), string(FaultNATSUnreachable)+": ") || !strings.Contains(err.Error(), "check that the NATS servers run") {
		t.Errorf("CheckNATS = %q, want the fault named with what to check", err)
	}
	if !strings.Contains(e.logs.String(), `"fault":"nats-unreachable"`) {
		t.Errorf("no log line names the fault; log:\n%s", e.logs.String())
	}

	e.startNATS() // same port and store
	e.wait("nats-down")
	waitCheck(t, "NATS back", w.CheckNATS, passing, e.logs)
	e.answeredOnce("nats-down")
	if !strings.Contains(e.logs.String(), "nats-unreachable is over") {
		t.Errorf("the end of the fault is not logged; log:\n%s", e.logs.String())
	}
}

// fillStorage fills the server's JetStream storage with a filler stream
// until it refuses to store for want of space, and returns the stream.
func (e *env) fillStorage() jetstream.Stream {
	e.t.Helper()
	ctx := context.Background()
	st, err := e.js.CreateStream(ctx, jetstream.StreamConfig{Name: "FILLER", Subjects: []string{"filler"}, Storage: jetstream.FileStorage})
	if err != nil {
		e.t.Fatal(err)
	}
	chunk := make([]byte, 256<<10)
	for range 4 * e.maxStore / int64(len(chunk)) {
		_, err := e.js.Publish(ctx, "filler", chunk)
		if err == nil {
			continue
		}
		if f, ok := natsFault(err); ok && f == FaultStorageFull {
			return st
		}
		e.t.Fatalf("filler refused otherwise than for space: %v", err)
	}
	e.t.Fatal("the storage does not run full")
	return nil
}

func TestFaultStorageFull(t *testing.T) {
	e := newEnvStore(t, 16<<20)
	g := &gate{}
	g.arm()
	// Two deliveries only: the request runs out of them while the
	// storage is full, and its FetchFailed cannot be stored either.
	w := e.workerWith(Config{MaxDeliver: 2}, hooks{roundStarts: g.hook})
	e.request(acctA, `{"requestId":"full"}`)
	g.waitHeld(t)
	filler := e.fillStorage()
	g.open()

	err := waitCheck(t, "storage full", w.CheckStorage, failing, e.logs)
	if !strings.HasPrefix(err.Error(), string(FaultStorageFull)+": ") || !strings.Contains(err.Error(), "max_file_store") {
		t.Errorf("CheckStorage = %q, want the fault named with what to check", err)
	}
	// Past its deliveries (2×MaxDeliver: given up without fetching), the
	// request is still kept: no answer can be stored.
	for !strings.Contains(e.logs.String(), `"delivery":5`) {
		time.Sleep(20 * time.Millisecond)
	}
	if evs := e.all(); len(evs) != 0 {
		t.Fatalf("events stored while the storage is full: %v", types(evs))
	}
	if err := w.CheckNATS(context.Background()); err != nil {
		t.Errorf("CheckNATS = %v while NATS answers (its storage is full)", err)
	}

	if err := filler.Purge(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.wait("full")
	waitCheck(t, "space again", w.CheckStorage, passing, e.logs)
	e.answeredOnce("full")
}

func TestFaultAPIUnreachable(t *testing.T) {
	e := newEnv(t)
	// The API's address, where nothing listens yet; the token endpoint works.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	e.api, err = skv.New(skv.Config{
		BaseURL: e.sim.BaseURL("http://" + addr), TokenURL: e.sim.TokenURL(e.simURL),
		ClientID: sim.DefaultClientID, ClientSecret: sim.DefaultClientSecret,
		Timeout: 5 * time.Second, MaxAttempts: 2, MaxElapsed: 10 * time.Second,
		InitialInterval: time.Millisecond, MaxInterval: 5 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	w := e.workerWith(Config{}, hooks{})

	evs := e.fetch(acctA, "refused")
	if f := only(evs, "FetchFailed"); f.Data["reason"] != "exhausted" {
		t.Errorf("FetchFailed reason %v, want exhausted", f.Data["reason"])
	}
	err = w.CheckAPI(context.Background())
	var warn *health.Warning
	if !errors.As(err, &warn) || !strings.HasPrefix(err.Error(), string(FaultAPIUnreachable)+": ") {
		t.Errorf("CheckAPI = %v, want a warning naming the fault", err)
	}
	if !strings.Contains(e.logs.String(), `"fault":"api-unreachable"`) {
		t.Errorf("no log line names the fault; log:\n%s", e.logs.String())
	}

	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: e.sim.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })
	evs = e.fetch(acctA, "answered")
	only(evs, "FetchCompleted")
	if err := w.CheckAPI(context.Background()); err != nil {
		t.Errorf("CheckAPI = %v after the API answered", err)
	}
	e.answeredOnce("refused")
	e.answeredOnce("answered")
}
