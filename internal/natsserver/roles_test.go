package natsserver

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/jobs"
)

const (
	acct         = "165560269986"
	eventSubject = contract.EventsPrefix + acct + ".FetchCompleted"
	stateSubject = contract.StatePrefix + acct
)

// client is a connection whose context ends when the server refuses
// something it sent.
type client struct {
	nc  *nats.Conn
	js  jetstream.JetStream
	ctx context.Context
}

func connectLocal(t *testing.T, url string, opts ...nats.Option) *client {
	t.Helper()
	ctx, cancel := context.WithCancelCause(t.Context())
	opts = append(opts, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrPermissionViolation) {
			cancel(err)
		}
	}))
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return &client{nc: nc, js: js, ctx: ctx}
}

// violation returns the permission violation the server reported, nil if
// none: after a flush's round trip every refusal has arrived.
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

// startLocal starts the embedded default and, as its worker, makes what
// the worker makes at start (streams, its consumer) and stores an event
// and a state.
func startLocal(t *testing.T) (*Local, string) {
	t.Helper()
	dir := t.TempDir()
	l, err := StartOrJoin(freeAddr(t), Config{StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	key, err := nats.NkeyOptionFromSeed(l.WorkerNKey)
	if err != nil {
		t.Fatalf("the worker's key %s: %v", l.WorkerNKey, err)
	}
	w := connectLocal(t, l.URL, key)
	ctx := t.Context()
	for _, cfg := range []jetstream.StreamConfig{contract.FetchStreamConfig(1), contract.EventsStreamConfig(contract.EventsStreamSettings{})} {
		if _, err := w.js.CreateOrUpdateStream(ctx, cfg); err != nil {
			t.Fatalf("worker creates stream %s: %v", cfg.Name, err)
		}
	}
	for _, c := range (jobs.Config{}).ConsumerConfigs() {
		if _, err := w.js.CreateOrUpdateConsumer(ctx, contract.FetchStream, c); err != nil {
			t.Fatalf("worker creates its consumer %s: %v", c.Durable, err)
		}
	}
	for _, subj := range []string{eventSubject, stateSubject} {
		if _, err := w.js.Publish(ctx, subj, []byte(`{"specversion":"1.0"}`)); err != nil {
			t.Fatalf("worker publishes %s: %v", subj, err)
		}
	}
	if err := w.violation(t); err != nil {
		t.Fatalf("worker refused: %v", err)
	}
	return l, dir
}

// TestLocalRoles: on the embedded default a client without credentials
// is a requester and a reader that may also follow the events (what
// cmd/skattekonto does), and nothing more.
func TestLocalRoles(t *testing.T) {
	l, _ := startLocal(t)
	orderedNext := func(filter string) func(context.Context, *client) error {
		return func(ctx context.Context, c *client) error {
			cons, err := c.js.OrderedConsumer(ctx, contract.EventsStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}})
			if err != nil {
				return err
			}
			m, err := cons.Next(jetstream.FetchContext(ctx))
			if err == nil && m.Subject() != eventSubject {
				return errors.New("read " + m.Subject())
			}
			return err
		}
	}
	createConsumer := func(filter string) func(context.Context, *client) error {
		return func(ctx context.Context, c *client) error {
			_, err := c.js.CreateConsumer(ctx, contract.EventsStream, jetstream.ConsumerConfig{FilterSubject: filter, AckPolicy: jetstream.AckNonePolicy})
			return err
		}
	}
	lastMsg := func(subj string) func(context.Context, *client) error {
		return func(ctx context.Context, c *client) error {
			st, err := c.js.Stream(ctx, contract.EventsStream)
			if err != nil {
				return err
			}
			_, err = st.GetLastMsgForSubject(ctx, subj)
			return err
		}
	}
	tests := []struct {
		name    string
		op      func(context.Context, *client) error
		allowed bool
	}{
		{"publishes a fetch request and gets its ack", func(ctx context.Context, c *client) error {
			_, err := c.js.Publish(ctx, contract.FetchSubject(acct), []byte(`{}`))
			return err
		}, true},
		{"sends a watch-list request", func(_ context.Context, c *client) error {
			return c.nc.PublishRequest(contract.WatchList, c.nc.NewRespInbox(), nil)
		}, true},
		{"asks for an SIE export", func(_ context.Context, c *client) error {
			return c.nc.PublishRequest(contract.SIEExport, c.nc.NewRespInbox(), nil)
		}, true},
		{"subscribes to the events (fetch -wait)", func(_ context.Context, c *client) error {
			_, err := c.nc.SubscribeSync(contract.AccountEvents(acct))
			return err
		}, true},
		{"follows all events (follow)", orderedNext(contract.EventsPrefix + ">"), true},
		{"follows an account's events (follow <omfragad>)", orderedNext(contract.AccountEvents(acct)), true},
		{"reads an account's last event (sie)", lastMsg(eventSubject), true},
		{"cannot read an account's state", lastMsg(stateSubject), false},
		{"cannot subscribe to the states", func(_ context.Context, c *client) error {
			_, err := c.nc.SubscribeSync(contract.StatePrefix + ">")
			return err
		}, false},
		{"cannot read the worker's replies", func(_ context.Context, c *client) error {
			_, err := c.nc.SubscribeSync("_INBOX.>")
			return err
		}, false},
		{"cannot create a consumer of the states", createConsumer(contract.StatePrefix + ">"), false},
		{"cannot create a consumer of the whole stream", createConsumer(""), false},
		{"cannot pull the worker's requests", func(ctx context.Context, c *client) error {
			cons, err := c.js.Consumer(ctx, contract.FetchStream, contract.PartitionConsumer(contract.Durable, 0))
			if err != nil {
				return err
			}
			_, err = cons.Next(jetstream.FetchContext(ctx))
			return err
		}, false},
		{"cannot publish an event", func(_ context.Context, c *client) error { return c.nc.Publish(eventSubject, []byte(`{}`)) }, false},
		{"cannot publish a state", func(_ context.Context, c *client) error { return c.nc.Publish(stateSubject, []byte(`{}`)) }, false},
		{"cannot throttle the workers", func(_ context.Context, c *client) error {
			return c.nc.Publish(contract.RateLimitPrefix+".throttle", []byte(`{}`))
		}, false},
		{"cannot answer watch-list requests", func(_ context.Context, c *client) error {
			_, err := c.nc.QueueSubscribeSync(contract.WatchList, "w")
			return err
		}, false},
		{"cannot delete the events stream", func(ctx context.Context, c *client) error {
			return c.js.DeleteStream(ctx, contract.EventsStream)
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := connectLocal(t, l.URL, nats.CustomInboxPrefix(LocalInboxPrefix))
			err := tt.op(c.ctx, c)
			violation := c.violation(t)
			switch {
			case tt.allowed && violation != nil:
				t.Fatalf("refused: %v", violation)
			case tt.allowed && err != nil:
				t.Fatalf("allowed, but failed: %v", err)
			case !tt.allowed && violation == nil:
				t.Fatalf("allowed (op returned %v), want a permissions violation", err)
			}
		})
	}
}

