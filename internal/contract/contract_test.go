package contract

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func TestSubjects(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{FetchSubject("165566778899"), "skattekonto.fetch.165566778899"},
		{EventSubject("165566778899", "SaldoChanged"), "skattekonto.events.165566778899.SaldoChanged"},
		{EventSubject(InvalidToken, "FetchFailed"), "skattekonto.events.invalid.FetchFailed"},
		{EventSubject(ServiceToken, "AccessProblem"), "skattekonto.events.service.AccessProblem"},
		{AccountEvents("165566778899"), "skattekonto.events.165566778899.>"},
		{AllEvents, "skattekonto.events.>"},
		{StateSubject("165566778899"), "skattekonto.state.165566778899"},
		{ScheduleSubject("165566778899", "daily"), "skattekonto.schedule.165566778899.daily"},
		{AccountSchedules("165566778899"), "skattekonto.schedule.165566778899.>"},
		{WatchRegister, "skattekonto.watch.register"},
		{WatchUnregister, "skattekonto.watch.unregister"},
		{WatchList, "skattekonto.watch.list"},
		{SIEExport, "skattekonto.sie.export"},
		{EventType("FetchCompleted"), "skattekonto.FetchCompleted"},
		{WebhookDeadSubject("erp"), "skattekonto.webhooks.dead.erp"},
		{WebhookFailingSubject("erp"), "skattekonto.webhooks.failing.erp"},
		{WebhookConsumer("erp"), "webhook-erp"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestStreamsCoverTheirSubjects(t *testing.T) {
	fetch := FetchStreamConfig(0)
	if fetch.Name != FetchStream || fetch.Replicas != 1 || fetch.MaxMsgSize != MaxFetchRequestSize+1024 {
		t.Errorf("fetch stream: got %s with %d replicas, max %d", fetch.Name, fetch.Replicas, fetch.MaxMsgSize)
	}
	if got := FetchStreamConfig(3).Replicas; got != 3 {
		t.Errorf("fetch stream replicas: got %d, want 3", got)
	}
	if want := []string{"skattekonto.fetch.>", "skattekonto.schedule.>"}; !slices.Equal(fetch.Subjects, want) {
		t.Errorf("fetch stream subjects: got %v, want %v", fetch.Subjects, want)
	}
	ev := EventsStreamConfig(EventsStreamSettings{})
	if ev.Name != EventsStream || ev.Replicas != 1 || ev.Duplicates != 10*time.Minute || ev.MaxAge != 0 {
		t.Errorf("events stream defaults: got %s, %d replicas, duplicates %s, max age %s", ev.Name, ev.Replicas, ev.Duplicates, ev.MaxAge)
	}
	if want := []string{"skattekonto.events.>", "skattekonto.state.>"}; !slices.Equal(ev.Subjects, want) {
		t.Errorf("events stream subjects: got %v, want %v", ev.Subjects, want)
	}
	ev = EventsStreamConfig(EventsStreamSettings{Name: "X", Replicas: 3, Duplicates: time.Minute, MaxAge: time.Hour})
	if ev.Name != "X" || ev.Replicas != 3 || ev.Duplicates != time.Minute || ev.MaxAge != time.Hour {
		t.Errorf("events stream settings not kept: %+v", ev)
	}
	c := ConsumerConfig(ConsumerSettings{Durable: Durable, Concurrency: 500, PinnedTTL: time.Minute}, 3)
	if c.Durable != "skattekonto-worker-3" || c.FilterSubject != "skattekonto.fetch.3.*" || c.MaxAckPending != 2000 {
		t.Errorf("consumer: %s, filter %q, max ack pending %d", c.Durable, c.FilterSubject, c.MaxAckPending)
	}
	if c.PriorityPolicy != jetstream.PriorityPolicyPinned || !slices.Equal(c.PriorityGroups, []string{PriorityGroup}) || c.PinnedTTL != time.Minute {
		t.Errorf("consumer priority: policy %v, groups %v, pinned TTL %v", c.PriorityPolicy, c.PriorityGroups, c.PinnedTTL)
	}
	if c := ConsumerConfig(ConsumerSettings{Concurrency: 1}, 0); c.MaxAckPending != 1000 {
		t.Errorf("consumer max ack pending: got %d, want at least 1000", c.MaxAckPending)
	}
	// Partitions share what a worker holds: pinned to all of them, it
	// holds what one consumer would let it.
	for _, tc := range []struct{ concurrency, partitions, want int }{{128, 8, 125}, {500, 8, 250}, {128, 256, 16}, {128, 1, 1000}} {
		c := ConsumerConfig(ConsumerSettings{Concurrency: tc.concurrency, Partitions: tc.partitions}, 0)
		if c.MaxAckPending != tc.want {
			t.Errorf("concurrency %d, %d partitions: max ack pending %d, want %d", tc.concurrency, tc.partitions, c.MaxAckPending, tc.want)
		}
	}
	if c := LegacyConsumerConfig(ConsumerSettings{Durable: Durable}); c.Durable != Durable || c.FilterSubject != "skattekonto.fetch.*" || c.PriorityPolicy != jetstream.PriorityPolicyNone {
		t.Errorf("legacy consumer: %s, filter %q, policy %v", c.Durable, c.FilterSubject, c.PriorityPolicy)
	}
}

func TestStreamPartitions(t *testing.T) {
	tests := []struct {
		name string
		cfg  jetstream.StreamConfig
		want int
	}{
		{"default", FetchStreamConfig(1), DefaultPartitions},
		{"chosen", PartitionedFetchStreamConfig(1, 16), 16},
		{"zero means default", PartitionedFetchStreamConfig(1, 0), DefaultPartitions},
		{"no transform", jetstream.StreamConfig{Name: FetchStream}, 0},
		{"other source", jetstream.StreamConfig{SubjectTransform: &jetstream.SubjectTransformConfig{Source: "skattekonto.fetch.>", Destination: partitionDest(4)}}, 0},
		{"other destination", jetstream.StreamConfig{SubjectTransform: &jetstream.SubjectTransformConfig{Source: LegacyFilter, Destination: "skattekonto.fetch.{{partition(4,1)}}"}}, 0},
		{"not a number", jetstream.StreamConfig{SubjectTransform: &jetstream.SubjectTransformConfig{Source: LegacyFilter, Destination: "skattekonto.fetch.{{partition(x,1)}}.{{wildcard(1)}}"}}, 0},
		{"too many", jetstream.StreamConfig{SubjectTransform: &jetstream.SubjectTransformConfig{Source: LegacyFilter, Destination: partitionDest(MaxPartitions + 1)}}, 0},
		{"leading zero", jetstream.StreamConfig{SubjectTransform: &jetstream.SubjectTransformConfig{Source: LegacyFilter, Destination: "skattekonto.fetch.{{partition(08,1)}}.{{wildcard(1)}}"}}, 0},
	}
	for _, tc := range tests {
		if got := StreamPartitions(tc.cfg); got != tc.want {
			t.Errorf("%s: got %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestRequestSubject(t *testing.T) {
	tests := []struct{ stored, want string }{
		{"skattekonto.fetch.3.165566112233", "skattekonto.fetch.165566112233"},
		{"skattekonto.fetch.165566112233", "skattekonto.fetch.165566112233"},
		{"skattekonto.fetch.x.165566112233", "skattekonto.fetch.x.165566112233"},
		{"skattekonto.fetch.3.a.b", "skattekonto.fetch.3.a.b"},
		{"skattekonto.schedule.1.a", "skattekonto.schedule.1.a"},
	}
	for _, tc := range tests {
		if got := RequestSubject(tc.stored); got != tc.want {
			t.Errorf("RequestSubject(%q): got %q, want %q", tc.stored, got, tc.want)
		}
	}
}

func TestWebhooksStream(t *testing.T) {
	s := WebhooksStreamConfig(0)
	if s.Name != WebhooksStream || s.Replicas != 1 || !s.AllowRollup || !s.AllowDirect || s.DenyDelete {
		t.Errorf("webhooks stream: got %+v", s)
	}
	if want := []string{"skattekonto.webhooks.>"}; !slices.Equal(s.Subjects, want) {
		t.Errorf("webhooks stream subjects: got %v, want %v", s.Subjects, want)
	}
	for _, subj := range append(EventsStreamConfig(EventsStreamSettings{}).Subjects, FetchStreamConfig(1).Subjects...) {
		if strings.HasPrefix(subj, WebhooksPrefix) || strings.HasPrefix(WebhooksPrefix, strings.TrimSuffix(subj, ">")) {
			t.Errorf("stream subject %s overlaps %s>", subj, WebhooksPrefix)
		}
	}
}

func TestOperationOrder(t *testing.T) {
	want := []string{"saldo", "transaktioner", "utbetalningskonto", "utbetalningssparrar"}
	if got := Operations(); !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	Operations()[0] = "changed"
	if got := Operations(); !slices.Equal(got, want) {
		t.Fatalf("Operations shares its slice: got %v", got)
	}
	type op string // a caller's own string type, as skv.Operation
	for _, tc := range []struct {
		name string
		in   []op
		want []op
	}{
		{"reversed", []op{"utbetalningssparrar", "utbetalningskonto", "transaktioner", "saldo"}, []op{"saldo", "transaktioner", "utbetalningskonto", "utbetalningssparrar"}},
		{"two", []op{"utbetalningskonto", "saldo"}, []op{"saldo", "utbetalningskonto"}},
		{"unknown last", []op{"zz", "transaktioner", "aa"}, []op{"transaktioner", "aa", "zz"}},
		{"empty", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := slices.Clone(tc.in)
			SortOperations(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	if !KnownOperation("saldo") || KnownOperation("Saldo") || KnownOperation("") {
		t.Error("KnownOperation: wrong answer")
	}
}

func TestInServiceWindow(t *testing.T) {
	for _, tc := range []struct {
		at   string
		want bool
	}{
		{"2026-01-15T02:59:59+01:00", false},
		{"2026-01-15T03:00:00+01:00", true},
		{"2026-01-15T04:59:59+01:00", true},
		{"2026-01-15T05:00:00+01:00", false},
		{"2026-01-15T02:30:00Z", true},       // 03:30 in Stockholm in winter
		{"2026-07-15T01:30:00Z", true},       // 03:30 in summer
		{"2026-07-15T03:30:00Z", false},      // 05:30 in summer
		{"2026-03-29T01:30:00Z", true},       // 03:30 CEST: the night clocks go forward
		{"2026-10-25T00:30:00Z", false},      // 02:30 CEST the night clocks go back
		{"2026-10-25T01:30:00Z", false},      // 02:30 CET, the second time
		{"2026-10-25T02:30:00Z", true},       // 03:30 CET
		{"2026-01-15T03:30:00-05:00", false}, // 09:30 in Stockholm
		{"2026-01-15T21:30:00-05:00", true},  // 03:30 the next day
		{"2026-06-01T12:00:00+02:00", false}, // midday
		{"2026-06-01T00:00:00+02:00", false}, // midnight
	} {
		at, err := time.Parse(time.RFC3339, tc.at)
		if err != nil {
			t.Fatal(err)
		}
		if got := InServiceWindow(at); got != tc.want {
			t.Errorf("InServiceWindow(%s): got %v, want %v", tc.at, got, tc.want)
		}
	}
	if Stockholm.String() != ZoneName {
		t.Errorf("zone: got %s, want %s", Stockholm, ZoneName)
	}
}

func TestFetchRequestWire(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  FetchRequest
		want string
	}{
		{"empty", FetchRequest{}, `{}`},
		{"user", FetchRequest{Auth: new(AuthUser), Session: new("s1"), RequestID: new("r1")}, `{"requestId":"r1","auth":"user","session":"s1"}`},
		{"all", FetchRequest{Omfragad: new("165566778899"), Operations: &[]string{OpSaldo}, DatumFrom: new("2026-01-01"), Force: new(false)},
			`{"omfragad":"165566778899","operations":["saldo"],"datumFrom":"2026-01-01","force":false}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.want {
				t.Errorf("got %s, want %s", b, tc.want)
			}
		})
	}
	// Given-but-empty stays apart from left out.
	var r FetchRequest
	if err := json.Unmarshal([]byte(`{"operations":[]}`), &r); err != nil {
		t.Fatal(err)
	}
	if r.Operations == nil || len(*r.Operations) != 0 || r.Omfragad != nil {
		t.Errorf("got operations %v, omfragad %v; want an empty list and nil", r.Operations, r.Omfragad)
	}
}
