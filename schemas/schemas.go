// Package schemas embeds the public JSON Schemas (draft 2020-12) and the
// AsyncAPI 3.1.0 document of skattekonto-events, and validates fetch requests
// whole CloudEvents, watch-list and SIE export requests and replies against
// them without touching the network.
//
// Layout (every file's $id is BaseURL + its path; refs between files are
// relative):
//
//	fetch-request.json     body of a message on skattekonto.fetch.<omfragad>
//	envelope.json          the CloudEvents 1.0 structured-mode envelope
//	defs.json              shared $defs (omfragad, amount, date, call, ...)
//	events/<Type>.json     the data object of event type skattekonto.<Type>
//	watch/request.json     body of a request on skattekonto.watch.register|unregister
//	watch/reply.json       the reply to a request on skattekonto.watch.*
//	sie/request.json       body of a request on skattekonto.sie.export
//	sie/reply.json         the reply to a request on skattekonto.sie.export
//	asyncapi.yaml          channels, messages and operations
//
// The JSON files are the contract; Go types that produce events must marshal
// to documents these schemas accept (every data object has
// additionalProperties: false).
package schemas

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
)

// BaseURL is the prefix of every schema's $id: the file's path in the
// repository is appended to it.
const BaseURL = "https://raw.githubusercontent.com/skattekonto-events/skattekonto-events/main/schemas/"

// Schema URLs of the files that are not event data schemas.
const (
	EnvelopeSchemaURL     = BaseURL + "envelope.json"
	FetchRequestSchemaURL = BaseURL + "fetch-request.json"
	DefsSchemaURL         = BaseURL + "defs.json"
	WatchRequestSchemaURL = BaseURL + "watch/request.json"
	WatchReplySchemaURL   = BaseURL + "watch/reply.json"
	SIERequestSchemaURL   = BaseURL + "sie/request.json"
	SIEReplySchemaURL     = BaseURL + "sie/reply.json"
)

// TypePrefix is the prefix of every CloudEvents type: "skattekonto.<EventType>".
const TypePrefix = contract.TypePrefix

// MaxFetchRequestSize is the largest fetch request body accepted (64 KiB).
const MaxFetchRequestSize = contract.MaxFetchRequestSize

// MaxWatchRequestSize is the largest watch-list request body accepted.
const MaxWatchRequestSize = contract.MaxWatchRequestSize

// MaxSIERequestSize is the largest SIE export request body accepted.
const MaxSIERequestSize = contract.MaxSIERequestSize

// maxIDBytes bounds requestId and session of a fetch request in bytes of
// UTF-8, as the service counts them (the schema's pattern counts characters).
const maxIDBytes = 64

// schemaDirs are the embedded directories whose *.json files are schemas.
var schemaDirs = []string{".", "events", "watch", "sie"}

//go:embed *.json events/*.json watch/*.json sie/*.json asyncapi.yaml
var files embed.FS

// DataSchemaURL returns the $id of the data schema of eventType (without the
// "skattekonto." prefix); it is the value of the event's dataschema attribute.
func DataSchemaURL(eventType string) string {
	return BaseURL + "events/" + eventType + ".json"
}

// FS returns the embedded schema files, laid out as in the repository's
// schemas/ directory.
func FS() fs.FS { return files }

// EventTypes returns, sorted, the names of all event types that have a data
// schema (events/<EventType>.json), without the "skattekonto." prefix.
func EventTypes() []string {
	entries, err := fs.ReadDir(files, "events")
	if err != nil {
		panic("schemas: embedded events directory missing: " + err.Error())
	}
	var types []string
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".json"); ok && !e.IsDir() {
			types = append(types, name)
		}
	}
	sort.Strings(types)
	return types
}

// Validator validates documents against the embedded schemas. It is safe for
// concurrent use.
type Validator struct {
	envelope     *jsonschema.Schema
	fetchRequest *jsonschema.Schema
	watchRequest *jsonschema.Schema
	watchReply   *jsonschema.Schema
	sieRequest   *jsonschema.Schema
	sieReply     *jsonschema.Schema
	data         map[string]*jsonschema.Schema // by event type
}

