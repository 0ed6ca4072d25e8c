package main

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/skattekonto-events/skattekonto-events/internal/config"
	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/natstest"
	"github.com/skattekonto-events/skattekonto-events/internal/sim"
	"github.com/skattekonto-events/skattekonto-events/internal/testlog"
)

// TestUnavailableRetry: SKV_UNAVAILABLE_RETRY=0 means "call on every
// fetch", which jobs.Config spells as a negative duration.
func TestUnavailableRetry(t *testing.T) {
	for _, tc := range []struct{ in, want time.Duration }{
		{0, -1},
		{time.Hour, time.Hour},
		{10 * time.Minute, 10 * time.Minute},
	} {
		if got := unavailableRetry(tc.in); got != tc.want {
			t.Errorf("unavailableRetry(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// TestRunKeysOnly runs the worker with SKV_ENV=enkel against a simulator
// of the simple test service, its blocks under another path: a fetch
// completes, listing the blocks as unavailable with the variable to set,
// and no token is ever requested.
func TestRunKeysOnly(t *testing.T) {
	s := sim.New(sim.Config{KeysOnly: true})
	defer s.Close()
	if err := s.SetPath(sim.OpUtbetalningssparrar, "/skattekonton/{omfragad}/sparrar"); err != nil {
		t.Fatal(err)
	}
	s.SeedDemo()
	hs := httptest.NewServer(s.Handler())
	defer hs.Close()
	srv := natstest.RunTest(t)
	_, js := natstest.Connect(t, srv)
	workerEnv(t, map[string]string{
		"NATS_URL":          srv.ClientURL(),
		"HTTP_ADDR":         "127.0.0.1:0",
		"LOG_FORMAT":        "json",
		"SKV_ENV":           "enkel",
		"SKV_BASE_URL":      s.BaseURL(hs.URL),
		"SKV_CLIENT_ID":     sim.DefaultClientID,
		"SKV_CLIENT_SECRET": sim.DefaultClientSecret,
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &testlog.Buffer{}
	errc := make(chan error, 1)
	go func() { errc <- run(ctx, out) }()
	acct := s.Accounts()[0].Omfragad
	// The worker creates the fetch stream; publish once it is there.
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := js.Publish(ctx, contract.FetchSubject(acct), []byte(`{"requestId":"enkel-1"}`)); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no fetch stream:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	fc := waitFetchCompleted(t, ctx, js, acct, deadline, out)
	var data struct {
		Unavailable []struct{ Operation string } `json:"unavailable"`
		Changes     int                          `json:"changes"`
	}
	if err := json.Unmarshal(fc, &data); err != nil {
		t.Fatal(err)
	}
	if len(data.Unavailable) != 1 || data.Unavailable[0].Operation != "utbetalningssparrar" || data.Changes == 0 {
		t.Errorf("FetchCompleted %s", fc)
	}
	if n := s.CallCount(sim.OpToken); n != 0 {
		t.Errorf("%d token requests with SKV_ENV=enkel", n)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("run: %v", err)
	}
	if got := out.String(); !strings.Contains(got, "SKV_PATH_UTBETALNINGSSPARRAR") {
		t.Errorf("the access problem's log line does not name the variable:\n%s", got)
	}
}

// waitFetchCompleted returns the data of the account's first FetchCompleted.
func waitFetchCompleted(t *testing.T, ctx context.Context, js jetstream.JetStream, acct string, deadline time.Time, out *testlog.Buffer) json.RawMessage {
	t.Helper()
	for time.Now().Before(deadline) {
		if st, err := js.Stream(ctx, contract.EventsStream); err == nil {
			if m, err := st.GetLastMsgForSubject(ctx, contract.EventSubject(acct, "FetchCompleted")); err == nil {
				var ev struct{ Data json.RawMessage }
				if err := json.Unmarshal(m.Data, &ev); err != nil {
					t.Fatal(err)
				}
				return ev.Data
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no FetchCompleted for the account:\n%s", out.String())
	return nil
}

// TestReplicasCountEachOtherWithoutALimit: with SKV_RATE_LIMIT=0 (no
// limit, the simulator's default) the replicas still know of each other,
// so that they share the fetch stream's partitions rather than leaving
// every partition pinned where it first landed.
func TestReplicasCountEachOtherWithoutALimit(t *testing.T) {
	srv := natstest.RunTest(t)
	workerEnv(t, map[string]string{
		"NATS_URL": srv.ClientURL(), "SKV_RATE_LIMIT": "0",
		"SKV_BASE_URL": "http://127.0.0.1:1/api", "SKV_TOKEN_URL": "http://127.0.0.1:1/token",
		"SKV_CLIENT_ID": "id", "SKV_CLIENT_SECRET": "secret",
	})
	cfg, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	ep := endpoints{BaseURL: cfg.SKVBaseURL, TokenURL: cfg.SKVTokenURL, ClientID: cfg.SKVClientID, ClientSecret: cfg.SKVClientSecret}
	var counts []func() int
	for range 2 {
		nc, _ := natstest.Connect(t, srv)
		api, peers, stop, err := newAPI(cfg, ep, nc, nil, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(stop)
		if api == nil || peers == nil {
			t.Fatalf("newAPI without a limit: client %v, peers %v; want both", api != nil, peers != nil)
		}
		counts = append(counts, peers)
	}
	deadline := time.Now().Add(20 * time.Second)
	for counts[0]() != 2 || counts[1]() != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("replicas without a limit count %d and %d, want 2 each", counts[0](), counts[1]())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
