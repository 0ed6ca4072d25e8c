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

// maxThrottleMsg bounds the throttle messages read: a replica's is far
// shorter.
const maxThrottleMsg = 256

func encodeThrottle(m throttleMsg) ([]byte, error) { return json.Marshal(m) }

// onThrottle applies a peer's 429 to this replica. A message from an id
// that is not a known peer is ignored; the pause asked for is capped at
// Config.MaxPause.
func (l *Limiter) onThrottle(m *nats.Msg) {
	var t throttleMsg
	if len(m.Data) > maxThrottleMsg || json.Unmarshal(m.Data, &t) != nil || !validID(t.ID) || t.ID == l.id {
		return // not from a replica, or applied when published
	}
	ra := time.Duration(min(max(t.RetryAfterMillis, 0), l.cfg.MaxPause.Milliseconds())) * time.Millisecond
	if accepted, _ := l.throttle(ra, t.ID); accepted {
		l.handled.Add(1)
	}
}
