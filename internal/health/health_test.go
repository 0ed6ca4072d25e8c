package health

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestReadyAllOK(t *testing.T) {
	c := New(map[string]Check{
		"a": func(context.Context) error { return nil },
		"b": func(context.Context) error { return nil },
	}, 0)
	ok, res := c.Ready(context.Background())
	if !ok {
		t.Errorf("ok: got false, want true (%v)", res)
	}
	if diff := cmp.Diff(map[string]string{"a": "ok", "b": "ok"}, res); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
}

func TestReadyFailureTimeoutPanic(t *testing.T) {
	c := New(map[string]Check{
		"nats":    func(context.Context) error { return nil },
		"streams": func(context.Context) error { return errors.New("stream SKATTEKONTO_FETCH not found") },
		"slow": func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		},
		"stuck": func(context.Context) error { select {} },
		"panic": func(context.Context) error { panic("boom") },
	}, time.Minute)
	c.timeout = 10 * time.Millisecond
	ok, res := c.Ready(context.Background())
	if ok {
		t.Fatalf("ok: got true, want false (%v)", res)
	}
	if got := res["nats"]; got != "ok" {
		t.Errorf("nats: got %q, want ok", got)
	}
	if got := res["streams"]; got != "stream SKATTEKONTO_FETCH not found" {
		t.Errorf("streams: got %q", got)
	}
	for _, name := range []string{"slow", "stuck", "panic"} {
		if got := res[name]; got == "ok" || got == "" {
			t.Errorf("%s: got %q, want an error message", name, got)
		}
	}
}

func TestReadyCaches(t *testing.T) {
	var calls atomic.Int32
	var fail atomic.Bool
	c := New(map[string]Check{"x": func(context.Context) error {
		calls.Add(1)
		if fail.Load() {
			return errors.New("down")
		}
		return nil
	}}, time.Minute)
	now := time.Unix(0, 0)
	c.now = func() time.Time { return now }

	if ok, _ := c.Ready(context.Background()); !ok {
		t.Fatal("first run: not ready")
	}
	fail.Store(true)
	if ok, _ := c.Ready(context.Background()); !ok || calls.Load() != 1 {
		t.Fatalf("within cacheFor: got ok=%v after %d runs, want cached ok after 1", ok, calls.Load())
	}
	now = now.Add(time.Minute)
	if ok, res := c.Ready(context.Background()); ok || res["x"] != "down" || calls.Load() != 2 {
		t.Fatalf("after cacheFor: got ok=%v %v after %d runs, want a failure after 2", ok, res, calls.Load())
	}
}

func TestReadyIgnoresCallerCancel(t *testing.T) {
	c := New(map[string]Check{"x": func(ctx context.Context) error { return ctx.Err() }}, time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if ok, res := c.Ready(ctx); !ok {
		t.Errorf("with a cancelled caller context: got not ready %v, want ready", res)
	}
}

func TestHandler(t *testing.T) {
	var fail atomic.Bool
	c := New(map[string]Check{
		"nats": func(context.Context) error { return nil },
		"token": func(context.Context) error {
			if fail.Load() {
				return errors.New("token refused")
			}
			return nil
		},
	}, time.Nanosecond)

	rec := httptest.NewRecorder()
	c.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if rec.Code != http.StatusOK || strings.TrimSpace(rec.Body.String()) != "ready" {
		t.Errorf("ready: got %d %q, want 200 ready", rec.Code, rec.Body.String())
	}

	fail.Store(true)
	time.Sleep(time.Millisecond) // past cacheFor
	rec = httptest.NewRecorder()
	c.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("not ready: got status %d, want 503", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("content type: got %q, want application/json", ct)
	}
	var got map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatalf("body %q: %v", rec.Body.String(), err)
	}
	if diff := cmp.Diff(map[string]string{"nats": "ok", "token": "token refused"}, got); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
}

func TestLongMessageCut(t *testing.T) {
	c := New(map[string]Check{"x": func(context.Context) error { return errors.New(strings.Repeat("e", 1000)) }}, 0)
	_, res := c.Ready(context.Background())
	if n := len(res["x"]); n > maxMessage+len("…") {
		t.Errorf("message length: got %d, want at most %d", n, maxMessage+len("…"))
	}
}

// TestWarningsDoNotFailReadiness shows a warning on /readyz, in the
// 200 answer and in the 503 one, without making the process unready.
func TestWarningsDoNotFailReadiness(t *testing.T) {
	durability := func(context.Context) error {
		return Warn(errors.New("embedded NATS acknowledges before fsync"))
	}
	tests := []struct {
		name     string
		token    error
		wantCode int
		wantBody string
	}{
		{"ready with a warning", nil, http.StatusOK,
			"ready\ndurability: warning: embedded NATS acknowledges before fsync\n"},
		{"unready with a warning", errors.New("token refused"), http.StatusServiceUnavailable,
			`{"durability":"warning: embedded NATS acknowledges before fsync","token":"token refused"}` + "\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := New(map[string]Check{
				"durability": durability,
				"token":      func(context.Context) error { return tc.token },
			}, 0)
			ok, res := c.Ready(context.Background())
			if ok != (tc.token == nil) {
				t.Errorf("ok: got %v, want %v (%v)", ok, tc.token == nil, res)
			}
			rec := httptest.NewRecorder()
			c.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			if rec.Code != tc.wantCode || rec.Body.String() != tc.wantBody {
				t.Errorf("got %d %q, want %d %q", rec.Code, rec.Body.String(), tc.wantCode, tc.wantBody)
			}
		})
	}
}
