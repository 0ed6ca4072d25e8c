package events

import (
	"slices"
	"strings"
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
)

// Origin says where an event comes from: the account it is about ("" for
// a deployment-wide event), the fetch, the request it answers, the API
// call that told it, the credential that served the fetch, and when.
type Origin struct {
	Omfragad      string
	FetchID       string
	RequestID     string
	CorrelationID string
	// Auth is the credential that served the fetch: "organisation" or "user".
	Auth string
	Time time.Time
}

// event is an event of type t with o's envelope on subject; its id is
// derived from the subject, the type and parts.
func (o Origin) event(subject string, t Type, data any, parts ...string) Event {
	return Event{
		ID:            NewID(subject, t, parts...),
		Type:          t,
		Subject:       subject,
		Time:          o.Time,
		FetchID:       o.FetchID,
		RequestID:     o.RequestID,
		CorrelationID: o.CorrelationID,
		Auth:          o.Auth,
		Data:          data,
	}
}

// header is the data header of o's events.
func (o Origin) header() Header { return Header{Omfragad: o.Omfragad} }

// SetOrigin gives the change events of r the fetch, request and credential
// of o; each keeps the correlation id of the answer that showed it.
func (r *Result) SetOrigin(o Origin) {
	for i := range r.Events {
		r.Events[i].FetchID, r.Events[i].RequestID, r.Events[i].Auth = o.FetchID, o.RequestID, o.Auth
	}
}

// NewFetchCompleted is the event that closes a successful fetch of
// o.Omfragad. f says what was asked, called and skipped, how many changes
// were found and which requests the fetch served; the rest is filled in:
// the header, the number of calls, and from snap the first answer's
// senastUppdaterad and every informationstext once.
func NewFetchCompleted(o Origin, f FetchCompleted, snap *Snapshot) Event {
	f.Header = o.header()
	f.APICalls = len(f.Calls)
	if f.Skipped == nil {
		f.Skipped = []string{}
	}
	f.Informationstext = []string{}
	for _, a := range snap.Answers() {
		if f.SenastUppdaterad == "" {
			f.SenastUppdaterad = a.SenastUppdaterad
		}
		for _, t := range a.Informationstext {
			if !slices.Contains(f.Informationstext, t) {
				f.Informationstext = append(f.Informationstext, t)
			}
		}
	}
	return o.event(o.Omfragad, TypeFetchCompleted, f, o.FetchID)
}

// NewFetchFailed is the event that closes a fetch of o.Omfragad that
// ended without success; its attempts are the calls it lists.
func NewFetchFailed(o Origin, f FetchFailed) Event {
	return o.failed(o.Omfragad, f)
}

// NewInvalidRequest is the FetchFailed "invalid-request" that answers a
// request which cannot be served, with the reason (problem) and the
// request as received. o.Omfragad is the account when it could be told
// ("" when not) and o.RequestID the request's id when it could be read.
// The answer goes on the account's subject, unless the body could not be
// read (bodyRead false) or no account could be told: then it goes on
// contract.InvalidToken (CONTRACT §2).
func NewInvalidRequest(o Origin, bodyRead bool, problem string, request any) Event {
	f := FetchFailed{Reason: ReasonInvalidRequest, Error: problem, Request: request}
	if o.RequestID != "" {
		f.RequestIDs = []string{o.RequestID}
	}
	subject := o.Omfragad
	if !bodyRead || subject == "" {
		subject = contract.InvalidToken
	}
	return o.failed(subject, f)
}

func (o Origin) failed(subject string, f FetchFailed) Event {
	f.Header = o.header()
	if f.Calls == nil {
		f.Calls = []Call{}
	}
	f.Attempts = len(f.Calls)
	return o.event(subject, TypeFetchFailed, f, o.FetchID)
}

// Problem is what is wrong with access to the API, for an AccessProblem.
type Problem struct {
	// Kind is one of the Problem… kinds.
	Kind   string
	Detail string
	// Since is when the problem was first seen.
	Since time.Time
	// Expires is when the certificate expires, for its kinds; else zero.
	Expires time.Time
	// Operation is the API operation the problem is about, and Drift the
	// differences it showed (api-drift); else empty.
	Operation string
	Drift     []Drift
	// Scope narrows "once per kind and key" to once per kind, scope and
	// key: an operation-unavailable is reported once per operation and
	// day. Empty for the kinds reported once per kind and key.
	Scope string
}

// ProblemReport is an AccessProblem event with the key (a day, or a login
// session) under which it is reported once: the same kind, scope and key
// always give the same event id, and the key is recorded in the state.
type ProblemReport struct {
	Event Event
	kind  string
	// slot is where the state records the key: the kind, or kind/scope.
	slot string
	key  string
}

// NewAccessProblem reports p about the account o.Omfragad, or about the
// whole deployment on contract.ServiceToken when o.Omfragad is "", once per
// kind, scope and key.
func NewAccessProblem(o Origin, p Problem, key string) ProblemReport {
	data := AccessProblem{Header: o.header(), Kind: p.Kind, Detail: p.Detail, Since: p.Since.UTC().Format(time.RFC3339),
		Operation: p.Operation, Drift: p.Drift}
	if !p.Expires.IsZero() {
		data.ExpiresAt = p.Expires.UTC().Format(time.RFC3339)
	}
	subject := o.Omfragad
	if subject == "" {
		subject = contract.ServiceToken
	}
	slot, parts := p.Kind, []string{p.Kind, key}
	if p.Scope != "" {
		slot, parts = p.Kind+"/"+p.Scope, []string{p.Kind, p.Scope, key}
	}
	return ProblemReport{Event: o.event(subject, TypeAccessProblem, data, parts...), kind: p.Kind, slot: slot, key: key}
}

// recorded returns problems (slot → key last reported) with r's report
// added. A scoped report's key is a day: the records of its kind under
// other scopes and keys (earlier days) are dropped, so that the map keeps
// only today's.
func (r *ProblemReport) recorded(problems map[string]string) map[string]string {
	if r == nil {
		return problems
	}
	out := mergeMap(problems, map[string]string{r.slot: r.key})
	if r.slot != r.kind {
		prefix := r.kind + "/"
		for k, v := range out {
			if strings.HasPrefix(k, prefix) && v != r.key {
				delete(out, k)
			}
		}
	}
	return out
}

// reported tells whether problems records r's report already.
func (r *ProblemReport) reported(problems map[string]string) bool {
	return problems[r.slot] == r.key
}

// Slot and Key say under what the report is recorded once, for a caller
// that remembers reports made to skip reading the state again.
func (r *ProblemReport) Slot() string { return r.slot }

// Key is the report's key: a day, or a login session.
func (r *ProblemReport) Key() string { return r.key }
