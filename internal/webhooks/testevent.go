package webhooks

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
)

// TestEventType is the CloudEvents type of the event `skattekonto
// webhooks test` sends. It is never stored, and only test deliveries
// carry it.
const TestEventType = contract.TypePrefix + "WebhookTest"

// NewTestEvent returns a test event for endpoint: a CloudEvent with a
// fresh id, subject "service", and data naming the endpoint, in the
// envelope of the stored events.
func NewTestEvent(endpoint string, now time.Time) (id string, body []byte) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	id = "test-" + hex.EncodeToString(b[:])
	body, _ = json.Marshal(struct {
		SpecVersion     string `json:"specversion"`
		ID              string `json:"id"`
		Source          string `json:"source"`
		Type            string `json:"type"`
		Subject         string `json:"subject"`
		Time            string `json:"time"`
		DataContentType string `json:"datacontenttype"`
		FetchID         string `json:"fetchid"`
		PartitionKey    string `json:"partitionkey"`
		Data            any    `json:"data"`
	}{
		SpecVersion: "1.0", ID: id, Source: contract.Source, Type: TestEventType,
		Subject: contract.ServiceToken, Time: now.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		DataContentType: "application/json", FetchID: id, PartitionKey: contract.ServiceToken,
		Data: map[string]string{
			"endpoint": endpoint,
			"message":  "A test delivery from skattekonto-events: answer 2xx once the signature verifies.",
		},
	})
	return id, body
}
