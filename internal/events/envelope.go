package events

import (
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

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

// timeLayout is RFC 3339 with milliseconds, always in UTC.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// Marshal encodes the event as a structured-mode CloudEvents 1.0 JSON
// document: the envelope written by hand (no reflection: every fetch
// encodes at least one event), the data too for the events published most
// (appendData), by encoding/json for the rest. The output is
// what encoding/json makes of the same document (TestMarshalAsEncodingJSON).
func (e *Event) Marshal() ([]byte, error) {
	typ := string(e.Type)
	// Written into a scratch buffer, then copied out at its exact size:
	// a commit holds its encoded events until stored, and room to spare
	// in each was megabytes of a busy worker's memory.
	scratch := marshalBuffers.Get().(*[]byte)
	defer marshalBuffers.Put(scratch)
	b := (*scratch)[:0]
	defer func() { *scratch = b[:0] }()
	b = append(b, `{"specversion":"1.0","id":`...)
	b = appendString(b, e.ID)
	b = append(b, `,"source":`...)
	b = appendString(b, contract.Source)
	b = append(b, `,"type":`...)
	b = appendString(b, contract.EventType(typ))
	b = append(b, `,"subject":`...)
	b = appendString(b, e.Subject)
	b = append(b, `,"time":"`...)
	b = e.Time.UTC().AppendFormat(b, timeLayout)
	b = append(b, `","datacontenttype":"application/json","dataschema":`...)
	b = appendString(b, DataSchema(e.Type))
	b = append(b, `,"fetchid":`...)
	b = appendString(b, e.FetchID)
	for _, f := range [...]struct{ key, value string }{
		{`,"requestid":`, e.RequestID}, {`,"correlationid":`, e.CorrelationID}, {`,"auth":`, e.Auth},
	} {
		if f.value != "" {
			b = append(b, f.key...)
			b = appendString(b, f.value)
		}
	}
	b = append(b, `,"partitionkey":`...)
	b = appendString(b, e.Subject)
	b = append(b, `,"data":`...)
	b, err := appendData(b, e.Data)
	if err != nil {
		return nil, fmt.Errorf("encode %s event: %w", e.Type, err)
	}
	b = append(b, '}')
	return append(make([]byte, 0, len(b)), b...), nil
}

// marshalBuffers are Marshal's scratch buffers.
var marshalBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// appendString appends s as a JSON string, escaped as encoding/json
// escapes it (HTML characters, U+2028 and U+2029 included; invalid UTF-8
// becomes U+FFFD).
func appendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// Msg returns the event as a NATS message: CloudEvents JSON body, the
// content type header and Nats-Msg-Id equal to the event id.
func (e *Event) Msg() (*nats.Msg, error) {
	b, err := e.Marshal()
	if err != nil {
		return nil, err
	}
	return &nats.Msg{
		Subject: e.NATSSubject(),
		Data:    b,
		// Canonical keys already: no need for Header.Set.
		Header: nats.Header{"Content-Type": {ContentType}, nats.MsgIdHdr: {e.ID}},
	}, nil
}
