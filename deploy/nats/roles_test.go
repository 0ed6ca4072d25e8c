package natsconf

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/jobs"
	"github.com/skattekonto-events/skattekonto-events/internal/sim"
)

const (
	// acct is fetched; stored, an account whose state and event setUp
	// stores (not a state the worker could read).
	acct           = sim.DemoAB
	stored         = sim.DemoABInfo
	fetchSubject   = contract.FetchPrefix + acct
	stateSubject   = contract.StatePrefix + stored
	eventSubject   = contract.EventsPrefix + stored + ".FetchCompleted"
	throttle       = contract.RateLimitPrefix + ".throttle"
	readerConsumer = "reader" // auth.conf's reader and deploy/k8s's NACK consumer
	apiPrefix      = "$JS.API."
)

// workerDurable is the first partition's consumer of the workers.
var workerDurable = contract.PartitionConsumer(contract.Durable, 0)

// setUp creates what NACK creates in deploy/k8s (the two streams, the
// workers' consumer and the reader's), as the operator, and stores an
// account's state and one event.
func setUp(t *testing.T, op *client) {
	t.Helper()
	ctx := t.Context()
	for _, cfg := range []jetstream.StreamConfig{contract.FetchStreamConfig(1), contract.EventsStreamConfig(contract.EventsStreamSettings{})} {
		if _, err := op.js.CreateStream(ctx, cfg); err != nil {
			t.Fatalf("operator creates stream %s: %v", cfg.Name, err)
		}
	}
	for _, c := range (jobs.Config{}).ConsumerConfigs() {
		if _, err := op.js.CreateConsumer(ctx, contract.FetchStream, c); err != nil {
			t.Fatalf("operator creates the workers' consumer %s: %v", c.Durable, err)
		}
	}
	if _, err := op.js.CreateConsumer(ctx, contract.EventsStream, jetstream.ConsumerConfig{
		Durable:       readerConsumer,
		FilterSubject: contract.EventsPrefix + ">",
		AckPolicy:     jetstream.AckExplicitPolicy,
	}); err != nil {
		t.Fatalf("operator creates the reader's consumer: %v", err)
	}
	for subj, body := range map[string]string{stateSubject: `{"state":true}`, eventSubject: `{"event":true}`} {
		if _, err := op.js.Publish(ctx, subj, []byte(body)); err != nil {
			t.Fatalf("operator publishes %s: %v", subj, err)
		}
	}
}

// op is one thing a role tries. It gets the client's context, which ends
// when the server refuses something.
type op func(ctx context.Context, c *client) error

func publish(subj string) op {
	return func(_ context.Context, c *client) error { return c.nc.Publish(subj, []byte("{}")) }
}

func jsPublish(subj string) op {
	return func(ctx context.Context, c *client) error {
		_, err := c.js.Publish(ctx, subj, []byte("{}"))
		return err
	}
}

func subscribe(subj string) op {
	return func(_ context.Context, c *client) error {
		_, err := c.nc.SubscribeSync(subj)
		return err
	}
}

// request sends a request the way the JetStream API is called.
func request(subj string) op {
	return func(ctx context.Context, c *client) error {
		_, err := c.nc.RequestWithContext(ctx, subj, []byte("{}"))
		return err
	}
}

func createConsumer(cfg jetstream.ConsumerConfig) op {
	return func(ctx context.Context, c *client) error {
		_, err := c.js.CreateConsumer(ctx, contract.EventsStream, cfg)
		return err
	}
}

// The audit bucket's stream, an answer TestRoles keeps in it and the
// subject of that answer's metadata.
const (
	auditStream = "OBJ_" + contract.AuditBucket
	auditAnswer = "kept-answer"
	auditMeta   = "$O." + contract.AuditBucket + ".M.a2VwdC1hbnN3ZXI=" // base64url of auditAnswer
)

