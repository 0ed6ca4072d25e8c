package main

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/skattekonto-events/skattekonto-events/internal/config"
	"github.com/skattekonto-events/skattekonto-events/internal/health"
	"github.com/skattekonto-events/skattekonto-events/internal/testlog"
)

// TestEmbeddedNATSDurability checks what the worker says about the
// embedded server's fsync policy: nothing to warn about by default, a
// loud start-up warning and a /readyz warning when it acknowledges first.
func TestEmbeddedNATSDurability(t *testing.T) {
	tests := []struct {
		name     string
		raw      string
		interval time.Duration
		wantWarn bool
		wantLog  string
	}{
		{"always", "always", 0, false, "fsync before every acknowledgement"},
		{"interval", "2m", 2 * time.Minute, true, "NATS DURABILITY REDUCED"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &config.Config{
				DataDir:                  t.TempDir(),
				EmbeddedNATSAddr:         "127.0.0.1:" + strconv.Itoa(freePort(t)),
				EmbeddedNATSSyncRaw:      tc.raw,
				EmbeddedNATSSyncInterval: tc.interval,
			}
			var out testlog.Buffer
			nc, durability, stop, err := connectNATS(cfg, zerolog.New(&out))
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			if !nc.IsConnected() {
				t.Error("not connected")
			}
			if !strings.Contains(out.String(), tc.wantLog) {
				t.Errorf("log %q lacks %q", out.String(), tc.wantLog)
			}
			if (durability != nil) != tc.wantWarn {
				t.Fatalf("durability check: got %v, want one: %v", durability != nil, tc.wantWarn)
			}
			if !tc.wantWarn {
				return
			}
			var w *health.Warning
			if err := durability(context.Background()); !errors.As(err, &w) || !strings.Contains(err.Error(), "acknowledges before fsync") {
				t.Errorf("durability check: got %v, want a warning that it acknowledges before fsync", err)
			}
			js, err := jetstream.New(nc)
			if err != nil {
				t.Fatal(err)
			}
			ok, res := readiness(httpDeps{nc: nc, js: js, durability: durability}).Ready(context.Background())
			if got := res["durability"]; !strings.HasPrefix(got, "warning: ") {
				t.Errorf("readiness durability: got %q (ok %v), want a warning", got, ok)
			}
		})
	}
}
