package natsconf

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
)

// The roles of auth.conf, named as in its environment variables
// SKATTEKONTO_<ROLE>_NKEY.
const (
	worker    = "WORKER"
	requester = "REQUESTER"
	reader    = "READER"
	operator  = "OPERATOR"
)

var roles = []string{worker, requester, reader, operator}

// inboxes are the reply prefixes auth.conf lets each role subscribe to.
var inboxes = map[string]string{
	worker:    "_INBOX",
	requester: "_INBOX_requester",
	reader:    "_INBOX_reader",
	operator:  "_INBOX",
}

// testServer is a NATS server running with the shipped auth.conf.
type testServer struct {
	srv  *server.Server
	keys map[string]nkeys.KeyPair
	log  *serverLog
}

// startServer runs a JetStream server whose only configuration beyond a
// listen address and a store is the shipped auth.conf, with a fresh user
// key per role in the environment.
func startServer(t *testing.T) *testServer {
	t.Helper()
	ts := &testServer{keys: map[string]nkeys.KeyPair{}, log: &serverLog{}}
	for _, r := range roles {
		kp, err := nkeys.CreateUser()
		if err != nil {
			t.Fatal(err)
		}
		pub, err := kp.PublicKey()
		if err != nil {
			t.Fatal(err)
		}
		t.Setenv("SKATTEKONTO_"+r+"_NKEY", pub)
		ts.keys[r] = kp
	}
	dir := t.TempDir()
	shipped, err := os.ReadFile("auth.conf")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "auth.conf"), shipped, 0o600); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf("listen: \"127.0.0.1:-1\"\nserver_name: roles\njetstream { store_dir: %q }\ninclude ./auth.conf\n",
		filepath.Join(dir, "js"))
	path := filepath.Join(dir, "server.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatalf("the server refuses auth.conf: %v", err)
	}
	opts.NoSigs = true
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv.SetLoggerV2(ts.log, false, false, false)
	srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	ts.srv = srv
	return ts
}

// seedFile writes a role's NKey seed to a file, as a mounted Secret would.
func (ts *testServer) seedFile(t *testing.T, role string) string {
	t.Helper()
	seed, err := ts.keys[role].Seed()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), strings.ToLower(role)+".nk")
	if err := os.WriteFile(path, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// client is a connection with one role's key. Its context ends as soon as
// the server reports a permission violation to it, so that an operation
// the server refuses returns instead of waiting for an answer that will
// never come.
type client struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	ctx    context.Context
	cancel context.CancelCauseFunc
}

func (ts *testServer) connect(t *testing.T, role string) *client {
	t.Helper()
	kp := ts.keys[role]
	pub, err := kp.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancelCause(t.Context())
	c := &client{ctx: ctx, cancel: cancel}
	c.nc, err = nats.Connect(ts.srv.ClientURL(),
		nats.Name("roles-test-"+strings.ToLower(role)),
		nats.Nkey(pub, kp.Sign),
		nats.CustomInboxPrefix(inboxes[role]),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrPermissionViolation) {
				cancel(err)
			}
		}))
	if err != nil {
		t.Fatalf("connect as %s: %v", role, err)
	}
	t.Cleanup(c.nc.Close)
	c.js, err = jetstream.New(c.nc)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// violation returns the permission violation the server reported to c,
// nil if none. The server answers a connection's messages in order, so
// after the round trip of a flush every refusal of what c sent before it
// has arrived.
func (c *client) violation(t *testing.T) error {
	t.Helper()
	if err := c.nc.Flush(); err != nil {
		t.Fatalf("flush: %v", err)
	}
	if err := c.nc.LastError(); errors.Is(err, nats.ErrPermissionViolation) {
		return err
	}
	return nil
}

// serverLog keeps the server's warnings and errors, where it reports
// every permission violation with the client's name.
type serverLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *serverLog) add(format string, v []any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, v...))
}

func (l *serverLog) Noticef(string, ...any)         {}
func (l *serverLog) Debugf(string, ...any)          {}
func (l *serverLog) Tracef(string, ...any)          {}
func (l *serverLog) Warnf(format string, v ...any)  { l.add(format, v) }
func (l *serverLog) Errorf(format string, v ...any) { l.add(format, v) }
func (l *serverLog) Fatalf(format string, v ...any) { l.add(format, v) }

// violations returns the logged permission violations.
func (l *serverLog) violations() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, s := range l.lines {
		if strings.Contains(s, "Violation") {
			out = append(out, s)
		}
	}
	return out
}
