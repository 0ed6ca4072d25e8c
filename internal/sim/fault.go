package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// FaultKind names an injected fault.
type FaultKind string

// The fault kinds.
const (
	FaultFelkod       FaultKind = "felkod"        // felkod answer (Fault.Felkod, default 4) with its HTTP status
	FaultHTTP429      FaultKind = "http429"       // 429 with Retry-After (Fault.RetryAfter, default 1s)
	FaultHTTP503      FaultKind = "http503"       // gateway 503 without felkod
	FaultHTTP502      FaultKind = "http502"       // gateway 502 without felkod
	FaultLatency      FaultKind = "latency"       // delay by Fault.Latency, then answer normally
	FaultHang         FaultKind = "hang"          // block until the request's context ends
	FaultTruncated    FaultKind = "truncated"     // HTTP 200, the first half of the normal body
	FaultNonJSON      FaultKind = "nonjson"       // HTTP 200 with an HTML body
	FaultTokenRefused FaultKind = "token-refused" // token endpoint answers 401 invalid_client
	FaultScopeMissing FaultKind = "scope-missing" // token endpoint grants another scope
	// Answers that drift from the description (reshape.go). Fault.Field
	// is a top-level key or "list[].key", a key of every element of a
	// list.
	FaultExtraField  FaultKind = "extra-field"  // the answer gains Fault.Field (value "simulerat")
	FaultDropField   FaultKind = "drop-field"   // the answer loses Fault.Field
	FaultRenameField FaultKind = "rename-field" // the answer's top-level Fault.Field is called Fault.To
)

var faultKinds = map[FaultKind]bool{
	FaultFelkod: true, FaultHTTP429: true, FaultHTTP503: true, FaultHTTP502: true,
	FaultLatency: true, FaultHang: true, FaultTruncated: true, FaultNonJSON: true,
	FaultTokenRefused: true, FaultScopeMissing: true,
	FaultExtraField: true, FaultDropField: true, FaultRenameField: true,
}

// Fault is an injected misbehaviour.
//
// Omfragad "" matches every account; Operation "" matches the four API
// operations. The token endpoint is matched by Operation "token" and by
// the token kinds (token-refused, scope-missing), which never affect API
// operations. A fault acts on the next Count matching calls; Count <= 0
// keeps it until ClearFaults. Latency, when set, delays any kind before
// it acts. Faults act after the gateway checks (keys, token, correlation
// id, rate limit) passed; the first matching fault in injection order wins.
//
// In JSON, durations are strings ("1.5s") or numbers of seconds.
type Fault struct {
	Omfragad   string        `json:"omfragad,omitempty"`
	Operation  string        `json:"operation,omitempty"`
	Kind       FaultKind     `json:"kind"`
	Count      int           `json:"count,omitempty"`
	Felkod     int           `json:"felkod,omitempty"`
	RetryAfter time.Duration `json:"retryAfter,omitempty"`
	Latency    time.Duration `json:"latency,omitempty"`
	// Field and To name the fields of extra-field, drop-field and
	// rename-field.
	Field string `json:"field,omitempty"`
	To    string `json:"to,omitempty"`
}

type faultJSON struct {
	Omfragad   string          `json:"omfragad,omitempty"`
	Operation  string          `json:"operation,omitempty"`
	Kind       FaultKind       `json:"kind"`
	Count      int             `json:"count,omitempty"`
	Felkod     int             `json:"felkod,omitempty"`
	RetryAfter json.RawMessage `json:"retryAfter,omitempty"`
	Latency    json.RawMessage `json:"latency,omitempty"`
	Field      string          `json:"field,omitempty"`
	To         string          `json:"to,omitempty"`
}

