package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/events"
	"github.com/skattekonto-events/skattekonto-events/internal/natstest"
	"github.com/skattekonto-events/skattekonto-events/schemas"
)

// publishMixed stores n events, alternating two accounts and two types,
// and returns their ids in the order stored.
func (e *env) publishMixed(n int) []string {
	var ids []string
	for i := range n {
		acct := []string{acct1, acct2}[i%2]
		typ := []events.Type{events.TypeNewTransaction, events.TypeNewTransaction, events.TypeBalanceChanged}[i%3]
		ids = append(ids, e.publish(acct, typ, i))
	}
	return ids
}

// TestDeliversEveryEventInOrder: each endpoint receives what its subjects
// select, in the order stored (so in order per account) though two
// replicas deliver, each body exactly as stored, verified with the
// official library.
func TestDeliversEveryEventInOrder(t *testing.T) {
	e := newEnv(t)
	all, tx := newReceiver(t, secretA), newReceiver(t, secretB)
	e.write(spec{Name: "erp", URL: all.srv.URL + "/hooks?token=abc", Secret: secretA},
		spec{Name: "tx", URL: tx.srv.URL, Secret: secretB, Subjects: []string{"skattekonto.events.*.NewTransaction"}})
	d := e.start(nil)
	_, js2 := natstest.Connect(t, e.srv)
	e.start(js2)
	if got := d.Endpoints(); !slices.Equal(got, []string{"erp", "tx"}) {
		t.Fatalf("endpoints: got %v", got)
	}
	ids := e.publishMixed(30)
	var txIDs []string
	for i, id := range ids {
		if i%3 != 2 {
			txIDs = append(txIDs, id)
		}
	}
	waitFor(t, "every event at erp", func() bool { return len(all.ids()) == len(ids) })
	waitFor(t, "the transactions at tx", func() bool { return len(tx.ids()) == len(txIDs) })
	if got := all.ids(); !slices.Equal(got, ids) {
		t.Errorf("erp: got\n%v\nwant\n%v", got, ids)
	}
	if got := tx.ids(); !slices.Equal(got, txIDs) {
		t.Errorf("tx: got\n%v\nwant\n%v", got, txIDs)
	}
	perAccount := map[string][]string{}
	for _, dl := range all.deliveries() {
		if want := e.stored(dl.id); string(dl.body) != string(want) {
			t.Errorf("%s: body\n%s\nis not the stored\n%s", dl.id, dl.body, want)
		}
		perAccount[account(t, dl.body)] = append(perAccount[account(t, dl.body)], dl.id)
	}
	for i, acct := range []string{acct1, acct2} {
		var want []string
		for j := i; j < len(ids); j += 2 {
			want = append(want, ids[j])
		}
		if !slices.Equal(perAccount[acct], want) {
			t.Errorf("account %s: got %v, want %v", acct, perAccount[acct], want)
		}
	}
	if got := e.counter("skattekonto_webhook_deliveries_total", map[string]string{"endpoint": "erp", "result": "ok"}); got < 30 {
		t.Errorf("ok attempts of erp: got %v, want at least 30", got)
	}
}

// TestFailingEndpointCatchesUp: an endpoint that fails its first answers
// gets every event, in order, once it answers 2xx.
func TestFailingEndpointCatchesUp(t *testing.T) {
	e := newEnv(t)
	r := newReceiver(t, secretA)
	r.answer = func(n int, _ delivery) int {
		switch n {
		case 1:
			return http.StatusInternalServerError
		case 2:
			return http.StatusTooManyRequests
		}
		return http.StatusOK
	}
	e.write(spec{Name: "erp", URL: r.srv.URL, Secret: secretA})
	e.start(nil)
	ids := e.publishMixed(6)
	waitFor(t, "every event", func() bool { return len(r.ids()) == len(ids) })
	if got := r.ids(); !slices.Equal(got, ids) {
		t.Errorf("got\n%v\nwant\n%v", got, ids)
	}
	if attempts, accepted := r.count(); attempts != len(ids)+2 || accepted != len(ids) {
		t.Errorf("attempts %d accepted %d, want %d and %d", attempts, accepted, len(ids)+2, len(ids))
	}
	for result, want := range map[string]float64{"server_error": 1, "client_error": 1, "ok": 6} {
		if got := e.counter("skattekonto_webhook_deliveries_total", map[string]string{"endpoint": "erp", "result": result}); got != want {
			t.Errorf("%s attempts: got %v, want %v", result, got, want)
		}
	}
}

