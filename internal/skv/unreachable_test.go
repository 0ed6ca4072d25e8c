package skv

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestUnreachableOnRealFaults: a call that gets no answer (a refused
// connection, a reset, a hang past the timeout, the token endpoint gone)
// is unreachable; an answer of any status and a cancelled call are not.
func TestUnreachableOnRealFaults(t *testing.T) {
	reset := func(w http.ResponseWriter, _ *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // close with RST
		}
		_ = conn.Close()
	}
	for _, tc := range []struct {
		name   string
		api    http.HandlerFunc
		config func(*Config, *httptest.Server)
		cancel bool
		want   bool
	}{
		{name: "refused", config: func(c *Config, _ *httptest.Server) {
			c.BaseURL = "http://" + closedAddr(t) + "/v2"
		}, want: true},
		{name: "token endpoint refused", config: func(c *Config, _ *httptest.Server) {
			c.TokenURL = "http://" + closedAddr(t) + "/token"
		}, want: true},
		{name: "reset", api: reset, want: true},
		{name: "timeout", api: func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
		}, config: func(c *Config, _ *httptest.Server) { c.Timeout = 50 * time.Millisecond }, want: true},
		{name: "503 answer", api: answer(503, `{"error":"down"}`), want: false},
		{name: "felkod answer", api: answer(404, `{"felkod":3,"felmeddelande":"Skattekonto saknas"}`), want: false},
		{name: "cancelled", api: func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }, cancel: true, want: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, srv := newFake(t, tc.api)
			cfg := testConfig(srv)
			cfg.MaxAttempts = 1
			if tc.config != nil {
				tc.config(&cfg, srv)
			}
			c := newTestClient(t, cfg)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancel {
				time.AfterFunc(50*time.Millisecond, cancel)
			}
			_, _, err := c.Saldo(ctx, testOrg)
			if err == nil {
				t.Fatal("Saldo succeeded")
			}
			if got := Unreachable(err); got != tc.want {
				t.Errorf("Unreachable(%v) = %v, want %v", err, got, tc.want)
			}
			if got := Unreachable(errors.Join(errors.New("wrapped"), err)); got != tc.want {
				t.Errorf("Unreachable of the wrapped error = %v, want %v", got, tc.want)
			}
		})
	}
}

// closedAddr is an address where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}
