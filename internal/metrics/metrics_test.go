package metrics

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestNilMetricsIsNoOp(t *testing.T) {
	var m *Metrics
	m.FetchDone(OutcomeOK, time.Second)
	m.APICall("saldo", 200, 0, time.Second)
	m.Retry("saldo")
	m.EventsPublished("se.skatteverket.skattekonto.saldo.changed", 2)
	m.DiffDuration(time.Millisecond)
	m.InFlight(1)
	m.TokenRefresh(true)
	m.RateLimitWait(time.Second)
	m.CommitConflict()
	m.APIDrift("saldo", "unknown-field")
	m.TokenFetched(nil)
	m.RateLimitWaited(time.Second)
	m.WebhookAttempt("erp", "ok")
	m.WebhookDeadLetter("erp")
	m.WatchConsumer(func(context.Context) (uint64, uint64, error) { return 0, 0, nil })
	m.WatchCertificateExpiry(func() (time.Time, error) { return time.Now(), nil })
}

func TestCounters(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := New(reg)

	m.FetchDone(OutcomeOK, 2*time.Second)
	m.FetchDone(OutcomeOK, time.Second)
	m.FetchDone(OutcomeFailed, time.Second)
	m.APICall("saldo", 200, 0, 100*time.Millisecond)
	m.APICall("saldo", 400, 3, 100*time.Millisecond)
	m.APICall("saldo", 0, 0, time.Second)
	m.APICall("saldo", 500, 99, time.Second)
	m.Retry("transaktioner")
	m.EventsPublished("a", 3)
	m.EventsPublished("a", 0)
	m.InFlight(1)
	m.InFlight(1)
	m.InFlight(-1)
	m.TokenFetched(nil)
	m.TokenFetched(errors.New("refused"))
	m.TokenFetched(errors.New("refused"))
	m.RateLimitWaited(10 * time.Millisecond)
	m.CommitConflict()
	m.DiffDuration(50 * time.Microsecond)
	m.APIDrift("saldo", "unknown-field")
	m.APIDrift("saldo", "unknown-field")
	m.APIDrift("utbetalningssparrar", "unknown-list-key")
	m.WebhookAttempt("erp", "ok")
	m.WebhookAttempt("erp", "timeout")
	m.WebhookAttempt("erp", "timeout")
	m.WebhookDeadLetter("erp")

	for _, c := range []struct {
		name string
		got  float64
		want float64
	}{
		{"fetches ok", testutil.ToFloat64(m.fetches.WithLabelValues("ok")), 2},
		{"fetches failed", testutil.ToFloat64(m.fetches.WithLabelValues("failed")), 1},
		{"fetches retry (pre-set)", testutil.ToFloat64(m.fetches.WithLabelValues("retry")), 0},
		{"api 200", testutil.ToFloat64(m.apiCalls.WithLabelValues("saldo", "200", "0")), 1},
		{"api 400 felkod 3", testutil.ToFloat64(m.apiCalls.WithLabelValues("saldo", "400", "3")), 1},
		{"api no answer", testutil.ToFloat64(m.apiCalls.WithLabelValues("saldo", "0", "0")), 1},
		{"api felkod out of range", testutil.ToFloat64(m.apiCalls.WithLabelValues("saldo", "500", "other")), 1},
		{"retries", testutil.ToFloat64(m.retries.WithLabelValues("transaktioner")), 1},
		{"published", testutil.ToFloat64(m.published.WithLabelValues("a")), 3},
		{"in flight", testutil.ToFloat64(m.inFlight), 1},
		{"token ok", testutil.ToFloat64(m.tokenRefreshes.WithLabelValues("ok")), 1},
		{"token error", testutil.ToFloat64(m.tokenRefreshes.WithLabelValues("error")), 2},
		{"conflicts", testutil.ToFloat64(m.conflicts), 1},
		{"drift", testutil.ToFloat64(m.drift.WithLabelValues("saldo", "unknown-field")), 2},
		{"drift list key", testutil.ToFloat64(m.drift.WithLabelValues("utbetalningssparrar", "unknown-list-key")), 1},
		{"webhook ok", testutil.ToFloat64(m.webhooks.WithLabelValues("erp", "ok")), 1},
		{"webhook timeout", testutil.ToFloat64(m.webhooks.WithLabelValues("erp", "timeout")), 2},
		{"webhook dead letters", testutil.ToFloat64(m.webhookDead.WithLabelValues("erp")), 1},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}

	want := `
# HELP skattekonto_fetch_duration_seconds Time to process one fetch request, API calls and commit included.
# TYPE skattekonto_fetch_duration_seconds histogram
skattekonto_fetch_duration_seconds_bucket{le="0.05"} 0
skattekonto_fetch_duration_seconds_bucket{le="0.1"} 0
skattekonto_fetch_duration_seconds_bucket{le="0.25"} 0
skattekonto_fetch_duration_seconds_bucket{le="0.5"} 0
skattekonto_fetch_duration_seconds_bucket{le="1"} 2
skattekonto_fetch_duration_seconds_bucket{le="2.5"} 3
skattekonto_fetch_duration_seconds_bucket{le="5"} 3
skattekonto_fetch_duration_seconds_bucket{le="10"} 3
skattekonto_fetch_duration_seconds_bucket{le="20"} 3
skattekonto_fetch_duration_seconds_bucket{le="30"} 3
skattekonto_fetch_duration_seconds_bucket{le="60"} 3
skattekonto_fetch_duration_seconds_bucket{le="120"} 3
skattekonto_fetch_duration_seconds_bucket{le="+Inf"} 3
skattekonto_fetch_duration_seconds_sum 4
skattekonto_fetch_duration_seconds_count 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "skattekonto_fetch_duration_seconds"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(m.diffDuration); n != 1 {
		t.Errorf("diff histogram series: got %d, want 1", n)
	}
	if n := testutil.CollectAndCount(m.rateLimitWait); n != 1 {
		t.Errorf("rate limit histogram series: got %d, want 1", n)
	}
	// The pedantic registry checks every metric's consistency.
	if _, err := reg.Gather(); err != nil {
		t.Fatalf("gather: %v", err)
	}
}

func TestWatchConsumer(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := New(reg)
	var calls atomic.Int32
	m.WatchConsumer(func(ctx context.Context) (uint64, uint64, error) {
		calls.Add(1)
		if _, ok := ctx.Deadline(); !ok {
			t.Error("consumer look-up has no deadline")
		}
		return 42, 7, nil
	})
	m.WatchConsumer(func(context.Context) (uint64, uint64, error) { return 0, 0, nil }) // ignored

	want := `
# HELP skattekonto_consumer_ack_pending Fetch requests delivered to workers and not yet acknowledged.
# TYPE skattekonto_consumer_ack_pending gauge
skattekonto_consumer_ack_pending 7
# HELP skattekonto_consumer_pending Fetch requests in the stream not yet delivered to the durable consumer.
# TYPE skattekonto_consumer_pending gauge
skattekonto_consumer_pending 42
`
	names := []string{"skattekonto_consumer_pending", "skattekonto_consumer_ack_pending"}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Fatal(err)
	}
	// A second scrape right away is served from the cache.
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Fatal(err)
	}
	if got := calls.Load(); got != 1 {
		t.Errorf("look-ups for two quick scrapes: got %d, want 1", got)
	}
}

func TestConsumerCollectorCacheAndError(t *testing.T) {
	now := time.Unix(1000, 0)
	var calls int
	var fail bool
	c := newConsumerCollector(func(context.Context) (uint64, uint64, error) {
		calls++
		if fail {
			return 0, 0, errors.New("no responders")
		}
		return 5, 1, nil
	}, func() time.Time { return now })

	if n := testutil.CollectAndCount(c); n != 2 {
		t.Fatalf("series: got %d, want 2", n)
	}
	fail = true
	now = now.Add(consumerCacheFor - time.Second)
	if n := testutil.CollectAndCount(c); n != 2 || calls != 1 {
		t.Fatalf("within the cache time: got %d series after %d calls, want 2 after 1", n, calls)
	}
	now = now.Add(time.Second)
	if n := testutil.CollectAndCount(c); n != 0 || calls != 2 {
		t.Fatalf("after a failed look-up: got %d series after %d calls, want 0 after 2", n, calls)
	}
}

func TestWatchCertificateExpiry(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := New(reg)
	m.WatchCertificateExpiry(func() (time.Time, error) { return time.Unix(1900000000, 0), nil })
	want := `
# HELP skattekonto_client_certificate_expiry_timestamp_seconds When the mutual-TLS client certificate in use expires, in seconds since the Unix epoch.
# TYPE skattekonto_client_certificate_expiry_timestamp_seconds gauge
skattekonto_client_certificate_expiry_timestamp_seconds 1.9e+09
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "skattekonto_client_certificate_expiry_timestamp_seconds"); err != nil {
		t.Fatal(err)
	}

	reg2 := prometheus.NewPedanticRegistry()
	m2 := New(reg2)
	m2.WatchCertificateExpiry(func() (time.Time, error) { return time.Time{}, errors.New("no certificate") })
	if n, err := testutil.GatherAndCount(reg2, "skattekonto_client_certificate_expiry_timestamp_seconds"); err != nil || n != 0 {
		t.Fatalf("without a certificate: got %d series (err %v), want 0", n, err)
	}
}