// TestDownEndpointDelaysNoOther: one endpoint is down for the whole run;
// the other receives everything, and the down one's events wait in its
// own consumer.
func TestDownEndpointDelaysNoOther(t *testing.T) {
	e := newEnv(t)
	up := newReceiver(t, secretA)
	e.write(spec{Name: "down", URL: closedURL(t), Secret: secretB}, spec{Name: "up", URL: up.srv.URL, Secret: secretA})
	e.start(nil)
	ids := e.publishMixed(12)
	waitFor(t, "every event at up", func() bool { return len(up.ids()) == len(ids) })
	if got := up.ids(); !slices.Equal(got, ids) {
		t.Errorf("up: got %v, want %v", got, ids)
	}
	waitFor(t, "an attempt at down", func() bool {
		return e.counter("skattekonto_webhook_deliveries_total", map[string]string{"endpoint": "down", "result": "unreachable"}) > 0
	})
	c, err := e.js.Consumer(context.Background(), contract.EventsStream, contract.WebhookConsumer("down"))
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.NumAckPending != 1 || info.NumPending != uint64(len(ids)-1) || info.Delivered.Stream != info.AckFloor.Stream+1 {
		t.Errorf("down's consumer: %d pending, %d ack pending, delivered %d, ack floor %d; want %d, 1, the first",
			info.NumPending, info.NumAckPending, info.Delivered.Stream, info.AckFloor.Stream, len(ids)-1)
	}
}

