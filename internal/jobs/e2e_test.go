package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http/httptest"
	"slices"
	"sort"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/events"
	"github.com/skattekonto-events/skattekonto-events/internal/natsserver"
	"github.com/skattekonto-events/skattekonto-events/internal/sim"
	"github.com/skattekonto-events/skattekonto-events/internal/skv"
	"github.com/skattekonto-events/skattekonto-events/internal/testlog"
	"github.com/skattekonto-events/skattekonto-events/schemas"
)

// env is one end-to-end setup: an embedded NATS server, the simulator
// behind an HTTP server, the API client, and workers.
type env struct {
	t     testing.TB
	dir   string
	port  int
	srv   *server.Server
	nc    *nats.Conn
	js    jetstream.JetStream
	sim   *sim.Sim
	api   *skv.Client
	store *events.Store
	val   *schemas.Validator
	logs  *testlog.Buffer
	// checked holds the stream sequences of events already validated:
	// tests poll the stream, and each event needs checking once.
	checked map[uint64]bool
	// simURL is the simulator's HTTP server.
	simURL string
	// maxStore caps the server's JetStream storage (0: the default).
	maxStore int64
}

func newEnv(t testing.TB) *env {
	t.Helper()
	return newEnvStore(t, 0)
}

// newEnvStore is newEnv with the server's JetStream storage capped at
// maxStore bytes (0: the default).
func newEnvStore(t testing.TB, maxStore int64) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), logs: &testlog.Buffer{}, checked: map[uint64]bool{}, maxStore: maxStore}
	e.startNATS()
	t.Cleanup(func() {
		if e.srv != nil {
			e.srv.Shutdown()
			e.srv.WaitForShutdown()
		}
	})
	var err error
	e.nc, err = nats.Connect(e.srv.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.nc.Close)
	if e.js, err = jetstream.New(e.nc); err != nil {
		t.Fatal(err)
	}
	e.sim = sim.New(sim.Config{})
	hs := httptest.NewServer(e.sim.Handler())
	t.Cleanup(hs.Close)
	e.simURL = hs.URL
	t.Cleanup(e.sim.Close)
	e.api, err = skv.New(skv.Config{
		BaseURL: e.sim.BaseURL(hs.URL), TokenURL: e.sim.TokenURL(hs.URL),
		ClientID: sim.DefaultClientID, ClientSecret: sim.DefaultClientSecret,
		Timeout: 5 * time.Second, MaxAttempts: 3, MaxElapsed: 10 * time.Second,
		InitialInterval: time.Millisecond, MaxInterval: 5 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if e.store, err = events.NewStore(context.Background(), e.js, events.StoreConfig{}); err != nil {
		t.Fatal(err)
	}
	if e.val, err = schemas.NewValidator(); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) startNATS() {
	e.t.Helper()
	s, err := natsserver.Start(natsserver.Config{StoreDir: e.dir, Port: e.port, MaxStore: e.maxStore})
	if err != nil {
		e.t.Fatal(err)
	}
	e.srv = s
	if e.port <= 0 {
		e.port = s.Addr().(*net.TCPAddr).Port
	}
}

// restartNATS stops the server and starts it again on the same port and store.
func (e *env) restartNATS() {
	e.t.Helper()
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
	e.startNATS()
}

// worker starts a worker that runs until the test ends; crash may kill
// processing at named steps.
func (e *env) worker(cfg Config, crash func(step, fetchID string) bool) *Worker {
	e.t.Helper()
	return e.workerWith(cfg, hooks{crashAt: crash})
}

// request publishes a fetch request.
func (e *env) request(acct, body string) {
	e.t.Helper()
	if _, err := e.js.Publish(context.Background(), contract.FetchSubject(acct), []byte(body)); err != nil {
		e.t.Fatal(err)
	}
}

// stored is an event as read back from the stream.
type stored struct {
	ID, Type, Subject, RequestID, MsgID string
	Data                                map[string]any
}

// all reads every event in the stream, checks it against its schema and
// its Nats-Msg-Id header, and returns them in stream order.
func (e *env) all() []stored {
	e.t.Helper()
	ctx := context.Background()
	c, err := e.js.OrderedConsumer(ctx, contract.EventsStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{contract.AllEvents}})
	if err != nil {
		e.t.Fatal(err)
	}
	// Removed at once rather than after its inactivity threshold: a
	// benchmark that waits thousands of times in a row reached the
	// account's limit on consumers.
	defer func() {
		if info := c.CachedInfo(); info != nil {
			_ = e.js.DeleteConsumer(ctx, contract.EventsStream, info.Name)
		}
	}()
	var out []stored
	for {
		batch, err := c.FetchNoWait(1000)
		if err != nil {
			e.t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			if meta, err := m.Metadata(); err != nil || !e.checked[meta.Sequence.Stream] {
				if err == nil {
					e.checked[meta.Sequence.Stream] = true
				}
				if err := e.val.ValidateEvent(m.Data()); err != nil {
					e.t.Errorf("event on %s fails its schema: %v\n%s", m.Subject(), err, m.Data())
				}
				// A strict client: the CloudEvents Go SDK must read it whole.
				sdkEvent := cloudevents.NewEvent()
				if err := json.Unmarshal(m.Data(), &sdkEvent); err != nil {
					e.t.Errorf("CloudEvents SDK rejects the event on %s: %v", m.Subject(), err)
				} else if err := sdkEvent.Validate(); err != nil {
					e.t.Errorf("CloudEvents SDK: event on %s invalid: %v", m.Subject(), err)
				} else if sdkEvent.ID() != m.Headers().Get(nats.MsgIdHdr) || sdkEvent.Extensions()["correlationid"] == nil && sdkEvent.Type() != "skattekonto.FetchFailed" && sdkEvent.Type() != "skattekonto.AccessProblem" && sdkEvent.Type() != "skattekonto.FetchCompleted" {
					e.t.Errorf("CloudEvents SDK: event %s on %s lacks its id header or correlation id", sdkEvent.ID(), m.Subject())
				}
			}
			if ct := m.Headers().Get("Content-Type"); ct != events.ContentType {
				e.t.Errorf("Content-Type %q", ct)
			}
			var ce struct {
				ID        string         `json:"id"`
				Type      string         `json:"type"`
				Subject   string         `json:"subject"`
				RequestID string         `json:"requestid"`
				Data      map[string]any `json:"data"`
			}
			if err := json.Unmarshal(m.Data(), &ce); err != nil {
				e.t.Fatal(err)
			}
			out = append(out, stored{ID: ce.ID, Type: ce.Type[len(contract.TypePrefix):], Subject: ce.Subject, RequestID: ce.RequestID,
				MsgID: m.Headers().Get(nats.MsgIdHdr), Data: ce.Data})
		}
		if n == 0 {
			return out
		}
	}
}

