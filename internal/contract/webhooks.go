package contract

import (
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Webhook delivery (docs/webhooks.md): each endpoint of WEBHOOKS_FILE has
// a durable consumer on EventsStream; what cannot be delivered goes to a
// dead-letter subject in WebhooksStream.
const (
	// WebhooksStream holds the webhooks' dead letters and the markers
	// that report a failing endpoint once a day.
	WebhooksStream = "SKATTEKONTO_WEBHOOKS"
	// WebhooksPrefix starts the subjects of WebhooksStream.
	WebhooksPrefix = "skattekonto.webhooks."
	// WebhookConsumerPrefix starts the name of each endpoint's durable
	// consumer on EventsStream: webhook-<endpoint>.
	WebhookConsumerPrefix = "webhook-"
)

// WebhookDeadSubject is the subject of the events endpoint gave up on:
// skattekonto.webhooks.dead.<endpoint>.
func WebhookDeadSubject(endpoint string) string { return WebhooksPrefix + "dead." + endpoint }

// WebhookFailingSubject holds the day endpoint was last reported failing:
// skattekonto.webhooks.failing.<endpoint>, one message (rolled up).
func WebhookFailingSubject(endpoint string) string { return WebhooksPrefix + "failing." + endpoint }

// WebhookConsumer is the name of endpoint's durable consumer on EventsStream.
func WebhookConsumer(endpoint string) string { return WebhookConsumerPrefix + endpoint }

// WebhooksStreamConfig is the configuration of WebhooksStream: dead
// letters are kept until an operator removes them (deletes allowed), the
// failing markers are rolled up to one per endpoint. replicas <= 0 means 1.
func WebhooksStreamConfig(replicas int) jetstream.StreamConfig {
	if replicas <= 0 {
		replicas = 1
	}
	return jetstream.StreamConfig{
		Name:        WebhooksStream,
		Description: "skattekonto-events: webhook dead letters",
		Subjects:    []string{WebhooksPrefix + ">"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
		Duplicates:  10 * time.Minute,
		AllowRollup: true,
		AllowDirect: true,
	}
}