// NewValidator compiles every embedded schema. Each file is registered under
// its $id, so references resolve from memory and no network is touched; a
// file whose $id does not equal BaseURL + its path is an error. Formats
// (date, date-time, uri) are asserted in addition to the schemas' patterns.
func NewValidator() (*Validator, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.UseLoader(offlineLoader{})

	var paths []string
	for _, dir := range schemaDirs {
		more, err := fs.Glob(files, path.Join(dir, "*.json"))
		if err != nil {
			return nil, err
		}
		paths = append(paths, more...)
	}
	for _, p := range paths {
		b, err := fs.ReadFile(files, p)
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("schemas: %s: %w", p, err)
		}
		obj, _ := doc.(map[string]any)
		if id, _ := obj["$id"].(string); id != BaseURL+p {
			return nil, fmt.Errorf("schemas: %s: $id is %q, want %q", p, id, BaseURL+p)
		}
		if err := c.AddResource(BaseURL+p, doc); err != nil {
			return nil, fmt.Errorf("schemas: %s: %w", p, err)
		}
	}

	v := &Validator{data: make(map[string]*jsonschema.Schema)}
	for _, p := range paths {
		s, err := c.Compile(BaseURL + p)
		if err != nil {
			return nil, fmt.Errorf("schemas: compile %s: %w", p, err)
		}
		switch {
		case p == "envelope.json":
			v.envelope = s
		case p == "fetch-request.json":
			v.fetchRequest = s
		case p == "watch/request.json":
			v.watchRequest = s
		case p == "watch/reply.json":
			v.watchReply = s
		case p == "sie/request.json":
			v.sieRequest = s
		case p == "sie/reply.json":
			v.sieReply = s
		case strings.HasPrefix(p, "events/"):
			v.data[strings.TrimSuffix(path.Base(p), ".json")] = s
		}
	}
	if v.envelope == nil || v.fetchRequest == nil || v.watchRequest == nil || v.watchReply == nil ||
		v.sieRequest == nil || v.sieReply == nil || len(v.data) == 0 {
		return nil, errors.New("schemas: embedded files incomplete")
	}
	return v, nil
}

// offlineLoader refuses every URL that was not registered from the embedded
// files, so a stray absolute $ref fails instead of reaching the network.
type offlineLoader struct{}

func (offlineLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("schemas: %s is not an embedded schema (no network access)", url)
}

var canonicalOmfragad = regexp.MustCompile(`^[0-9]{12}$`)

// ValidateEvent validates doc, a whole CloudEvent in structured JSON mode: the
// envelope against envelope.json; then type must be "skattekonto.<EventType>"
// for a known EventType, dataschema must equal DataSchemaURL(EventType), and
// data must be valid against events/<EventType>.json. Finally the subject must
// agree with the data: a 12-digit subject equals data.omfragad (except for
// FetchFailed, which reports the request as received), and a service-wide
// AccessProblem has an empty omfragad. The error names the rule that failed.
func (v *Validator) ValidateEvent(doc []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return fmt.Errorf("event is not valid JSON: %w", err)
	}
	if err := v.envelope.Validate(inst); err != nil {
		return fmt.Errorf("envelope: %w", err)
	}
	ev := inst.(map[string]any) // the envelope schema requires an object
	typ := ev["type"].(string)
	name := strings.TrimPrefix(typ, TypePrefix)
	sch, ok := v.data[name]
	if !ok {
		return fmt.Errorf("type %q: unknown event type (no schema events/%s.json)", typ, name)
	}
	if got, want := ev["dataschema"].(string), DataSchemaURL(name); got != want {
		return fmt.Errorf("dataschema %q: must be %q for type %q", got, want, typ)
	}
	if err := sch.Validate(ev["data"]); err != nil {
		return fmt.Errorf("data of %s: %w", typ, err)
	}
	subject := ev["subject"].(string)
	omf, _ := ev["data"].(map[string]any)["omfragad"].(string)
	switch {
	case canonicalOmfragad.MatchString(subject) && name != "FetchFailed" && omf != subject:
		return fmt.Errorf("subject %q: must equal data.omfragad %q", subject, omf)
	case subject == contract.ServiceToken && omf != "":
		return fmt.Errorf("subject \"service\": data.omfragad must be empty, got %q", omf)
	}
	return nil
}

