package natsserver

import (
	"testing"
	"time"
)

// TestStartSyncPolicy checks what the server reports on /varz (what an
// operator sees): fsync before every acknowledgement unless an interval
// is asked for.
func TestStartSyncPolicy(t *testing.T) {
	tests := []struct {
		name         string
		interval     time.Duration
		wantAlways   bool
		wantInterval time.Duration
	}{
		{"default fsyncs before ack", 0, true, 2 * time.Minute},
		{"an interval acknowledges first", 30 * time.Second, false, 30 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{StoreDir: t.TempDir(), SyncInterval: tc.interval}
			if got := cfg.SyncsBeforeAck(); got != tc.wantAlways {
				t.Errorf("SyncsBeforeAck: got %v, want %v", got, tc.wantAlways)
			}
			s, err := Start(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { s.Shutdown(); s.WaitForShutdown() }()
			v, err := s.Varz(nil)
			if err != nil {
				t.Fatal(err)
			}
			js := v.JetStream.Config
			if js == nil {
				t.Fatal("varz: no JetStream configuration")
			}
			if js.SyncAlways != tc.wantAlways || js.SyncInterval != tc.wantInterval {
				t.Errorf("varz: got sync_always %v, sync_interval %v; want %v, %v", js.SyncAlways, js.SyncInterval, tc.wantAlways, tc.wantInterval)
			}
		})
	}
}
