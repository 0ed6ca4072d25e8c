package config

import (
	"os"
	"strings"
	"testing"
)

// setEnv clears every variable Config reads, then sets env.
func setEnv(t *testing.T, env map[string]string) {
	t.Helper()
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		for _, p := range []string{"NATS_", "SKV_", "HTTP_", "LOG_", "DATA_", "EMBEDDED_", "SIM_", "WORKER_", "STREAM", "EVENTS_", "REMINDER_", "SHORTFALL_", "CERTIFICATE_", "BOOKING_", "LOGIN_"} {
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
