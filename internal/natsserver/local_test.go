package natsserver

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestStartOrJoin(t *testing.T) {
	addr := freeAddr(t)
	first, err := StartOrJoin(addr, Config{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(first.Close)
	if first.Joined {
		t.Fatal("first: joined, want started")
	}
	second, err := StartOrJoin(addr, Config{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	second.Close() // a joined server stays up
	if !second.Joined || second.URL != "nats://"+addr {
		t.Fatalf("second: got joined %v at %s, want joined at nats://%s", second.Joined, second.URL, addr)
	}
	key, err := nats.NkeyOptionFromSeed(first.WorkerNKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []*Local{first, second} {
		nc, err := nats.Connect(l.URL, key)
		if err != nil {
			t.Fatalf("connect to %s: %v", l.URL, err)
		}
		js, err := nc.JetStream()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.AccountInfo(); err != nil {
			t.Errorf("%s: JetStream: %v", l.URL, err)
		}
		nc.Close()
	}
}

func TestStartOrJoinStopsWhatItStarted(t *testing.T) {
	addr := freeAddr(t)
	l, err := StartOrJoin(addr, Config{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if inUse(addr) {
		t.Errorf("%s still in use after Close", addr)
	}
}

func TestStartOrJoinBadAddress(t *testing.T) {
	for _, addr := range []string{"nohost", "127.0.0.1:port", "127.0.0.1:" + strconv.Itoa(1<<20)} {
		t.Run(addr, func(t *testing.T) {
			l, err := StartOrJoin(addr, Config{StoreDir: t.TempDir()})
			if err == nil {
				l.Close()
				t.Fatalf("StartOrJoin(%q): no error", addr)
			}
		})
	}
}

func TestStartOrJoinReportsSync(t *testing.T) {
	tests := []struct {
		name     string
		interval time.Duration
		want     bool
	}{
		{"default", 0, true},
		{"interval", time.Minute, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := StartOrJoin(freeAddr(t), Config{StoreDir: t.TempDir(), SyncInterval: tc.interval})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if l.SyncsBeforeAck != tc.want {
				t.Errorf("SyncsBeforeAck: got %v, want %v", l.SyncsBeforeAck, tc.want)
			}
			if got := l.srv.JetStreamConfig().SyncAlways; got != tc.want {
				t.Errorf("server SyncAlways: got %v, want %v", got, tc.want)
			}
		})
	}
}