// TestDeadLetters: an endpoint that never answers 2xx gets each event
// until it is maxAge old; then the event goes to the dead letters with the
// last error, the endpoint moves on, and one AccessProblem (webhook-failing)
// says so that day, though two replicas deliver.
func TestDeadLetters(t *testing.T) {
	e := newEnv(t)
	failing, watcher := newReceiver(t, secretA), newReceiver(t, secretB)
	var healthy sync.Map
	failing.answer = func(_ int, d delivery) int {
		if _, ok := healthy.Load("yes"); ok {
			return 200
		}
		return http.StatusBadGateway
	}
	e.write(spec{Name: "erp", URL: failing.srv.URL + "/in?token=QUERYSECRET", Secret: secretA, MaxAge: "2s",
		Subjects: []string{"skattekonto.events.*.NewTransaction"}},
		spec{Name: "ops", URL: watcher.srv.URL, Secret: secretB, Subjects: []string{"skattekonto.events.service.AccessProblem"}})
	_, js2 := natstest.Connect(t, e.srv)
	e.start(nil)
	e.start(js2)
	ids := []string{e.publish(acct1, events.TypeNewTransaction, 1), e.publish(acct2, events.TypeNewTransaction, 2)}

	dlq, err := e.js.Stream(context.Background(), contract.WebhooksStream)
	if err != nil {
		t.Fatal(err)
	}
	var dead []*jetstream.RawStreamMsg
	waitFor(t, "two dead letters", func() bool {
		dead = deadLetters(t, dlq, "erp")
		return len(dead) == 2
	})
	for i, m := range dead {
		if got := m.Header.Get(HeaderDeadEndpoint); got != "erp" {
			t.Errorf("dead letter %d: endpoint %q", i, got)
		}
		if got := m.Header.Get(HeaderDeadError); !strings.Contains(got, "502") || strings.Contains(got, "QUERYSECRET") {
			t.Errorf("dead letter %d: last error %q", i, got)
		}
		if n, err := strconv.Atoi(m.Header.Get(HeaderDeadAttempts)); err != nil || n < 1 {
			t.Errorf("dead letter %d: attempts %q", i, m.Header.Get(HeaderDeadAttempts))
		}
		if got := m.Header.Get(HeaderDeadSubject); got != contract.EventSubject([]string{acct1, acct2}[i], "NewTransaction") {
			t.Errorf("dead letter %d: subject %q", i, got)
		}
		if string(m.Data) != string(e.stored(ids[i])) {
			t.Errorf("dead letter %d: body is not the stored event", i)
		}
	}
	if got := e.counter("skattekonto_webhook_dead_letters_total", map[string]string{"endpoint": "erp"}); got != 2 {
		t.Errorf("dead letters metric: got %v, want 2", got)
	}

	// The report reached the endpoint that watches for it, once.
	waitFor(t, "the failing report", func() bool { return len(watcher.ids()) == 1 })
	report := watcher.deliveries()[0]
	v, err := schemas.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	if err := v.ValidateEvent(report.body); err != nil {
		t.Errorf("report does not validate: %v\n%s", err, report.body)
	}
	var ev struct {
		Subject string               `json:"subject"`
		Data    events.AccessProblem `json:"data"`
	}
	if err := json.Unmarshal(report.body, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Subject != contract.ServiceToken || ev.Data.Kind != ProblemWebhookFailing || !strings.Contains(ev.Data.Detail, "erp") ||
		strings.Contains(ev.Data.Detail, "QUERYSECRET") || !strings.Contains(ev.Data.Detail, contract.WebhookDeadSubject("erp")) {
		t.Errorf("report: %+v", ev)
	}

	// Healthy again: the next event is delivered.
	healthy.Store("yes", true)
	next := e.publish(acct1, events.TypeNewTransaction, 3)
	waitFor(t, "the next event", func() bool { return slices.Contains(failing.ids(), next) })
	if got := failing.ids(); !slices.Equal(got, []string{next}) {
		t.Errorf("accepted %v, want only %s", got, next)
	}
	if got := len(deadLetters(t, dlq, "erp")); got != 2 {
		t.Errorf("dead letters: got %d, want 2", got)
	}
	if got := len(watcher.ids()); got != 1 {
		t.Errorf("failing reports: got %d, want 1 a day", got)
	}
}

// deadLetters reads endpoint's dead letters.
func deadLetters(t *testing.T, s jetstream.Stream, endpoint string) []*jetstream.RawStreamMsg {
	t.Helper()
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(context.Background(), seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if m.Subject == contract.WebhookDeadSubject(endpoint) {
			out = append(out, m)
		}
	}
	return out
}

// TestStoppedMidDelivery: a deliverer stopped during an attempt finishes
// and settles it; the next one goes on from the following event.
func TestStoppedMidDelivery(t *testing.T) {
	e := newEnv(t)
	r := newReceiver(t, secretA)
	inside, release := make(chan struct{}), make(chan struct{})
	r.answer = func(n int, _ delivery) int {
		if n == 1 {
			close(inside)
			<-release
		}
		return 200
	}
	e.write(spec{Name: "erp", URL: r.srv.URL, Secret: secretA})
	d1 := e.start(nil)
	ids := e.publishMixed(5)
	<-inside
	stopped := make(chan struct{})
	go func() {
		d1.Stop()
		close(stopped)
	}()
	close(release)
	<-stopped
	e.start(nil)
	waitFor(t, "every event", func() bool { return len(r.ids()) == len(ids) })
	if got := r.ids(); !slices.Equal(got, ids) {
		t.Errorf("got %v, want %v", got, ids)
	}
}

// TestKilledMidDelivery: a worker dies (its NATS connection gone) while
// the endpoint holds an attempt; another worker delivers that event again
// after the ack wait and then the rest. The receiver, de-duplicating by
// webhook-id, has each event at least once and none skipped, in order.
func TestKilledMidDelivery(t *testing.T) {
	e := newEnv(t)
	r := newReceiver(t, secretA)
	inside, release := make(chan struct{}), make(chan struct{})
	r.answer = func(n int, _ delivery) int {
		if n == 1 {
			close(inside)
			<-release
		}
		return 200
	}
	e.write(spec{Name: "erp", URL: r.srv.URL, Secret: secretA, Timeout: "1s"})
	ncA, jsA := natstest.Connect(t, e.srv)
	e.start(jsA)
	ids := e.publishMixed(5)
	<-inside
	ncA.Close() // the worker is gone: its ack can never come
	close(release)
	e.start(nil)
	waitFor(t, "every event", func() bool { return len(r.ids()) == len(ids) })
	if got := r.ids(); !slices.Equal(got, ids) {
		t.Errorf("got %v, want %v", got, ids)
	}
	n := 0
	for _, d := range r.deliveries() {
		if d.id == ids[0] {
			n++
		}
	}
	if n != 2 {
		t.Errorf("the event under way when the worker died was accepted %d times, want 2 (again after the ack wait)", n)
	}
}

// TestFileReload: endpoints added, changed and removed in the file take
// effect without a restart; an invalid file is logged and changes nothing.
func TestFileReload(t *testing.T) {
	e := newEnv(t)
	a, b := newReceiver(t, secretA), newReceiver(t, secretA)
	// A consumer left by an endpoint removed while no worker ran.
	if _, err := e.js.CreateOrUpdateConsumer(context.Background(), contract.EventsStream, jetstream.ConsumerConfig{Durable: "webhook-gone"}); err != nil {
		t.Fatal(err)
	}
	e.write(spec{Name: "a", URL: a.srv.URL, Secret: secretA})
	d := e.start(nil)
	if _, err := e.js.Consumer(context.Background(), contract.EventsStream, "webhook-gone"); !errors.Is(err, jetstream.ErrConsumerNotFound) {
		t.Errorf("orphan consumer: got %v, want it removed", err)
	}
	first := e.publish(acct1, events.TypeNewTransaction, 1)
	waitFor(t, "the first event at a", func() bool { return len(a.ids()) == 1 })

	// Add b.
	e.write(spec{Name: "a", URL: a.srv.URL, Secret: secretA}, spec{Name: "b", URL: b.srv.URL, Secret: secretA})
	waitFor(t, "b added", func() bool { return slices.Equal(d.Endpoints(), []string{"a", "b"}) })
	second := e.publish(acct1, events.TypeNewTransaction, 2)
	waitFor(t, "the second event at a and b", func() bool { return len(a.ids()) == 2 && len(b.ids()) == 1 })
	if got := b.ids(); !slices.Equal(got, []string{second}) {
		t.Errorf("b: got %v, want only the event stored after it was added", got)
	}

	// Change b's secret (and the receiver's): the new one signs.
	b.setSecret(secretB)
	e.write(spec{Name: "a", URL: a.srv.URL, Secret: secretA}, spec{Name: "b", URL: b.srv.URL, Secret: secretB})
	waitFor(t, "b restarted", func() bool { return startsOf(e.logs.String(), "b") == 2 })
	third := e.publish(acct1, events.TypeNewTransaction, 3)
	waitFor(t, "the third event at b", func() bool { return slices.Contains(b.ids(), third) })

	// Remove a: it stops, and its consumer goes.
	e.write(spec{Name: "b", URL: b.srv.URL, Secret: secretB})
	waitFor(t, "a removed", func() bool { return slices.Equal(d.Endpoints(), []string{"b"}) })
	if _, err := e.js.Consumer(context.Background(), contract.EventsStream, contract.WebhookConsumer("a")); !errors.Is(err, jetstream.ErrConsumerNotFound) {
		t.Errorf("a's consumer: got %v, want it removed", err)
	}

	// An invalid file: logged, naming the endpoint; nothing changes.
	e.writeRaw([]byte(`{"endpoints": [{"name": "b", "url": "http://erp.example/", "secret": "` + secretB + `"}]}`))
	waitFor(t, "the invalid file logged", func() bool { return strings.Contains(e.logs.String(), "webhooks file not applied") })
	if !strings.Contains(e.logs.String(), "endpoint b: url") {
		t.Errorf("log does not name the endpoint and field:\n%s", e.logs)
	}
	fourth := e.publish(acct1, events.TypeNewTransaction, 4)
	waitFor(t, "the fourth event at b", func() bool { return slices.Contains(b.ids(), fourth) })
	if got := d.Endpoints(); !slices.Equal(got, []string{"b"}) {
		t.Errorf("endpoints after an invalid file: %v", got)
	}
	if got := a.ids(); !slices.Equal(got, []string{first, second, third}) {
		t.Errorf("a: got %v, want the events stored before it was removed", got)
	}
}

// startsOf counts the log lines that say endpoint started delivering.
func startsOf(logs, endpoint string) int {
	n := 0
	for line := range strings.SplitSeq(logs, "\n") {
		if strings.Contains(line, "webhook endpoint delivering") && strings.Contains(line, `"name":"`+endpoint+`"`) {
			n++
		}
	}
	return n
}

// TestSecretsNeverReachTheLogs runs failures of every kind with debug
// logging and greps the logs for the secrets and the URLs' queries.
func TestSecretsNeverReachTheLogs(t *testing.T) {
	e := newEnv(t)
	r := newReceiver(t, secretA)
	r.answer = func(int, delivery) int { return http.StatusInternalServerError }
	e.write(spec{Name: "erp", URL: "http://user:PASSWORDX@" + strings.TrimPrefix(r.srv.URL, "http://") + "/in?token=QUERYSECRET", Secret: secretA, MaxAge: "1s"},
		spec{Name: "down", URL: closedURL(t) + "?sig=QUERYSECRET", Secret: secretB, MaxAge: "1s", Timeout: "1s"})
	e.start(nil)
	e.publish(acct1, events.TypeNewTransaction, 1)
	waitFor(t, "dead letters at both", func() bool {
		return e.counter("skattekonto_webhook_dead_letters_total", map[string]string{"endpoint": "erp"}) > 0 &&
			e.counter("skattekonto_webhook_dead_letters_total", map[string]string{"endpoint": "down"}) > 0
	})
	// A file with a bad secret and a remote plain-http URL with a query.
	e.writeRaw([]byte(`{"endpoints": [{"name": "erp", "url": "http://erp.example/in?token=QUERYSECRET", "secret": "whsec_QUERYSECRETnotbase64!"}]}`))
	waitFor(t, "the invalid file logged", func() bool { return strings.Contains(e.logs.String(), "webhooks file not applied") })
	logs := e.logs.String()
	for _, secret := range []string{secretA, secretB, strings.TrimPrefix(secretA, SecretPrefix), strings.TrimPrefix(secretB, SecretPrefix),
		"skattekonto-test-secret", "QUERYSECRET", "PASSWORDX", "token="} {
		if strings.Contains(logs, secret) {
			t.Errorf("the logs show %q", secret)
		}
	}
	for _, want := range []string{`"endpoint":"erp"`, `"target":"http://` + strings.TrimPrefix(r.srv.URL, "http://") + `/in"`, "webhook attempt failed", "moved to the dead letters"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the logs lack %s", want)
		}
	}
}