// auditOp opens the audit bucket and does something with it.
func auditOp(f func(ctx context.Context, obj jetstream.ObjectStore) error) op {
	return func(ctx context.Context, c *client) error {
		obj, err := c.js.ObjectStore(ctx, contract.AuditBucket)
		if err != nil {
			return err
		}
		return f(ctx, obj)
	}
}

// auditCannot is what a role without the audit bucket cannot do: the kept
// answers hold personal data.
func auditCannot() []struct {
	name string
	op   op
} {
	return []struct {
		name string
		op   op
	}{
		{"cannot read the audit bucket's messages", subscribe("$O." + contract.AuditBucket + ".>")},
		{"cannot open the audit bucket", request(apiPrefix + "STREAM.INFO." + auditStream)},
		{"cannot get a kept answer's metadata", request(apiPrefix + "DIRECT.GET." + auditStream + "." + auditMeta)},
		{"cannot get an audit message by sequence", request(apiPrefix + "DIRECT.GET." + auditStream)},
		{"cannot get an audit message", request(apiPrefix + "STREAM.MSG.GET." + auditStream)},
		{"cannot create a consumer of the audit bucket", request(apiPrefix + "CONSUMER.CREATE." + auditStream + ".mine.$O." + contract.AuditBucket + ".>")},
		{"cannot write into the audit bucket", jsPublish("$O." + contract.AuditBucket + ".C.forged")},
		{"cannot purge the audit bucket", request(apiPrefix + "STREAM.PURGE." + auditStream)},
	}
}

