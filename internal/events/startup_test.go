package events

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/skattekonto-events/skattekonto-events/internal/testlog"
)

// TestRetrySetupSaysWhatItWaitsFor checks that a setup step that fails
// for a while is retried, and that each retry is logged on the context's
// logger, while one that fails for good is neither retried nor logged.
func TestRetrySetupSaysWhatItWaitsFor(t *testing.T) {
	tests := []struct {
		name      string
		errs      []error
		wantErr   bool
		wantCalls int
		wantLines int
	}{
		{"answers at once", []error{nil}, false, 1, 0},
		{"time-outs, then an answer", []error{nats.ErrTimeout, nats.ErrNoResponders, nil}, false, 3, 2},
		{"refused for good", []error{errors.New("stream name already in use")}, true, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf testlog.Buffer
			ctx := zerolog.New(&buf).WithContext(context.Background())
			calls := 0
			err := RetrySetup(ctx, func(context.Context) error {
				err := tc.errs[min(calls, len(tc.errs)-1)]
				calls++
				return err
			})
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error: %v", err, tc.wantErr)
			}
			if calls != tc.wantCalls {
				t.Errorf("%d calls, want %d", calls, tc.wantCalls)
			}
			lines := strings.Count(buf.String(), "JetStream setup")
			if lines != tc.wantLines {
				t.Errorf("%d log lines about the setup, want %d:\n%s", lines, tc.wantLines, buf.String())
			}
			if tc.wantLines > 0 && !strings.Contains(buf.String(), `"level":"warn"`) {
				t.Errorf("retries not logged at warn:\n%s", buf.String())
			}
		})
	}
}
