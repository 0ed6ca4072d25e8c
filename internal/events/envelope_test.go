package events

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
)

// cloudEvent is the envelope as encoding/json would write it: the
// reference for the hand-written Marshal.
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

func referenceMarshal(t testing.TB, e *Event) []byte {
	t.Helper()
	b, err := json.Marshal(cloudEvent{
		SpecVersion: "1.0", ID: e.ID, Source: contract.Source, Type: contract.EventType(string(e.Type)), Subject: e.Subject,
		Time: e.Time.UTC().Format(timeLayout), DataContentType: "application/json", DataSchema: DataSchema(e.Type),
		FetchID: e.FetchID, RequestID: e.RequestID, CorrelationID: e.CorrelationID, Auth: e.Auth, PartitionKey: e.Subject, Data: e.Data,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestMarshalAsEncodingJSON: the hand-written envelope is byte for byte
// what encoding/json writes, escapes included.
func TestMarshalAsEncodingJSON(t *testing.T) {
	at := time.Date(2026, 11, 25, 8, 0, 1, 234_567_000, time.FixedZone("CET", 3600))
	for _, tc := range []struct {
		name string
		e    Event
	}{
		{"every attribute", Event{ID: NewID(acct, TypeNewTransaction, "1"), Type: TypeNewTransaction, Subject: acct, Time: at,
			FetchID: "f1", RequestID: "erp-7f3a", CorrelationID: "c-1", Auth: "organisation",
			Data: NewTransaction{Header: Header{Omfragad: acct, Baseline: true}, TransaktionID: "1", Transaktionstext: "Debiterad preliminärskatt"}}},
		{"optional attributes left out", Event{ID: "x", Type: TypeFetchFailed, Subject: contract.InvalidToken, Time: at, Data: map[string]any{}}},
		{"escapes", Event{ID: "a\"b\\c", Type: TypeFetchCompleted, Subject: acct, Time: at, FetchID: "<f>&",
			RequestID: "tab\there\nnew\r\b\f\x01\x1f\x7f", CorrelationID: "åäö \u2028\u2029 😀", Auth: "bad\xffutf8\xc3",
			Data: FetchCompleted{Header: Header{Omfragad: acct}}}},
		{"no data", Event{ID: "x", Type: TypeAccessProblem, Subject: contract.ServiceToken, Time: at}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.e.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if want := referenceMarshal(t, &tc.e); !bytes.Equal(got, want) {
				t.Errorf("Marshal:\n got %s\nwant %s", got, want)
			}
		})
	}
}

func TestMarshalDataError(t *testing.T) {
	e := Event{ID: "x", Type: TypeFetchCompleted, Subject: acct, Data: func() {}}
	if _, err := e.Marshal(); err == nil {
		t.Error("Marshal of unencodable data: no error")
	}
}

// FuzzAppendString: any string is escaped as encoding/json escapes it.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", `"\`, "<>&", "\x00\x1f\x7f", "\u2028\u2029", "\xff\xc3", "åäö😀"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendString(nil, s); !bytes.Equal(got, want) {
			t.Errorf("appendString(%q) = %s, want %s", s, got, want)
		}
	})
}