// TestLocalWorkerKey: the worker's seed is kept in the store directory
// for the owner alone, and a worker joining with the same store
// directory finds it.
func TestLocalWorkerKey(t *testing.T) {
	l, dir := startLocal(t)
	if want := filepath.Join(dir, WorkerKeyFile); l.WorkerNKey != want {
		t.Fatalf("WorkerNKey %q, want %q", l.WorkerNKey, want)
	}
	fi, err := os.Stat(l.WorkerNKey)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", WorkerKeyFile, fi.Mode().Perm())
	}
	joined, err := StartOrJoin(strings.TrimPrefix(l.URL, "nats://"), Config{StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if !joined.Joined || joined.WorkerNKey != l.WorkerNKey {
		t.Fatalf("joined %v with key %q, want joined with %q", joined.Joined, joined.WorkerNKey, l.WorkerNKey)
	}
	key, err := nats.NkeyOptionFromSeed(joined.WorkerNKey)
	if err != nil {
		t.Fatal(err)
	}
	w := connectLocal(t, joined.URL, key)
	if _, err := w.js.Stream(t.Context(), contract.FetchStream); err != nil {
		t.Errorf("joining worker opens the fetch stream: %v", err)
	}
}

// TestLocalWorkerRoleIsAuthConfs: the embedded worker is granted what
// deploy/nats/auth.conf grants the worker, plus creating its streams,
// and the anonymous clients what it grants the requester and the reader.
func TestLocalWorkerRoleIsAuthConfs(t *testing.T) {
	roles, err := Roles()
	if err != nil {
		t.Fatal(err)
	}
	worker, local, err := LocalPermissions()
	if err != nil {
		t.Fatal(err)
	}
	for _, sub := range roles[RoleWorker].Publish.Allow {
		if !slices.Contains(worker.Publish.Allow, sub) {
			t.Errorf("embedded worker may not publish %s", sub)
		}
	}
	for _, sub := range roles[RoleWorker].Subscribe.Allow {
		if !slices.Contains(worker.Subscribe.Allow, sub) {
			t.Errorf("embedded worker may not subscribe to %s", sub)
		}
	}
	if worker.Response == nil {
		t.Error("embedded worker may not answer requests")
	}
	for _, r := range []string{RoleRequester, RoleReader} {
		for _, sub := range roles[r].Publish.Allow {
			if !slices.Contains(local.Publish.Allow, sub) {
				t.Errorf("anonymous local client may not publish %s (%s)", sub, r)
			}
		}
		for _, sub := range roles[r].Subscribe.Allow {
			if !slices.Contains(local.Subscribe.Allow, sub) {
				t.Errorf("anonymous local client may not subscribe to %s (%s)", sub, r)
			}
		}
	}
	if local.Response != nil || slices.Contains(local.Subscribe.Allow, "_INBOX.>") || slices.Contains(local.Subscribe.Allow, ">") {
		t.Errorf("anonymous local client may answer requests or read the workers' replies: %+v", local)
	}
}

// TestRoleStreamCreateDocumented: docs/roles.md lists what the worker
// needs to create its streams, as the embedded server grants it.
func TestRoleStreamCreateDocumented(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "roles.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, s := range StreamCreateSubjects {
		if !strings.Contains(doc, `"`+s+`"`) {
			t.Errorf("docs/roles.md does not list %q", s)
		}
	}
}
