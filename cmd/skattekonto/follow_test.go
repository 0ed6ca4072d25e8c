package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/events"
	"github.com/skattekonto-events/skattekonto-events/internal/natstest"
	"github.com/skattekonto-events/skattekonto-events/internal/testlog"
)

// waitFor polls until s holds want or the test's context ends.
func waitFor(t *testing.T, ctx context.Context, s *testlog.Buffer, want string) {
	t.Helper()
	for !strings.Contains(s.String(), want) {
		select {
		case <-ctx.Done():
			t.Fatalf("no %q in %q", want, s.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestFollowSaysListening: before any event arrives, follow tells on
// stderr where it listens; events then go to stdout.
func TestFollowSaysListening(t *testing.T) {
	srv := natstest.RunTest(t)
	_, js := natstest.Connect(t, srv)
	if _, err := js.CreateOrUpdateStream(t.Context(), events.StoreConfig{}.StreamConfig()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, args, subject string
	}{
		{"every account", "", contract.AllEvents},
		{"one account", "198112189876", contract.AccountEvents("198112189876")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			var out, errOut testlog.Buffer
			done := make(chan error, 1)
			followCtx, stop := context.WithCancel(ctx)
			defer stop()
			args := []string{"follow"}
			if tc.args != "" {
				args = append(args, tc.args)
			}
			go func() {
				done <- run(followCtx, args, &out, &errOut, func(k string) string {
					if k == "NATS_URL" {
						return srv.ClientURL()
					}
					return ""
				})
			}()
			waitFor(t, ctx, &errOut, "listening")
			status := errOut.String()
			if !strings.Contains(status, srv.ClientURL()) || !strings.Contains(status, tc.subject) {
				t.Errorf("status %q does not name %s and %s", status, srv.ClientURL(), tc.subject)
			}
			if out.String() != "" {
				t.Errorf("stdout before any event: %q", out.String())
			}
			ev := `{"id":"x","type":"skattekonto.BalanceChanged","subject":"198112189876","time":"2026-11-25T08:00:00Z","data":{"delta":{"saldoSkatteverket":-5}}}`
			if _, err := js.Publish(ctx, contract.EventSubject("198112189876", "BalanceChanged"), []byte(ev)); err != nil {
				t.Fatal(err)
			}
			waitFor(t, ctx, &out, "delta={saldoSkatteverket=-5}")
			stop()
			if err := <-done; err != nil {
				t.Errorf("follow: %v", err)
			}
		})
	}
}

func TestRedactURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"nats://127.0.0.1:4222", "nats://127.0.0.1:4222"},
		{"nats://me:secret@nats.example:4222", "nats://me:xxxxx@nats.example:4222"},
		{"nats://token@nats.example:4222", "nats://xxxxx@nats.example:4222"},
		{"nats://a:1,nats://me:pw@b:2", "nats://a:1,nats://me:xxxxx@b:2"},
	} {
		if got := redactURL(tc.in); got != tc.want {
			t.Errorf("redactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
