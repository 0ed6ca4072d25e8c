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

// TestConnectSaysNATSIsUnreachable checks that a worker started while NATS
// cannot be reached says so at once (it keeps trying instead of
// exiting), and does not repeat itself on every attempt.
func TestConnectSaysNATSIsUnreachable(t *testing.T) {
	var buf testlog.Buffer
	log := zerolog.New(&buf)
	nc, err := connect(&config.Config{}, "nats://127.0.0.1:"+strconv.Itoa(freePort(t)), log)
	if err != nil {
		t.Fatalf("connect: %v (want a connection that keeps trying)", err)
	}
	defer nc.Close()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(buf.String(), "NATS not reachable") {
		if time.Now().After(deadline) {
			t.Fatalf("no line saying NATS is not reachable after 10s:\n%s", buf.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(4500 * time.Millisecond) // two more attempts at least (2 s apart)
	if n := strings.Count(buf.String(), "NATS not reachable"); n != 1 {
		t.Errorf("%d lines saying NATS is not reachable, want 1 in 30 s:\n%s", n, buf.String())
	}
	if !strings.Contains(buf.String(), `"fault":"nats-unreachable"`) {
		t.Errorf("the line names no fault:\n%s", buf.String())
	}
}