func TestStartErrors(t *testing.T) {
	e := newEnv(t)
	e.write(spec{Name: "erp", URL: "http://erp.example/", Secret: secretA})
	if _, err := Start(context.Background(), e.js, Config{File: e.file}); !errors.Is(err, ErrURL) {
		t.Errorf("invalid file: got %v", err)
	}
	e.write(spec{Name: "erp", URL: "https://erp.example/", Secret: secretA})
	if _, err := Start(context.Background(), e.js, Config{File: e.file, NoCreate: true}); !errors.Is(err, jetstream.ErrStreamNotFound) ||
		!strings.Contains(err.Error(), contract.WebhooksStream) {
		t.Errorf("no dead-letter stream: got %v", err)
	}
	if _, err := Start(context.Background(), e.js, Config{}); err == nil {
		t.Error("started without a file")
	}
}

// TestOperatorManagedConsumers: with NoCreate (STREAMS_AUTO_CREATE=false)
// the worker creates and deletes nothing: it waits for the operator's
// consumer, delivers through it, and leaves it when the endpoint goes.
func TestOperatorManagedConsumers(t *testing.T) {
	e := newEnv(t)
	r := newReceiver(t, secretA)
	if _, err := e.js.CreateOrUpdateStream(context.Background(), contract.WebhooksStreamConfig(1)); err != nil {
		t.Fatal(err)
	}
	e.write(spec{Name: "erp", URL: r.srv.URL, Secret: secretA})
	d, err := Start(context.Background(), e.js, Config{File: e.file, NoCreate: true, Reload: 100 * time.Millisecond, Logger: zerolog.New(e.logs)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	if got := d.Endpoints(); len(got) != 0 {
		t.Errorf("endpoints without their consumer: %v", got)
	}
	if !strings.Contains(e.logs.String(), "the operator creates it") {
		t.Errorf("the missing consumer is not logged:\n%s", e.logs)
	}
	if _, err := e.js.Consumer(context.Background(), contract.EventsStream, contract.WebhookConsumer("erp")); !errors.Is(err, jetstream.ErrConsumerNotFound) {
		t.Fatalf("the worker made the consumer: %v", err)
	}
	// The operator makes it as docs/webhooks.md says, and the endpoint
	// starts at the next read of the file.
	eps, err := LoadFile(e.file, Defaults{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := consumerConfig(&eps[0])
	if _, err := e.js.CreateOrUpdateConsumer(context.Background(), contract.EventsStream, cfg); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "erp started", func() bool { return slices.Equal(d.Endpoints(), []string{"erp"}) })
	id := e.publish(acct1, events.TypeNewTransaction, 1)
	waitFor(t, "the event delivered", func() bool { return slices.Equal(r.ids(), []string{id}) })
	if strings.Contains(e.logs.String(), "differs from what the endpoint needs") {
		t.Errorf("warned about the consumer made as documented:\n%s", e.logs)
	}
	// Removed from the file: it stops, and the consumer stays.
	e.writeRaw([]byte(`{"endpoints": []}`))
	waitFor(t, "erp removed", func() bool { return len(d.Endpoints()) == 0 })
	if _, err := e.js.Consumer(context.Background(), contract.EventsStream, contract.WebhookConsumer("erp")); err != nil {
		t.Errorf("the operator's consumer: %v", err)
	}
}

func TestConsumerDiff(t *testing.T) {
	want := consumerConfig(&Endpoint{Name: "erp", Subjects: []string{"skattekonto.events.*.A", "skattekonto.events.*.B"}, Timeout: time.Second})
	for _, tc := range []struct {
		name string
		edit func(*jetstream.ConsumerConfig)
		want string // a substring; "" for no difference
	}{
		{"same", func(*jetstream.ConsumerConfig) {}, ""},
		{"subjects in another order", func(c *jetstream.ConsumerConfig) {
			c.FilterSubjects = []string{"skattekonto.events.*.B", "skattekonto.events.*.A"}
		}, ""},
		{"other subjects", func(c *jetstream.ConsumerConfig) { c.FilterSubjects = []string{"skattekonto.events.>"} }, "filter subjects"},
		{"one filter subject", func(c *jetstream.ConsumerConfig) { c.FilterSubjects, c.FilterSubject = nil, "skattekonto.events.*.A" }, "filter subjects"},
		{"more in flight", func(c *jetstream.ConsumerConfig) { c.MaxAckPending = 1000 }, "the order"},
		{"no acks", func(c *jetstream.ConsumerConfig) { c.AckPolicy = jetstream.AckNonePolicy }, "ack policy"},
		{"max deliver", func(c *jetstream.ConsumerConfig) { c.MaxDeliver = 5 }, "max deliver"},
		{"ack wait within the timeout", func(c *jetstream.ConsumerConfig) { c.AckWait = time.Second }, "ack wait"},
	} {
		got := want
		got.FilterSubjects = slices.Clone(want.FilterSubjects)
		tc.edit(&got)
		diff := consumerDiff(got, want)
		if (tc.want == "") != (diff == "") || !strings.Contains(diff, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.name, diff, tc.want)
		}
	}
}

// TestReplay delivers stored events again, from a time on, and stops at
// the first failure naming where to resume.
func TestReplay(t *testing.T) {
	e := newEnv(t)
	r := newReceiver(t, secretA)
	before := e.publishMixed(3)
	time.Sleep(10 * time.Millisecond) // stored times apart from the cut below
	cut := time.Now()
	time.Sleep(10 * time.Millisecond)
	after := e.publishMixed(4)
	ep := endpointAt(t, r.srv.URL, time.Minute)
	var seen []string
	n, err := Replay(context.Background(), e.js, NewClient(), ep, cut, func(d Delivery) { seen = append(seen, d.ID) })
	if err != nil || n != len(after) || !slices.Equal(seen, after) || !slices.Equal(r.ids(), after) {
		t.Errorf("since the cut: %d, %v, saw %v, received %v; want %v", n, err, seen, r.ids(), after)
	}
	n, err = Replay(context.Background(), e.js, NewClient(), ep, time.Time{}, nil)
	if err != nil || n != len(before)+len(after) {
		t.Errorf("everything: %d, %v", n, err)
	}
	so, _ := r.count()
	r.answer = func(n int, _ delivery) int {
		if n == so+1 {
			return http.StatusOK
		}
		return http.StatusServiceUnavailable
	}
	n, err = Replay(context.Background(), e.js, NewClient(), ep, time.Time{}, nil)
	re, ok := errors.AsType[*ReplayError](err)
	if n != 1 || !ok || re.ID != before[1] || re.Stored.IsZero() || !errors.As(err, new(*DeliveryError)) {
		t.Errorf("failing: %d, %v", n, err)
	}
}