// wait polls until the request id has its answer and returns the events
// the request caused.
func (e *env) wait(requestID string) []stored {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var mine []stored
		answered := false
		for _, s := range e.all() {
			closing := s.Type == "FetchCompleted" || s.Type == "FetchFailed"
			// A coalesced request is answered by the closing event of the
			// fetch that served it, which lists it in data.requestIds.
			if s.RequestID != requestID && !(closing && slices.Contains(toStrings(s.Data["requestIds"]), requestID)) {
				continue
			}
			mine = append(mine, s)
			answered = answered || closing
		}
		if answered {
			return mine
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatalf("no answer to %s; worker log:\n%s", requestID, e.logs.String())
	return nil
}

// fetch publishes a request for all four operations by name (so none is
// left to the slower cadence) and waits for its events.
func (e *env) fetch(acct, requestID string) []stored {
	e.t.Helper()
	e.request(acct, fmt.Sprintf(`{"requestId":%q,"operations":["saldo","transaktioner","utbetalningskonto","utbetalningssparrar"]}`, requestID))
	return e.wait(requestID)
}

// checkOnce fails if an id appears twice in the stream or differs from its Nats-Msg-Id.
func (e *env) checkOnce() []stored {
	e.t.Helper()
	all := e.all()
	seen := map[string]int{}
	for _, s := range all {
		seen[s.ID]++
		if s.ID != s.MsgID {
			e.t.Errorf("event id %s has Nats-Msg-Id %s", s.ID, s.MsgID)
		}
	}
	for id, n := range seen {
		if n > 1 {
			e.t.Errorf("event id %s stored %d times", id, n)
		}
	}
	return all
}

func types(evs []stored) []string {
	out := make([]string, 0, len(evs))
	for _, s := range evs {
		out = append(out, s.Type)
	}
	sort.Strings(out)
	return out
}

func count(evs []stored, typ string) int {
	n := 0
	for _, s := range evs {
		if s.Type == typ {
			n++
		}
	}
	return n
}

func only(evs []stored, typ string) stored {
	for _, s := range evs {
		if s.Type == typ {
			return s
		}
	}
	return stored{}
}

type rawEvent struct {
	ID            string `json:"id"`
	CorrelationID string `json:"correlationid"`
	RequestID     string `json:"requestid"`
	Auth          string `json:"auth"`
}

// allRaw reads the envelope attributes of every event in the stream.
func (e *env) allRaw() []rawEvent {
	e.t.Helper()
	var out []rawEvent
	for _, b := range e.rawMessages() {
		var r rawEvent
		_ = json.Unmarshal(b, &r)
		out = append(out, r)
	}
	return out
}

func (e *env) rawMessages() [][]byte {
	e.t.Helper()
	ctx := context.Background()
	c, err := e.js.OrderedConsumer(ctx, contract.EventsStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{contract.AllEvents}})
	if err != nil {
		e.t.Fatal(err)
	}
	var out [][]byte
	for {
		batch, err := c.FetchNoWait(1000)
		if err != nil {
			e.t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			out = append(out, m.Data())
		}
		if n == 0 {
			return out
		}
	}
}
