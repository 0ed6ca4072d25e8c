package config

import (
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/skattekonto-events/skattekonto-events/internal/skv"
)

// setEnv clears every variable Config reads, then sets env.
func setEnv(t *testing.T, env map[string]string) {
	t.Helper()
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		for _, p := range []string{"NATS_", "SKV_", "HTTP_", "LOG_", "DATA_", "EMBEDDED_", "SIM_", "WORKER_", "STREAM", "EVENTS_", "REMINDER_", "SHORTFALL_", "CERTIFICATE_", "BOOKING_", "LOGIN_", "WEBHOOKS_"} {
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

func TestDefaultsAreTheEmbeddedSimulator(t *testing.T) {
	setEnv(t, nil)
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if !c.Sim() || c.NATSURL != "" || c.HTTPAddr != ":8080" || c.SKVScope != "ska" ||
		c.CorrelationHeader != "SKV-client_correlationid" || c.SKVRateLimit != 0 || c.Concurrency != 128 {
		t.Fatalf("defaults: %+v", c)
	}
	if len(c.ReminderDays) != 2 || c.ReminderDays[0] != 7 || c.ReminderDays[1] != 1 {
		t.Errorf("reminder days %v", c.ReminderDays)
	}
	if c.SKVUnavailableRetry != time.Hour || c.SKVTransactionsMaxAge != 24*time.Hour || c.KeysOnly() {
		t.Errorf("unavailable retry %v, transactions max age %v, keys only %v", c.SKVUnavailableRetry, c.SKVTransactionsMaxAge, c.KeysOnly())
	}
	if diff := cmp.Diff(skv.DefaultPaths, c.SKVPaths()); diff != "" {
		t.Errorf("default paths (-want +got):\n%s", diff)
	}
	if c.WebhooksFile != "" || c.WebhooksTimeout != 10*time.Second || c.WebhooksMaxAge != 72*time.Hour ||
		c.WebhooksRetryMax != time.Hour || c.WebhooksReload != 5*time.Second {
		t.Errorf("webhooks: file %q, timeout %v, max age %v, retry max %v, reload %v",
			c.WebhooksFile, c.WebhooksTimeout, c.WebhooksMaxAge, c.WebhooksRetryMax, c.WebhooksReload)
	}
}

func TestPathVariables(t *testing.T) {
	setEnv(t, map[string]string{"SKV_PATH_UTBETALNINGSSPARRAR": "/skattekonton/{omfragad}/sparrar", "SKV_UNAVAILABLE_RETRY": "10m"})
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	want := map[skv.Operation]string{}
	for op, p := range skv.DefaultPaths {
		want[op] = p
	}
	want[skv.OpUtbetalningssparrar] = "/skattekonton/{omfragad}/sparrar"
	if diff := cmp.Diff(want, c.SKVPaths()); diff != "" {
		t.Errorf("paths (-want +got):\n%s", diff)
	}
	if c.SKVUnavailableRetry != 10*time.Minute {
		t.Errorf("unavailable retry %v", c.SKVUnavailableRetry)
	}
	// The paths make a valid client configuration.
	if _, err := skv.New(skv.Config{BaseURL: "http://127.0.0.1:9/v2", TokenURL: "http://127.0.0.1:9/t", ClientID: "id", Paths: c.SKVPaths()}); err != nil {
		t.Errorf("skv.New with the paths: %v", err)
	}
	for _, op := range skv.Operations {
		if PathVariables[op] == "" {
			t.Errorf("no variable for %s", op)
		}
	}
}

func TestSimpleTestService(t *testing.T) {
	setEnv(t, map[string]string{"SKV_ENV": "enkel", "SKV_CLIENT_ID": "id", "SKV_CLIENT_SECRET": "s"})
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if !c.KeysOnly() || c.Sim() || c.SKVBaseURL != "https://api.test.skatteverket.se/enkeltesttjanst/beskattning/skattekonto/v1" ||
		c.SKVTokenURL != "" || c.SKVRateLimit != 4 {
		t.Errorf("enkel: keys only %v, base %q, token %q, rate %v", c.KeysOnly(), c.SKVBaseURL, c.SKVTokenURL, c.SKVRateLimit)
	}
	// A simulator in keys-only mode stands in for it.
	setEnv(t, map[string]string{"SKV_ENV": "enkel", "SKV_BASE_URL": "http://127.0.0.1:8443/beskattning/skattekonto/v2", "SKV_CLIENT_ID": "id", "SKV_CLIENT_SECRET": "s"})
	if c, err = Load(); err != nil || c.SKVBaseURL != "http://127.0.0.1:8443/beskattning/skattekonto/v2" || !c.KeysOnly() {
		t.Errorf("enkel with a base URL: %+v, %v", c, err)
	}
}

func TestEmbeddedNATSSync(t *testing.T) {
	tests := []struct {
		name, value string
		want        time.Duration
	}{
		{"default fsyncs before ack", "", 0},
		{"always", "always", 0},
		{"an interval", "2m", 2 * time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{}
			if tc.value != "" {
				env["EMBEDDED_NATS_SYNC"] = tc.value
			}
			setEnv(t, env)
			c, err := Load()
			if err != nil {
				t.Fatal(err)
			}
			if c.EmbeddedNATSSyncInterval != tc.want {
				t.Errorf("interval: got %v, want %v", c.EmbeddedNATSSyncInterval, tc.want)
			}
		})
	}
}

func TestEnvironmentsSetEndpoints(t *testing.T) {
	setEnv(t, map[string]string{"SKV_ENV": "test", "SKV_CLIENT_ID": "id", "SKV_CLIENT_SECRET": "s", "SKV_CERT_FILE": "c.pem", "SKV_KEY_FILE": "k.pem"})
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if c.SKVBaseURL != "https://api.test.skatteverket.se/beskattning/skattekonto/v2" ||
		!strings.HasPrefix(c.SKVTokenURL, "https://sysorgoauth2.test.skatteverket.se/") || c.SKVRateLimit != 4 {
		t.Fatalf("test endpoints: %q %q rate %v", c.SKVBaseURL, c.SKVTokenURL, c.SKVRateLimit)
	}
}

func TestErrorsNameTheVariable(t *testing.T) {
	base := map[string]string{"SKV_BASE_URL": "http://127.0.0.1:9/v2", "SKV_TOKEN_URL": "http://127.0.0.1:9/token", "SKV_CLIENT_ID": "id", "SKV_CLIENT_SECRET": "secret-value"}
	tests := []struct {
		name, key, value, want string
	}{
		{"unknown environment", "SKV_ENV", "staging", "SKV_ENV"},
		{"plain http to a remote host", "SKV_BASE_URL", "http://api.example.com/v2", "SKV_BASE_URL"},
		{"no token URL", "SKV_TOKEN_URL", "", "SKV_TOKEN_URL"},
		{"no client id", "SKV_CLIENT_ID", "", "SKV_CLIENT_ID"},
		{"cert without key", "SKV_CERT_FILE", "c.pem", "SKV_CERT_FILE"},
		{"bad log level", "LOG_LEVEL", "loud", "LOG_LEVEL"},
		{"bad log format", "LOG_FORMAT", "xml", "LOG_FORMAT"},
		{"bad concurrency", "WORKER_CONCURRENCY", "0", "WORKER_CONCURRENCY"},
		{"not a number", "WORKER_CONCURRENCY", "many", "WORKER_CONCURRENCY"},
		{"bad replicas", "STREAM_REPLICAS", "7", "STREAM_REPLICAS"},
		{"bad reminder days", "REMINDER_DAYS", "7,x", "REMINDER_DAYS"},
		{"krav below uppmaning", "SHORTFALL_KRAV", "100", "SHORTFALL_KRAV"},
		{"bad HTTP address", "HTTP_ADDR", "8080", "HTTP_ADDR"},
		{"path without identity", "SKV_PATH_SALDO", "/skattekonton/saldo", "SKV_PATH_SALDO"},
		{"path with a host", "SKV_PATH_TRANSAKTIONER", "https://evil.example/{omfragad}", "SKV_PATH_TRANSAKTIONER"},
		{"path with a query", "SKV_PATH_UTBETALNINGSKONTO", "/skattekonton/{omfragad}/utbetalningskonto?x=1", "SKV_PATH_UTBETALNINGSKONTO"},
		{"path going up", "SKV_PATH_UTBETALNINGSSPARRAR", "/skattekonton/../{omfragad}", "SKV_PATH_UTBETALNINGSSPARRAR"},
		{"negative unavailable retry", "SKV_UNAVAILABLE_RETRY", "-1m", "SKV_UNAVAILABLE_RETRY"},
		{"zero transactions max age", "SKV_TRANSACTIONS_MAX_AGE", "0s", "SKV_TRANSACTIONS_MAX_AGE"},
		{"no client secret", "SKV_CLIENT_SECRET", "", "SKV_CLIENT_SECRET"},
		{"negative audit max age", "AUDIT_MAX_AGE", "-1h", "AUDIT_MAX_AGE"},
		{"zero webhook timeout", "WEBHOOKS_TIMEOUT", "0s", "WEBHOOKS_TIMEOUT"},
		{"webhook timeout too long", "WEBHOOKS_TIMEOUT", "10m", "WEBHOOKS_TIMEOUT"},
		{"webhook max age too short", "WEBHOOKS_MAX_AGE", "100ms", "WEBHOOKS_MAX_AGE"},
		{"webhook retry max too short", "WEBHOOKS_RETRY_MAX", "0s", "WEBHOOKS_RETRY_MAX"},
		{"webhook reload too often", "WEBHOOKS_RELOAD", "10ms", "WEBHOOKS_RELOAD"},
		{"embedded sync neither always nor an interval", "EMBEDDED_NATS_SYNC", "sometimes", "EMBEDDED_NATS_SYNC"},
		{"embedded sync interval zero", "EMBEDDED_NATS_SYNC", "0s", "EMBEDDED_NATS_SYNC"},
		{"embedded sync interval negative", "EMBEDDED_NATS_SYNC", "-2m", "EMBEDDED_NATS_SYNC"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			env[tc.key] = tc.value
			setEnv(t, env)
			_, err := Load()
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name %s", err, tc.want)
			}
			if strings.Contains(err.Error(), "secret-value") {
				t.Errorf("error shows the client secret: %q", err)
			}
		})
	}
}

func TestSimpleTestServiceErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no secret", map[string]string{"SKV_ENV": "enkel", "SKV_CLIENT_ID": "id"}, "SKV_CLIENT_SECRET"},
		{"no client id", map[string]string{"SKV_ENV": "enkel", "SKV_CLIENT_SECRET": "secret-value"}, "SKV_CLIENT_ID"},
		{"login", map[string]string{"SKV_ENV": "enkel", "SKV_CLIENT_ID": "id", "SKV_CLIENT_SECRET": "secret-value", "LOGIN_ENABLED": "true"}, "LOGIN_ENABLED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			setEnv(t, tc.env)
			_, err := Load()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one naming %s", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "secret-value") {
				t.Errorf("error shows the client secret: %q", err)
			}
		})
	}
	// test and prod still want a certificate.
	setEnv(t, map[string]string{"SKV_ENV": "prod", "SKV_CLIENT_ID": "id", "SKV_CLIENT_SECRET": "s"})
	if _, err := Load(); err == nil || !strings.Contains(err.Error(), "SKV_CERT_FILE") {
		t.Errorf("prod without certificate: %v", err)
	}
}

func TestLoginSettings(t *testing.T) {
	setEnv(t, map[string]string{"LOGIN_ENABLED": "true"})
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if c.LoginAddr != ":8081" || c.LoginRedirectURL != "http://localhost:8081/login/callback" || c.LoginForwardAuthHeader != "" {
		t.Errorf("login defaults: addr %q redirect %q header %q", c.LoginAddr, c.LoginRedirectURL, c.LoginForwardAuthHeader)
	}
	if want := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}; !slices.Equal(c.LoginAllowCIDRs, want) {
		t.Errorf("allowed networks %v, want %v", c.LoginAllowCIDRs, want)
	}
	setEnv(t, map[string]string{"LOGIN_ENABLED": "true", "LOGIN_ADDR": "127.0.0.1:9443",
		"LOGIN_ALLOW_CIDRS": " 10.0.0.0/8, 192.0.2.7 ,2001:db8::1/48", "LOGIN_FORWARD_AUTH_HEADER": "X-Forwarded-User"})
	if c, err = Load(); err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32"), netip.MustParsePrefix("2001:db8::/48")}
	if !slices.Equal(c.LoginAllowCIDRs, want) || c.LoginRedirectURL != "http://localhost:9443/login/callback" || c.LoginForwardAuthHeader != "X-Forwarded-User" {
		t.Errorf("networks %v redirect %q header %q", c.LoginAllowCIDRs, c.LoginRedirectURL, c.LoginForwardAuthHeader)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no login address", map[string]string{"LOGIN_ADDR": ""}, "LOGIN_ADDR"},
		{"the metrics port", map[string]string{"LOGIN_ADDR": "0.0.0.0:8080"}, "LOGIN_ADDR"},
		{"not host:port", map[string]string{"LOGIN_ADDR": "8081"}, "LOGIN_ADDR"},
		{"no fixed port", map[string]string{"LOGIN_ADDR": ":0"}, "LOGIN_REDIRECT_URL"},
		{"bad network", map[string]string{"LOGIN_ALLOW_CIDRS": "10.0.0.0/33"}, "LOGIN_ALLOW_CIDRS"},
		{"no network", map[string]string{"LOGIN_ALLOW_CIDRS": " , "}, "LOGIN_ALLOW_CIDRS"},
		{"bad header", map[string]string{"LOGIN_FORWARD_AUTH_HEADER": "X User"}, "LOGIN_FORWARD_AUTH_HEADER"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"LOGIN_ENABLED": "true"}
			for k, v := range tc.env {
				env[k] = v
			}
			setEnv(t, env)
			if _, err := Load(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one naming %s", err, tc.want)
			}
		})
	}
}
