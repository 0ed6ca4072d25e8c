package ratelimit

import (
	"encoding/json"
	"time"

	"github.com/nats-io/nats.go"
)

// throttleMsg is the payload on the throttle subject: a replica got 429.
type throttleMsg struct {
	ID               string `json:"id"`
	RetryAfterMillis int64  `json:"retryAfterMs"`
}

// maxRetryAfter bounds a pause asked for by a peer.
const maxRetryAfter = 24 * time.Hour

func encodeThrottle(m throttleMsg) ([]byte, error) { return json.Marshal(m) }

// onThrottle applies a peer's 429 to this replica.
func (l *Limiter) onThrottle(m *nats.Msg) {
	var t throttleMsg
	if err := json.Unmarshal(m.Data, &t); err != nil || t.ID == "" || len(t.ID) > maxIDLen {
		l.log.Debug().Msg("ignoring malformed throttle message")
		return
	}
	if t.ID == l.id {
		return // applied when published
	}
	ra := time.Duration(min(max(t.RetryAfterMillis, 0), maxRetryAfter.Milliseconds())) * time.Millisecond
	l.throttle(ra, t.ID)
	l.handled.Add(1)
}
