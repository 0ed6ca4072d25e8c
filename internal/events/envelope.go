package events

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
)

// Envelope constants; the source and the type prefix are contract's.
const (
	ContentType = "application/cloudevents+json"
	// SchemaBase is where the JSON Schemas of schemas/ are published; an
	// event's dataschema is SchemaBase + "events/<Type>.json".
	SchemaBase = "https://raw.githubusercontent.com/skattekonto-events/skattekonto-events/main/schemas/"
)

// Event is one event of the catalogue with its envelope attributes.
type Event struct {
	ID            string
	Type          Type
	Subject       string // the canonical omfragad, contract.InvalidToken or contract.ServiceToken
	Time          time.Time
	FetchID       string
	RequestID     string
	CorrelationID string
	// Auth is the credential that served the fetch: "organisation" or "user".
	Auth string
	Data any
}

// NATSSubject is the subject the event is published on.
func (e *Event) NATSSubject() string {
	return contract.EventSubject(e.Subject, string(e.Type))
}

// DataSchema is the URL of the JSON Schema of the event's data.
func DataSchema(t Type) string { return SchemaBase + "events/" + string(t) + ".json" }

type cloudEvent struct {
	SpecVersion     string `json:"specversion"`
	ID              string `json:"id"`
	Source          string `json:"source"`
	Type            string `json:"type"`
	Subject         string `json:"subject"`
	Time            string `json:"time"`
	DataContentType string `json:"datacontenttype"`
	DataSchema      string `json:"dataschema"`
	FetchID         string `json:"fetchid"`
	RequestID       string `json:"requestid,omitempty"`
	CorrelationID   string `json:"correlationid,omitempty"`
	Auth            string `json:"auth,omitempty"`
	PartitionKey    string `json:"partitionkey"`
	Data            any    `json:"data"`
}

// timeLayout is RFC 3339 with milliseconds, always in UTC.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// Marshal encodes the event as a structured-mode CloudEvents 1.0 JSON document.
func (e *Event) Marshal() ([]byte, error) {
	b, err := json.Marshal(cloudEvent{
		SpecVersion:     "1.0",
		ID:              e.ID,
		Source:          contract.Source,
		Type:            contract.EventType(string(e.Type)),
		Subject:         e.Subject,
		Time:            e.Time.UTC().Format(timeLayout),
		DataContentType: "application/json",
		DataSchema:      DataSchema(e.Type),
		FetchID:         e.FetchID,
		RequestID:       e.RequestID,
		CorrelationID:   e.CorrelationID,
		Auth:            e.Auth,
		PartitionKey:    e.Subject,
		Data:            e.Data,
	})
	if err != nil {
		return nil, fmt.Errorf("encode %s event: %w", e.Type, err)
	}
	return b, nil
}

// Msg returns the event as a NATS message: CloudEvents JSON body, the
// content type header and Nats-Msg-Id equal to the event id.
func (e *Event) Msg() (*nats.Msg, error) {
	b, err := e.Marshal()
	if err != nil {
		return nil, err
	}
	m := nats.NewMsg(e.NATSSubject())
	m.Data = b
	m.Header.Set("Content-Type", ContentType)
	m.Header.Set(nats.MsgIdHdr, e.ID)
	return m, nil
}