func TestRoles(t *testing.T) {
	ts := startServer(t)
	opc := ts.connect(t, operator)
	setUp(t, opc)
	// The audit bucket as NACK makes it, with one kept answer.
	obj, err := opc.js.CreateObjectStore(t.Context(), auditFromNACK(t))
	if err != nil {
		t.Fatalf("operator creates the audit bucket: %v", err)
	}
	if _, err := obj.PutBytes(t.Context(), auditAnswer, []byte(`{"answer":true}`)); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		role    string
		name    string
		op      op
		allowed bool
	}{
		{requester, "publishes a fetch request and gets its ack", func(ctx context.Context, c *client) error {
			ack, err := c.js.Publish(ctx, fetchSubject, []byte(`{"requestId":"roles"}`))
			if err == nil && ack.Stream != contract.FetchStream {
				return errors.New("acknowledged by stream " + ack.Stream)
			}
			return err
		}, true},
		{requester, "sends a watch-list request", func(_ context.Context, c *client) error {
			return c.nc.PublishRequest(contract.WatchList, c.nc.NewRespInbox(), nil)
		}, true},
		{requester, "cannot read account states", subscribe(contract.StatePrefix + ">"), false},
		{requester, "cannot get an account's state", request(apiPrefix + "DIRECT.GET." + contract.EventsStream + "." + stateSubject), false},
		{requester, "cannot read events", subscribe(contract.EventsPrefix + ">"), false},
		{requester, "cannot read the workers' replies", subscribe("_INBOX.>"), false},
		{requester, "cannot answer watch-list requests", subscribe(contract.WatchPrefix + "*"), false},
		{requester, "cannot publish a schedule", jsPublish(contract.SchedulePrefix + acct + ".every"), false},
		{requester, "cannot publish a throttle", publish(throttle), false},
		{requester, "cannot publish an event", jsPublish(eventSubject), false},
		{requester, "cannot pull the workers' requests", request(apiPrefix + "CONSUMER.MSG.NEXT." + contract.FetchStream + "." + workerDurable), false},
		{requester, "cannot ask for an SIE export", publish(contract.SIEExport), false},
		{requester, "cannot create a consumer", createConsumer(jetstream.ConsumerConfig{Durable: "mine", FilterSubject: contract.EventsPrefix + ">"}), false},

		{reader, "reads and acks an event through its consumer", func(ctx context.Context, c *client) error {
			cons, err := c.js.Consumer(ctx, contract.EventsStream, readerConsumer)
			if err != nil {
				return err
			}
			m, err := cons.Next(jetstream.FetchContext(ctx))
			if err != nil {
				return err
			}
			if m.Subject() != eventSubject {
				return errors.New("read " + m.Subject())
			}
			return m.DoubleAck(ctx)
		}, true},
		{reader, "asks for an SIE export", func(_ context.Context, c *client) error {
			return c.nc.PublishRequest(contract.SIEExport, c.nc.NewRespInbox(), []byte("{}"))
		}, true},
		{reader, "cannot answer SIE export requests", subscribe(contract.SIEExport), false},
		{reader, "cannot publish a fetch request", jsPublish(fetchSubject), false},
		{reader, "cannot publish a watch-list request", publish(contract.WatchRegister), false},
		{reader, "cannot publish a throttle", publish(throttle), false},
		{reader, "cannot publish a presence", publish(contract.RateLimitPrefix + ".presence"), false},
		{reader, "cannot publish a state", jsPublish(contract.StatePrefix + "X"), false},
		{reader, "cannot publish an event", jsPublish(eventSubject), false},
		{reader, "cannot read account states", subscribe(contract.StatePrefix + ">"), false},
		{reader, "cannot get an account's state", request(apiPrefix + "DIRECT.GET." + contract.EventsStream + "." + stateSubject), false},
		{reader, "cannot get a message by sequence", request(apiPrefix + "DIRECT.GET." + contract.EventsStream), false},
		{reader, "cannot read events past its consumer", subscribe(contract.EventsPrefix + ">"), false},
		{reader, "cannot read the workers' replies", subscribe("_INBOX.>"), false},
		{reader, "cannot create a consumer", createConsumer(jetstream.ConsumerConfig{Durable: "mine", FilterSubject: contract.EventsPrefix + ">"}), false},
		{reader, "cannot create a consumer of states", createConsumer(jetstream.ConsumerConfig{Durable: "states", FilterSubject: contract.StatePrefix + ">"}), false},
		{reader, "cannot create a push consumer into the throttle", createConsumer(jetstream.ConsumerConfig{
			Durable: "push", FilterSubject: contract.EventsPrefix + ">", DeliverSubject: throttle,
		}), false},
		{reader, "cannot pull from another reader's consumer", request(apiPrefix + "CONSUMER.MSG.NEXT." + contract.EventsStream + ".other"), false},
		{reader, "cannot pull the workers' requests", request(apiPrefix + "CONSUMER.MSG.NEXT." + contract.FetchStream + "." + workerDurable), false},
		{reader, "cannot delete its consumer", request(apiPrefix + "CONSUMER.DELETE." + contract.EventsStream + "." + readerConsumer), false},

		{worker, "gets an account's state", func(ctx context.Context, c *client) error {
			st, err := c.js.Stream(ctx, contract.EventsStream)
			if err != nil {
				return err
			}
			_, err = st.GetLastMsgForSubject(ctx, stateSubject)
			return err
		}, true},
		{worker, "cannot delete the events stream", func(ctx context.Context, c *client) error {
			return c.js.DeleteStream(ctx, contract.EventsStream)
		}, false},
		{worker, "cannot change the events stream", func(ctx context.Context, c *client) error {
			cfg := contract.EventsStreamConfig(contract.EventsStreamSettings{})
			cfg.MaxAge = time.Second
			_, err := c.js.UpdateStream(ctx, cfg)
			return err
		}, false},
		{worker, "cannot purge the events stream", request(apiPrefix + "STREAM.PURGE." + contract.EventsStream), false},
		{worker, "cannot delete an event", request(apiPrefix + "STREAM.MSG.DELETE." + contract.EventsStream), false},
		{worker, "cannot create a consumer of every event", createConsumer(jetstream.ConsumerConfig{Durable: "w", FilterSubject: contract.EventsPrefix + ">"}), false},
		{worker, "cannot create a consumer of states", createConsumer(jetstream.ConsumerConfig{Durable: "w", FilterSubject: contract.StatePrefix + ">"}), false},
		{worker, "cannot delete the reader's consumer", request(apiPrefix + "CONSUMER.DELETE." + contract.EventsStream + "." + readerConsumer), false},
		{worker, "cannot ask for an SIE export", publish(contract.SIEExport), false},

		{worker, "keeps answers, looks them up and replaces one", auditOp(func(ctx context.Context, obj jetstream.ObjectStore) error {
			for range 2 { // the second Put purges the first one's chunks
				if _, err := obj.PutBytes(ctx, "worker-answer", []byte(`{"kept":true}`)); err != nil {
					return err
				}
			}
			_, err := obj.GetInfo(ctx, auditAnswer)
			return err
		}), true},
		{worker, "cannot read a kept answer", auditOp(func(ctx context.Context, obj jetstream.ObjectStore) error {
			_, err := obj.GetBytes(ctx, auditAnswer)
			return err
		}), false},
		{worker, "cannot delete the audit bucket", func(ctx context.Context, c *client) error {
			return c.js.DeleteObjectStore(ctx, contract.AuditBucket)
		}, false},
		{worker, "cannot change the audit bucket", func(ctx context.Context, c *client) error {
			cfg := auditFromNACK(t)
			cfg.TTL = time.Second
			_, err := c.js.UpdateObjectStore(ctx, cfg)
			return err
		}, false},

		{operator, "reads account states", subscribe(contract.StatePrefix + ">"), true},
		{operator, "reads a kept answer", auditOp(func(ctx context.Context, obj jetstream.ObjectStore) error {
			_, err := obj.GetBytes(ctx, auditAnswer)
			return err
		}), true},
	}
	for _, role := range []string{requester, reader} {
		for _, c := range auditCannot() {
			tests = append(tests, struct {
				role    string
				name    string
				op      op
				allowed bool
			}{role, c.name, c.op, false})
		}
	}
	for _, tt := range tests {
		t.Run(tt.role+"/"+tt.name, func(t *testing.T) {
			c := ts.connect(t, tt.role)
			// A bound for a server that neither answers nor refuses.
			ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
			defer cancel()
			err := tt.op(ctx, c)
			violation := c.violation(t)
			switch {
			case tt.allowed && violation != nil:
				t.Fatalf("refused: %v", violation)
			case tt.allowed && err != nil:
				t.Fatalf("allowed, but failed: %v", err)
			case !tt.allowed && violation == nil:
				t.Fatalf("allowed (op returned %v), want a permissions violation", err)
			case !tt.allowed && errors.Is(err, context.DeadlineExceeded):
				t.Fatalf("the server did not answer in time: %v", err)
			}
		})
	}
}

// TestConsumerCreationPublishes shows why only the operator creates
// consumers: whoever may create one may point a push consumer's delivery
// at any subject, and the server then publishes the stream's messages
// there for them, past their own publish permissions. Here the events land
// on the workers' throttle subject.
func TestConsumerCreationPublishes(t *testing.T) {
	ts := startServer(t)
	op := ts.connect(t, operator)
	setUp(t, op)
	w := ts.connect(t, worker)
	throttled, err := w.nc.SubscribeSync(throttle)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := op.js.CreateConsumer(t.Context(), contract.EventsStream, jetstream.ConsumerConfig{
		Durable: "push", FilterSubject: contract.EventsPrefix + ">", DeliverSubject: throttle, AckPolicy: jetstream.AckNonePolicy,
	}); err != nil {
		t.Fatal(err)
	}
	m, err := throttled.NextMsgWithContext(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Header.Get(nats.MsgIdHdr); got != "" || string(m.Data) != `{"event":true}` {
		t.Fatalf("throttle subject got %q (msg id %q), want the stored event", m.Data, got)
	}
}
