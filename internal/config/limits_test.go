package config

import (
	"os"
	"strings"
	"testing"
	"time"
)

// setLimitsEnv is setEnv that also clears the WATCH_ variables.
func setLimitsEnv(t *testing.T, env map[string]string) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "WATCH_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	setEnv(t, env)
}

func TestLimitDefaults(t *testing.T) {
	setLimitsEnv(t, nil)
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if c.SKVRateMaxPeers != 64 || c.SKVRateMaxPause != time.Minute || c.SKVRateMaxWait != 2*time.Minute ||
		c.WatchMinInterval != 15*time.Minute || c.WatchMaxAccounts != 10000 {
		t.Errorf("got SKV_RATE_MAX_PEERS %d, SKV_RATE_MAX_PAUSE %v, SKV_RATE_MAX_WAIT %v, WATCH_MIN_INTERVAL %v, WATCH_MAX_ACCOUNTS %d; want 64, 1m, 2m, 15m, 10000",
			c.SKVRateMaxPeers, c.SKVRateMaxPause, c.SKVRateMaxWait, c.WatchMinInterval, c.WatchMaxAccounts)
	}
}

func TestLimitErrorsNameTheVariable(t *testing.T) {
	for _, tc := range []struct{ key, value string }{
		{"SKV_RATE_MAX_PEERS", "0"},
		{"SKV_RATE_MAX_PAUSE", "0s"},
		{"SKV_RATE_MAX_PAUSE", "-1s"},
		{"SKV_RATE_MAX_WAIT", "0s"},
		{"WATCH_MIN_INTERVAL", "500ms"},
		{"WATCH_MIN_INTERVAL", "often"},
		{"WATCH_MAX_ACCOUNTS", "0"},
	} {
		t.Run(tc.key+"="+tc.value, func(t *testing.T) {
			setLimitsEnv(t, map[string]string{tc.key: tc.value})
			_, err := Load()
			if err == nil || !strings.Contains(err.Error(), tc.key) {
				t.Errorf("Load() = %v, want an error naming %s", err, tc.key)
			}
		})
	}
}
