package jobs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/skv"
)

type timeoutErr struct{}

func (timeoutErr) Error() string { return "i/o timeout" }
func (timeoutErr) Timeout() bool { return true }

func TestWindowFailure(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"felkod 4", &skv.Error{Status: 500, Felkod: skv.FelkodInternal}, true},
		{"felkod 5", &skv.Error{Status: 503, Felkod: skv.FelkodAccountClosed}, true},
		{"gateway 503", &skv.Error{Status: http.StatusServiceUnavailable}, true},
		{"per-call time-out", &skv.Error{Err: fmt.Errorf("timeout: %w", context.DeadlineExceeded)}, true},
		{"network time-out", &skv.Error{Err: fmt.Errorf("read: %w", timeoutErr{})}, true},
		{"wrapped", fmt.Errorf("fetch saldo: %w", &skv.Error{Status: 503, Felkod: 5}), true},
		{"felkod 3", &skv.Error{Status: 404, Felkod: skv.FelkodNoAccount}, false},
		{"gateway 502", &skv.Error{Status: 502}, false},
		{"429", &skv.Error{Status: 429}, false},
		{"connection refused", &skv.Error{Err: errors.New("connection refused")}, false},
		{"a time-out with an answer", &skv.Error{Status: 200, Err: context.DeadlineExceeded}, false},
		{"not an API error", context.DeadlineExceeded, false},
	} {
		if got := windowFailure(tc.err); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func at(day, hh, mm int) time.Time {
	return time.Date(2026, 12, day, hh, mm, 0, 0, contract.Stockholm)
}

func TestWindowEnd(t *testing.T) {
	for _, tc := range []struct {
		now, want time.Time
	}{
		{at(2, 3, 30), at(2, 5, 0)},
		{at(2, 4, 59), at(2, 5, 0)},
		{at(2, 2, 0), at(2, 5, 0)},
		{at(2, 5, 0), at(3, 5, 0)},
		{at(2, 23, 0), at(3, 5, 0)},
		// The day summer time ends: 05:00 is still 05:00 Stockholm time.
		{time.Date(2026, 10, 25, 3, 30, 0, 0, contract.Stockholm), time.Date(2026, 10, 25, 5, 0, 0, 0, contract.Stockholm)},
	} {
		if got := windowEnd(tc.now.UTC()); !got.Equal(tc.want) {
			t.Errorf("windowEnd(%v) = %v, want %v", tc.now, got, tc.want)
		}
	}
}

// TestDeliveryLimit: a request gets one delivery more than MaxDeliver when
// it was in the stream during a service window (it may have been deferred).
func TestDeliveryLimit(t *testing.T) {
	w := &Worker{cfg: Config{MaxDeliver: 5}.withDefaults()}
	for _, tc := range []struct {
		name           string
		published, now time.Time
		want           uint64
	}{
		{"published and handled in the afternoon", at(2, 14, 0), at(2, 14, 1), 5},
		{"published in the window, handled after", at(2, 3, 30), at(2, 5, 0), 6},
		{"published before the window, handled in it", at(2, 2, 59), at(2, 3, 1), 6},
		{"published before the window, handled before it", at(2, 2, 0), at(2, 2, 30), 5},
		{"published after the window", at(2, 5, 1), at(2, 5, 2), 5},
		{"published yesterday evening, handled after midnight", at(1, 22, 0), at(2, 0, 30), 5},
		{"published yesterday morning, handled today", at(1, 4, 0), at(2, 1, 0), 6},
	} {
		meta := &jetstream.MsgMetadata{Timestamp: tc.published}
		if got := w.deliveryLimit(meta, tc.now); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
	for _, c := range append((Config{MaxDeliver: 5}).ConsumerConfigs(), (Config{MaxDeliver: 5}).LegacyConsumerConfig()) {
		if c.MaxDeliver != -1 {
			t.Errorf("consumer %s MaxDeliver %d, want -1: the worker counts deliveries", c.Durable, c.MaxDeliver)
		}
	}
}
