package webhooks

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/events"
	"github.com/skattekonto-events/skattekonto-events/internal/metrics"
	"github.com/skattekonto-events/skattekonto-events/internal/natstest"
	"github.com/skattekonto-events/skattekonto-events/internal/testlog"
)

// Test secrets: whsec_ and the base64 of 32 and 24 bytes. Made up for the
// tests; the logs test greps for them.
const (
	secretA = "whsec_c2thdHRla29udG8tdGVzdC1zZWNyZXQtQS0zMmJ5dGU="
	secretB = "whsec_c2thdHRla29udG8tdGVzdC1zZWNyZXQtQg=="
)

// Two accounts (valid organisation numbers).
const (
	acct1 = "165566778899"
	acct2 = "165560000008"
)

// receiver is an endpoint on loopback that verifies every delivery with
// the official Standard Webhooks library, answers as answer says, and
// records what it accepted.
type receiver struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	wh       *standardwebhooks.Webhook
	attempts int
	accepted []delivery
	// answer gives the status of attempt n (from 1); nil: 200.
	answer func(n int, d delivery) int
}

type delivery struct {
	id     string
	body   []byte
	header http.Header
}

func newReceiver(t *testing.T, secret string) *receiver {
	t.Helper()
	r := &receiver{t: t}
	r.setSecret(secret)
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) setSecret(secret string) {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		r.t.Fatal(err)
	}
	r.mu.Lock()
	r.wh = wh
	r.mu.Unlock()
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	wh, answer := r.wh, r.answer
	r.attempts++
	n := r.attempts
	r.mu.Unlock()
	if err := wh.Verify(body, req.Header); err != nil {
		r.t.Errorf("delivery %s does not verify: %v", req.Header.Get(HeaderID), err)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if got := req.Header.Get("Content-Type"); got != ContentType || req.Method != http.MethodPost {
		r.t.Errorf("%s with content type %q, want POST with %q", req.Method, got, ContentType)
	}
	d := delivery{id: req.Header.Get(HeaderID), body: body, header: req.Header.Clone()}
	status := http.StatusOK
	if answer != nil {
		status = answer(n, d)
	}
	if status/100 == 2 {
		r.mu.Lock()
		r.accepted = append(r.accepted, d)
		r.mu.Unlock()
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte("answer " + http.StatusText(status)))
}

// ids are the accepted ids, each once, in the order first accepted: what
// a receiver that de-duplicates by webhook-id keeps.
func (r *receiver) ids() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, d := range r.accepted {
		if !slices.Contains(out, d.id) {
			out = append(out, d.id)
		}
	}
	return out
}

func (r *receiver) count() (attempts, accepted int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.attempts, len(r.accepted)
}

func (r *receiver) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.accepted)
}

// env is an embedded NATS server with the events stream, a webhooks file
// and captured logs.
type env struct {
	t    *testing.T
	srv  *server.Server
	js   jetstream.JetStream
	dir  string
	file string
	logs *testlog.Buffer
	reg  *prometheus.Registry
	m    *metrics.Metrics
}

// Tests with an env run in parallel: they mostly wait.
func newEnv(t *testing.T) *env {
	t.Helper()
	t.Parallel()
	srv := natstest.RunTest(t)
	_, js := natstest.Connect(t, srv)
	ctx := context.Background()
	if _, err := js.CreateOrUpdateStream(ctx, contract.EventsStreamConfig(contract.EventsStreamSettings{})); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	return &env{t: t, srv: srv, js: js, dir: dir, file: filepath.Join(dir, "webhooks.json"),
		logs: &testlog.Buffer{}, reg: reg, m: metrics.New(reg)}
}

// spec is one endpoint of a test file.
type spec struct {
	Name       string   `json:"name"`
	URL        string   `json:"url"`
	Secret     string   `json:"secret,omitempty"`
	SecretFile string   `json:"secretFile,omitempty"`
	Subjects   []string `json:"subjects,omitempty"`
	Timeout    string   `json:"timeout,omitempty"`
	MaxAge     string   `json:"maxAge,omitempty"`
}

// write replaces the webhooks file, atomically as a ConfigMap update does.
func (e *env) write(eps ...spec) {
	e.t.Helper()
	b, err := json.Marshal(map[string]any{"endpoints": eps})
	if err != nil {
		e.t.Fatal(err)
	}
	e.writeRaw(b)
}

func (e *env) writeRaw(b []byte) {
	e.t.Helper()
	tmp := e.file + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		e.t.Fatal(err)
	}
	if err := os.Rename(tmp, e.file); err != nil {
		e.t.Fatal(err)
	}
}

// start starts a deliverer on js (the env's connection when nil), stopped
// when the test ends.
func (e *env) start(js jetstream.JetStream) *Deliverer {
	e.t.Helper()
	if js == nil {
		js = e.js
	}
	d, err := Start(context.Background(), js, Config{
		File:    e.file,
		Reload:  100 * time.Millisecond,
		Logger:  zerolog.New(e.logs),
		Metrics: e.m,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(d.Stop)
	return d
}

// publish stores an event about acct as the worker does and returns its id.
func (e *env) publish(acct string, typ events.Type, n int) string {
	e.t.Helper()
	ev := events.Event{
		ID:      events.NewID(acct, typ, "test", string(rune('a'+n%26)), time.Now().String()),
		Type:    typ,
		Subject: acct,
		Time:    time.Now(),
		FetchID: "fetch-test",
		Data:    map[string]any{"omfragad": acct, "baseline": false, "n": n},
	}
	m, err := ev.Msg()
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.js.PublishMsg(context.Background(), m); err != nil {
		e.t.Fatal(err)
	}
	return ev.ID
}

// stored returns the bytes of the stored event with id.
func (e *env) stored(id string) []byte {
	e.t.Helper()
	s, err := e.js.Stream(context.Background(), contract.EventsStream)
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(context.Background(), seq)
		if err == nil && m.Header.Get("Nats-Msg-Id") == id {
			return m.Data
		}
	}
	e.t.Fatalf("event %s not stored", id)
	return nil
}

// counter reads a counter of the env's metrics.
func (e *env) counter(name string, labels map[string]string) float64 {
	e.t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if v, ok := labels[l.GetName()]; ok && v != l.GetValue() {
					continue metric
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// waitFor polls cond until it holds, failing the test after a minute: a
// bound for a stuck test, not a timing assertion.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// closedURL is a loopback URL where nothing listens.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr + "/hooks"
}

// account reads the partitionkey (the account) of a delivered event.
func account(t *testing.T, body []byte) string {
	t.Helper()
	var e struct {
		PartitionKey string `json:"partitionkey"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatal(err)
	}
	return e.PartitionKey
}
