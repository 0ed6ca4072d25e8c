package watch

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/natstest"
)

// watchEnv is a fetch stream on a real NATS server and a client.
type watchEnv struct {
	t  *testing.T
	nc *nats.Conn
	m  *Manager
}

// newWatchEnv starts NATS, creates the fetch stream and serves a Manager
// with opts on it.
func newWatchEnv(t *testing.T, opts ...Option) *watchEnv {
	t.Helper()
	ctx := context.Background()
	nc, js := natstest.Connect(t, natstest.RunTest(t))
	if _, err := js.CreateStream(ctx, contract.FetchStreamConfig(1)); err != nil {
		t.Fatal(err)
	}
	m, err := NewManager(ctx, js, opts...)
	if err != nil {
		t.Fatal(err)
	}
	stop, err := m.Serve(nc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stop() })
	return &watchEnv{t: t, nc: nc, m: m}
}

// ask sends a request over NATS, as the CLI and an ERP do.
func (e *watchEnv) ask(verb string, req Request) Reply {
	e.t.Helper()
	b, _ := json.Marshal(req)
	msg, err := e.nc.Request(contract.WatchPrefix+verb, b, 5*time.Second)
	if err != nil {
		e.t.Fatal(err)
	}
	var r Reply
	if err := json.Unmarshal(msg.Data, &r); err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (e *watchEnv) watched() int {
	e.t.Helper()
	regs, err := e.m.List(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return len(regs)
}

var accts = []string{"165566778899", "165560000167", "165560000175", "165560000183"}

// A cadence firing more often than the minimum interval is refused, over
// NATS with an error in the reply and in process with ErrTooFrequent, and
// nothing is registered.
func TestMinInterval(t *testing.T) {
	e := newWatchEnv(t, WithMinInterval(15*time.Minute))
	for _, tc := range []struct {
		cadence string
		ok      bool
	}{
		{"1s", false},
		{"@every 1s", false},
		{"14m59s", false},
		{"0 */5 5-23 * * *", false},            // every 5 minutes
		{"0 0 7 * * *; 0 10 7 * * *", false},   // 10 minutes apart together
		{"0 50 23 * * *; 0 0 0 * * *", false},  // across midnight
		{"0 55 23 1 * *; 0 5 0 * * 1", false},  // when the 1st is a Sunday
		{"0 55 23 2 * 0; 0 5 0 * * 2", false},  // day of month or of week: Monday the 2nd
		{"0 0,1 7 * * *", false},               // a minute apart
		{"* 0 7 * * *", false},                 // every second for a minute
		{"15m", true},                          // "0 */15 0-2,5-23 * * *"
		{"@every 16m", true},                   // "@every 16m0s"
		{"default", true},                      // 06:30, 12:00, 16:00
		{"0 0 7 * * *; 0 15 7 * * *", true},    // 15 minutes apart
		{"0 55 23 1 * *; 0 5 0 3 * *", true},   // a day apart
		{"0 55 23 * 1 *; 0 5 0 * 3 *", true},   // January nights, March mornings
		{"0 55 23 * * 0; 0 5 0 */1 * 2", true}, // "*/1" is a star: Tuesdays only
		{"0 50 23 * * 1; 0 0 0 * * 3", true},   // Monday night, Wednesday morning
		{"0 0 7 * * 1; 0 1 7 * * 2", true},     // different days
		{"0 0 12,16 9-12,23-26 * *; 0 30 6 * * *", true},
	} {
		t.Run(tc.cadence, func(t *testing.T) {
			_, err := e.m.Register(context.Background(), accts[0], tc.cadence, nil)
			if tc.ok != (err == nil) {
				t.Fatalf("Register(%q) = %v, want ok %v", tc.cadence, err, tc.ok)
			}
			if !tc.ok && !errors.Is(err, ErrTooFrequent) {
				t.Errorf("Register(%q) = %v, want %v", tc.cadence, err, ErrTooFrequent)
			}
			_, _ = e.m.Unregister(context.Background(), accts[0])
			r := e.ask("register", Request{Omfragad: accts[1], Cadence: tc.cadence})
			if tc.ok != (r.Error == "") || tc.ok != (r.Registration != nil) {
				t.Errorf("register %q over NATS: %+v, want ok %v", tc.cadence, r, tc.ok)
			}
			if !tc.ok && e.watched() != 0 {
				t.Errorf("refused %q, yet %d accounts are watched", tc.cadence, e.watched())
			}
			_, _ = e.m.Unregister(context.Background(), accts[1])
		})
	}
}

// No more than the maximum of accounts is watched; a watched account may
// always change its cadence; a removal makes room.
func TestMaxAccounts(t *testing.T) {
	e := newWatchEnv(t, WithMaxAccounts(2))
	for _, a := range accts[:2] {
		if r := e.ask("register", Request{Omfragad: a}); r.Error != "" {
			t.Fatalf("register %s: %s", a, r.Error)
		}
	}
	if r := e.ask("register", Request{Omfragad: accts[2]}); r.Error == "" || r.Registration != nil {
		t.Errorf("third account over NATS: %+v, want an error", r)
	}
	if _, err := e.m.Register(context.Background(), accts[3], "", nil); !errors.Is(err, ErrTooManyAccounts) {
		t.Errorf("third account in process: %v, want %v", err, ErrTooManyAccounts)
	}
	if n := e.watched(); n != 2 {
		t.Errorf("%d accounts watched, want 2", n)
	}
	if r := e.ask("register", Request{Omfragad: accts[1], Cadence: "6h"}); r.Error != "" {
		t.Errorf("new cadence for a watched account: %s", r.Error)
	}
	if r := e.ask("unregister", Request{Omfragad: accts[0]}); r.Error != "" {
		t.Fatal(r.Error)
	}
	if r := e.ask("register", Request{Omfragad: accts[2]}); r.Error != "" {
		t.Errorf("after a removal: %s", r.Error)
	}
}

// Without options a Manager called in process has no limits (the
// worker's tests watch at one second), but requests over NATS are
// bounded by the defaults.
func TestServeDefaults(t *testing.T) {
	e := newWatchEnv(t)
	if _, err := e.m.Register(context.Background(), accts[0], "1s", nil); err != nil {
		t.Errorf("in process without options: %v", err)
	}
	if r := e.ask("register", Request{Omfragad: accts[1], Cadence: "1s"}); r.Error == "" {
		t.Errorf("1s over NATS without options: %+v, want an error", r)
	}
	if r := e.ask("register", Request{Omfragad: accts[1], Cadence: (DefaultMinInterval - time.Second).String()}); r.Error == "" {
		t.Errorf("just under DefaultMinInterval over NATS: %+v, want an error", r)
	}
	if r := e.ask("register", Request{Omfragad: accts[1], Cadence: DefaultMinInterval.String()}); r.Error != "" {
		t.Errorf("DefaultMinInterval over NATS: %s", r.Error)
	}
}

func TestOptionsInvalid(t *testing.T) {
	for _, o := range []Option{WithMinInterval(0), WithMinInterval(-time.Second), WithMaxAccounts(0), WithMaxAccounts(-1)} {
		if err := o(&limits{}); err == nil {
			t.Errorf("option %p accepted a value that is not positive", o)
		}
	}
}