// ValidateData validates data, the data object of an event of eventType
// (without the "skattekonto." prefix), against events/<eventType>.json. It
// suits tests of the Go types that marshal event data.
func (v *Validator) ValidateData(eventType string, data []byte) error {
	sch, ok := v.data[eventType]
	if !ok {
		return fmt.Errorf("unknown event type %q (no schema events/%s.json)", eventType, eventType)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("data is not valid JSON: %w", err)
	}
	if err := sch.Validate(inst); err != nil {
		return fmt.Errorf("data of %s%s: %w", TypePrefix, eventType, err)
	}
	return nil
}

// ValidateFetchRequest validates doc, the body of a fetch request, against
// fetch-request.json. An empty (or all-whitespace) body is a valid request
// for everything; a body over MaxFetchRequestSize is rejected, and so are a
// requestId or session longer than 64 bytes of UTF-8 (the schema counts
// characters). The schema does not check the Luhn digit of omfragad nor that
// it names the subject's account; the service does.
func (v *Validator) ValidateFetchRequest(doc []byte) error {
	if len(doc) > MaxFetchRequestSize {
		return fmt.Errorf("fetch request is %d bytes: at most %d (64 KiB) allowed", len(doc), MaxFetchRequestSize)
	}
	if len(bytes.TrimSpace(doc)) == 0 {
		return nil
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return fmt.Errorf("fetch request is not valid JSON: %w", err)
	}
	if err := v.fetchRequest.Validate(inst); err != nil {
		return fmt.Errorf("fetch request: %w", err)
	}
	obj := inst.(map[string]any) // the schema requires an object
	for _, name := range []string{"requestId", "session"} {
		if s, ok := obj[name].(string); ok && len(s) > maxIDBytes {
			return fmt.Errorf("fetch request: %s: %d bytes, at most %d allowed", name, len(s), maxIDBytes)
		}
	}
	return nil
}

// ValidateWatchRequest validates doc, the body of a request on
// skattekonto.watch.register or skattekonto.watch.unregister, against
// watch/request.json. The body must be a JSON object naming omfragad (an
// empty body is not a request); one over MaxWatchRequestSize is rejected.
// skattekonto.watch.list reads no body, so there is nothing to validate. The
// service also checks the Luhn digit of omfragad and the cadence's syntax.
func (v *Validator) ValidateWatchRequest(doc []byte) error {
	if len(doc) > MaxWatchRequestSize {
		return fmt.Errorf("watch request is %d bytes: at most %d (64 KiB) allowed", len(doc), MaxWatchRequestSize)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return fmt.Errorf("watch request is not valid JSON: %w", err)
	}
	if err := v.watchRequest.Validate(inst); err != nil {
		return fmt.Errorf("watch request: %w", err)
	}
	return nil
}

// ValidateWatchReply validates doc, the reply to a request on
// skattekonto.watch.register, .unregister or .list, against
// watch/reply.json.
func (v *Validator) ValidateWatchReply(doc []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return fmt.Errorf("watch reply is not valid JSON: %w", err)
	}
	if err := v.watchReply.Validate(inst); err != nil {
		return fmt.Errorf("watch reply: %w", err)
	}
	return nil
}

// ValidateSIERequest validates doc, the body of a request on
// skattekonto.sie.export, against sie/request.json; a body over
// MaxSIERequestSize is rejected. The service also checks the Luhn digit
// of omfragad and that from is not after to.
func (v *Validator) ValidateSIERequest(doc []byte) error {
	if len(doc) > MaxSIERequestSize {
		return fmt.Errorf("SIE export request is %d bytes: at most %d (4 KiB) allowed", len(doc), MaxSIERequestSize)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return fmt.Errorf("SIE export request is not valid JSON: %w", err)
	}
	if err := v.sieRequest.Validate(inst); err != nil {
		return fmt.Errorf("SIE export request: %w", err)
	}
	return nil
}

// ValidateSIEReply validates doc, the reply to a request on
// skattekonto.sie.export, against sie/reply.json.
func (v *Validator) ValidateSIEReply(doc []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return fmt.Errorf("SIE export reply is not valid JSON: %w", err)
	}
	if err := v.sieReply.Validate(inst); err != nil {
		return fmt.Errorf("SIE export reply: %w", err)
	}
	return nil
}
