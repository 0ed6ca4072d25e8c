package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/skattekonto-events/skattekonto-events/internal/config"
	"github.com/skattekonto-events/skattekonto-events/internal/idnr"
	"github.com/skattekonto-events/skattekonto-events/internal/sim"
	"github.com/skattekonto-events/skattekonto-events/internal/testlog"
)

// workerEnv clears every variable the worker reads, then sets env.
func workerEnv(t *testing.T, env map[string]string) {
	t.Helper()
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		for _, p := range []string{"NATS_", "SKV_", "HTTP_", "LOG_", "DATA_", "EMBEDDED_", "SIM_", "WORKER_", "STREAM", "EVENTS_", "REMINDER_", "SHORTFALL_", "CERTIFICATE_", "BOOKING_", "LOGIN_", "SIE_", "WEBHOOKS_"} {
			if strings.HasPrefix(k, p) {
				t.Setenv(k, "")
				os.Unsetenv(k)
			}
		}
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
}

// TestRunShowsConfigurationWithoutSecrets starts the whole worker on its
// embedded NATS server and simulator, with the user login on, and checks
// what it prints: the effective configuration, with no secret in it or
// anywhere else in the output.
func TestRunShowsConfigurationWithoutSecrets(t *testing.T) {
	const secret = "cs-Zq91-never-print"
	key := []byte("tk-Zq92-32-bytes-of-token-key!!!")
	hookKey := []byte("wh-Zq93-32-bytes-of-webhook-key!")
	hooks := filepath.Join(t.TempDir(), "webhooks.json")
	if err := os.WriteFile(hooks, []byte(`{"endpoints": [{"name": "erp", "url": "https://erp.example/in?token=Zq94",
		"secret": "whsec_`+base64.StdEncoding.EncodeToString(hookKey)+`"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	workerEnv(t, map[string]string{
		"WEBHOOKS_FILE":      hooks,
		"DATA_DIR":           t.TempDir(),
		"EMBEDDED_NATS_ADDR": "127.0.0.1:0",
		"SIM_ADDR":           "127.0.0.1:0",
		"HTTP_ADDR":          "127.0.0.1:0",
		"LOG_FORMAT":         "json",
		"SKV_CLIENT_SECRET":  secret,
		"LOGIN_ENABLED":      "true",
		"LOGIN_ADDR":         "127.0.0.1:0",
		"LOGIN_REDIRECT_URL": "http://localhost:8080/login/callback",
		"LOGIN_TOKEN_KEY":    base64.StdEncoding.EncodeToString(key),
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &testlog.Buffer{}
	errc := make(chan error, 1)
	go func() { errc <- run(ctx, out) }()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(out.String(), "worker consuming") {
		select {
		case err := <-errc:
			t.Fatalf("run ended early: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker did not start:\n%s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("run: %v", err)
	}
	got := out.String()
	for _, want := range []string{`"message":"effective configuration (secrets masked)"`, `"SKV_CLIENT_SECRET":"(set)"`, `"LOGIN_TOKEN_KEY":"(set)"`,
		`"SKV_ENV":"sim"`, `"WORKER_CONCURRENCY":"128"`, "user login enabled", "worker drained",
		`"message":"webhook endpoint delivering"`, `"target":"https://erp.example/in"`} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %s:\n%s", want, got)
		}
	}
	// The simulator's demo sole trader is a personnummer: shown masked.
	if !strings.Contains(got, idnr.MustParse(sim.DemoEF).Masked()) {
		t.Errorf("the demo accounts are not listed masked:\n%s", got)
	}
	for _, s := range []string{secret, "Zq9", string(key), base64.StdEncoding.EncodeToString(key), base64.StdEncoding.EncodeToString(hookKey), sim.DemoEF} {
		if strings.Contains(got, s) {
			t.Errorf("output shows the secret %q:\n%s", s, got)
		}
	}
}

// TestLoginPageHasItsOwnListener: the login page is served on LOGIN_ADDR
// alone, and /metrics on HTTP_ADDR alone.
func TestLoginPageHasItsOwnListener(t *testing.T) {
	workerEnv(t, map[string]string{
		"DATA_DIR":           t.TempDir(),
		"EMBEDDED_NATS_ADDR": "127.0.0.1:0",
		"SIM_ADDR":           "127.0.0.1:0",
		"HTTP_ADDR":          "127.0.0.1:0",
		"LOG_FORMAT":         "json",
		"LOGIN_ENABLED":      "true",
		"LOGIN_ADDR":         "127.0.0.1:0",
		"LOGIN_REDIRECT_URL": "http://127.0.0.1:1/login/callback",
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &testlog.Buffer{}
	errc := make(chan error, 1)
	go func() { errc <- run(ctx, out) }()
	defer func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(out.String(), "worker consuming") {
		if time.Now().After(deadline) {
			t.Fatalf("worker did not start:\n%s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	addrOf := func(message string) string {
		for line := range strings.SplitSeq(out.String(), "\n") {
			var l struct{ Message, Addr string }
			if json.Unmarshal([]byte(line), &l) == nil && strings.HasPrefix(l.Message, message) {
				return "http://" + l.Addr
			}
		}
		t.Fatalf("no log line %q:\n%s", message, out.String())
		return ""
	}
	ops, page := addrOf("serving /healthz"), addrOf("user login enabled")
	for _, tc := range []struct {
		url, want string
		status    int
	}{
		{page + "/login/", "Hämta skattekonton", http.StatusOK},
		{page + "/login/", `id="simulator"`, http.StatusOK},
		{page + "/metrics", "", http.StatusNotFound},
		{page + "/readyz", "", http.StatusNotFound},
		{ops + "/login/", "", http.StatusNotFound},
		{ops + "/metrics", "skattekonto", http.StatusOK},
	} {
		resp, err := http.Get(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.want) {
			t.Errorf("GET %s: %d, want %d with %q", tc.url, resp.StatusCode, tc.status, tc.want)
		}
	}
}

// TestAPIEndpoints: the simulator's endpoints are handed back, not
// written into the configuration, and configured login endpoints win.
func TestAPIEndpoints(t *testing.T) {
	for _, tc := range []struct {
		name                string
		cfg                 config.Config
		wantBase, wantLogin string // prefixes; "sim" means the simulator's root
	}{
		{"configured API", config.Config{SKVEnv: config.EnvTest, SKVBaseURL: "https://api.example.se/v2", SKVTokenURL: "https://t.example.se/token",
			SKVClientID: "id", SKVClientSecret: "s", LoginAuthorizeURL: "https://login.example.se/authorize"}, "https://api.example.se/v2", "https://login.example.se/authorize"},
		{"simulator", config.Config{SKVEnv: config.EnvSim, SimAddr: "127.0.0.1:0", SKVScope: "ska"}, "sim", "sim"},
		{"simulator with a configured login", config.Config{SKVEnv: config.EnvSim, SimAddr: "127.0.0.1:0", SKVScope: "ska",
			LoginAuthorizeURL: "https://login.example.se/authorize", LoginTokenURL: "https://login.example.se/token"}, "sim", "https://login.example.se/authorize"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.cfg
			ep, stop, err := apiEndpoints(&tc.cfg, zerolog.Nop())
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			if !reflect.DeepEqual(before, tc.cfg) {
				t.Errorf("configuration changed: got %+v, want %+v", tc.cfg, before)
			}
			simRoot := strings.TrimSuffix(ep.TokenURL, sim.TokenPath)
			want := func(w string) string {
				if w == "sim" {
					return simRoot
				}
				return w
			}
			if tc.cfg.Sim() && (!strings.HasPrefix(simRoot, "http://127.0.0.1:") || ep.ClientID != simClientID || ep.ClientSecret != simClientSecret) {
				t.Errorf("simulator endpoints: %+v", ep)
			}
			if !strings.HasPrefix(ep.BaseURL, want(tc.wantBase)) || !strings.HasPrefix(ep.AuthorizeURL, want(tc.wantLogin)) || ep.AuthorizeURL == "" {
				t.Errorf("got base %q login %q, want prefixes %q and %q", ep.BaseURL, ep.AuthorizeURL, want(tc.wantBase), want(tc.wantLogin))
			}
		})
	}
}