// MarshalJSON renders durations as strings.
func (f Fault) MarshalJSON() ([]byte, error) {
	j := faultJSON{Omfragad: f.Omfragad, Operation: f.Operation, Kind: f.Kind, Count: f.Count, Felkod: f.Felkod, Field: f.Field, To: f.To}
	if f.RetryAfter != 0 {
		j.RetryAfter, _ = json.Marshal(f.RetryAfter.String())
	}
	if f.Latency != 0 {
		j.Latency, _ = json.Marshal(f.Latency.String())
	}
	return json.Marshal(j)
}

// UnmarshalJSON accepts durations as strings or numbers of seconds.
func (f *Fault) UnmarshalJSON(b []byte) error {
	var j faultJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return err
	}
	ra, err := parseDurationJSON(j.RetryAfter)
	if err != nil {
		return fmt.Errorf("retryAfter: %w", err)
	}
	lat, err := parseDurationJSON(j.Latency)
	if err != nil {
		return fmt.Errorf("latency: %w", err)
	}
	*f = Fault{Omfragad: j.Omfragad, Operation: j.Operation, Kind: j.Kind, Count: j.Count, Felkod: j.Felkod, RetryAfter: ra, Latency: lat,
		Field: j.Field, To: j.To}
	return nil
}

func parseDurationJSON(raw json.RawMessage) (time.Duration, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return time.ParseDuration(s)
	}
	var secs float64
	if err := json.Unmarshal(raw, &secs); err != nil {
		return 0, fmt.Errorf("want a duration string or seconds, got %s", raw)
	}
	return time.Duration(secs * float64(time.Second)), nil
}

// Validate reports whether the fault is well-formed.
func (f Fault) Validate() error {
	if !faultKinds[f.Kind] {
		return fmt.Errorf("%w: unknown fault kind %q", ErrInvalid, f.Kind)
	}
	switch f.Operation {
	case "", OpSaldo, OpTransaktioner, OpUtbetalningskonto, OpUtbetalningssparrar, OpToken:
	default:
		return fmt.Errorf("%w: unknown operation %q", ErrInvalid, f.Operation)
	}
	if f.Kind == FaultFelkod && f.Felkod != 0 {
		if _, ok := felkoder[f.Felkod]; !ok {
			return fmt.Errorf("%w: felkod %d is not 1..6", ErrInvalid, f.Felkod)
		}
	}
	if f.Kind == FaultLatency && f.Latency <= 0 {
		return fmt.Errorf("%w: latency fault needs a positive latency", ErrInvalid)
	}
	if err := f.validateReshape(); err != nil {
		return err
	}
	if f.Omfragad != "" && !ValidOmfragad(f.Omfragad) {
		return fmt.Errorf("%w: omfragad %s is not 12 digits with a valid check digit", ErrInvalid, Mask(f.Omfragad))
	}
	return nil
}

// InjectFault adds a fault. An invalid fault is ignored; the admin API
// validates with Fault.Validate and answers 400.
func (s *Sim) InjectFault(f Fault) {
	if f.Validate() != nil {
		s.log.Warn().Str("kind", string(f.Kind)).Msg("sim: invalid fault ignored")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// ClearFaults removes every fault.
func (s *Sim) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// Faults returns the active faults, with their remaining counts.
func (s *Sim) Faults() []Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Fault, 0, len(s.faults))
	for _, f := range s.faults {
		out = append(out, *f)
	}
	return out
}

func (f *Fault) matches(omf, op string) bool {
	if f.Omfragad != "" && f.Omfragad != omf {
		return false
	}
	tokenKind := f.Kind == FaultTokenRefused || f.Kind == FaultScopeMissing
	if op == OpToken {
		return f.Operation == OpToken || (f.Operation == "" && tokenKind)
	}
	return !tokenKind && (f.Operation == "" || f.Operation == op)
}

// takeFault returns a copy of the first fault matching the call and
// consumes one of its uses.
func (s *Sim) takeFault(omf, op string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if !f.matches(omf, op) {
			continue
		}
		c := *f
		if f.Count > 0 {
			f.Count--
			if f.Count == 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
		}
		return &c
	}
	return nil
}
