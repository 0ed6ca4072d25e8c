package webhooks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
)

// Defaults of an endpoint's settings when its entry in the file leaves
// them out.
const (
	DefaultTimeout = 10 * time.Second
	DefaultMaxAge  = 72 * time.Hour
	// MaxTimeout bounds an endpoint's timeout.
	MaxTimeout = 5 * time.Minute
	// MaxFileSize bounds the endpoints' file and a secret file.
	MaxFileSize = 1 << 20
)

// DefaultSubjects is what an endpoint without "subjects" receives: every
// event. The internal subjects (the accounts' state, fetch requests,
// schedules, the webhooks' own dead letters) are not under
// skattekonto.events, so no endpoint can receive them.
var DefaultSubjects = []string{contract.AllEvents}

// Errors an endpoint's entry can have, for errors.Is.
var (
	ErrName     = errors.New("invalid name")
	ErrURL      = errors.New("invalid url")
	ErrSecret   = errors.New("invalid secret")
	ErrSubjects = errors.New("invalid subjects")
	ErrDuration = errors.New("invalid duration")
)

// EndpointError is what is wrong with one endpoint of the file. It names
// the endpoint (or its position when it has no usable name) and the field,
// never a secret or a URL's query.
type EndpointError struct {
	// Endpoint is the endpoint's name, or "#n" (from 1) without one.
	Endpoint string
	// Field is the JSON member at fault.
	Field string
	Err   error
}

func (e *EndpointError) Error() string {
	return fmt.Sprintf("endpoint %s: %s: %v", e.Endpoint, e.Field, e.Err)
}

func (e *EndpointError) Unwrap() error { return e.Err }

// Defaults are the settings an endpoint that leaves them out gets: the
// worker's WEBHOOKS_TIMEOUT and WEBHOOKS_MAX_AGE. Zero values mean
// DefaultTimeout and DefaultMaxAge.
type Defaults struct {
	Timeout time.Duration
	MaxAge  time.Duration
}

func (d Defaults) withZeroFilled() Defaults {
	if d.Timeout == 0 {
		d.Timeout = DefaultTimeout
	}
	if d.MaxAge == 0 {
		d.MaxAge = DefaultMaxAge
	}
	return d
}

// Endpoint is one checked endpoint of the file.
type Endpoint struct {
	// Name is unique in the file and safe in a subject and a consumer
	// name: lowercase letters, digits, - and _.
	Name string
	// Secret signs the deliveries.
	Secret Secret
	// Subjects filter the events delivered (NATS subject filters under
	// skattekonto.events, none overlapping another).
	Subjects []string
	// Timeout bounds one delivery attempt.
	Timeout time.Duration
	// MaxAge is how long after it was stored an event is retried before it
	// goes to the dead letters.
	MaxAge time.Duration

	// url is where events are POSTed. It may carry a query with a token:
	// never show it, show Target.
	url *url.URL
}

// Target is the endpoint's URL without user, query and fragment: what
// logs and errors show.
func (e *Endpoint) Target() string { return target(e.url) }

// String names the endpoint and its target. It and GoString have value
// receivers so that no verb of fmt prints the URL's query.
func (e Endpoint) String() string { return e.Name + " (" + e.Target() + ")" }

// GoString is String, for %#v.
func (e Endpoint) GoString() string { return "webhooks.Endpoint(" + e.String() + ")" }

// MarshalZerologObject logs the endpoint without its secret and query.
func (e *Endpoint) MarshalZerologObject(ev *zerolog.Event) {
	ev.Str("name", e.Name).Str("target", e.Target()).Strs("subjects", e.Subjects).
		Dur("timeout", e.Timeout).Dur("maxAge", e.MaxAge)
}

// equal reports whether two endpoints have the same settings.
func (e *Endpoint) equal(o *Endpoint) bool {
	return e.Name == o.Name && e.url.String() == o.url.String() && e.Secret.equal(o.Secret) &&
		slices.Equal(e.Subjects, o.Subjects) && e.Timeout == o.Timeout && e.MaxAge == o.MaxAge
}

func target(u *url.URL) string {
	if u == nil {
		return ""
	}
	t := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	return t.String()
}

// fileSpec is the JSON form of the endpoints' file.
type fileSpec struct {
	Endpoints []endpointSpec `json:"endpoints"`
}

type endpointSpec struct {
	Name       string    `json:"name"`
	URL        string    `json:"url"`
	Secret     string    `json:"secret"`
	SecretFile string    `json:"secretFile"`
	Subjects   *[]string `json:"subjects"`
	Timeout    string    `json:"timeout"`
	MaxAge     string    `json:"maxAge"`
}

// LoadFile reads and checks the endpoints' file at path. A relative
// secretFile is read from path's directory.
func LoadFile(path string, d Defaults) ([]Endpoint, error) {
	b, err := readLimited(path)
	if err != nil {
		return nil, fmt.Errorf("webhooks file: %w", err)
	}
	eps, err := Parse(b, filepath.Dir(path), d)
	if err != nil {
		return nil, fmt.Errorf("webhooks file %s: %w", path, err)
	}
	return eps, nil
}

func readLimited(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > MaxFileSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, MaxFileSize)
	}
	return b, nil
}

// Parse checks the endpoints' file given as data: {"endpoints": [{"name",
// "url", "secret" or "secretFile", "subjects"?, "timeout"?, "maxAge"?}]}.
// Unknown members are errors (a typo must not pass silently). A relative
// secretFile is read from dir. Every problem is reported, each an
// *EndpointError where it concerns one endpoint.
func Parse(data []byte, dir string, d Defaults) ([]Endpoint, error) {
	d = d.withZeroFilled()
	var spec fileSpec
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		return nil, fmt.Errorf("not the endpoints' JSON: %w", jsonError(err))
	}
	if dec.More() {
		return nil, errors.New("not the endpoints' JSON: more than one JSON value")
	}
	var errs []error
	eps := make([]Endpoint, 0, len(spec.Endpoints))
	seen := map[string]bool{}
	for i, s := range spec.Endpoints {
		label := fmt.Sprintf("#%d", i+1)
		if nameRE.MatchString(s.Name) {
			label = s.Name
		}
		ep, problems := s.check(dir, d)
		if ep.Name != "" && seen[ep.Name] {
			problems = append(problems, field{"name", fmt.Errorf("%w: %q is used by an earlier endpoint", ErrName, ep.Name)})
		}
		seen[ep.Name] = true
		for _, p := range problems {
			errs = append(errs, &EndpointError{Endpoint: label, Field: p.name, Err: p.err})
		}
		eps = append(eps, ep)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return eps, nil
}

// jsonError keeps what helps find the mistake and drops values, which
// could be a secret.
func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("syntax error at byte %d", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Errorf("%s is a JSON %s, want %s", typ.Field, typ.Value, typ.Type)
	}
	return err
}

type field struct {
	name string
	err  error
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

func (s *endpointSpec) check(dir string, d Defaults) (Endpoint, []field) {
	var problems []field
	bad := func(name string, err error) { problems = append(problems, field{name, err}) }
	ep := Endpoint{Timeout: d.Timeout, MaxAge: d.MaxAge}
	if nameRE.MatchString(s.Name) {
		ep.Name = s.Name
	} else {
		bad("name", fmt.Errorf("%w: want 1 to 32 of a-z, 0-9, - and _, starting with a letter or digit", ErrName))
	}
	u, err := checkURL(s.URL)
	if err != nil {
		bad("url", err)
	}
	ep.url = u
	switch {
	case s.Secret != "" && s.SecretFile != "":
		bad("secret", fmt.Errorf("%w: give secret or secretFile, not both", ErrSecret))
	case s.Secret != "":
		ep.Secret, err = ParseSecret(s.Secret)
		if err != nil {
			bad("secret", err)
		}
	case s.SecretFile != "":
		ep.Secret, err = readSecret(dir, s.SecretFile)
		if err != nil {
			bad("secretFile", err)
		}
	default:
		bad("secret", fmt.Errorf("%w: secret or secretFile is required", ErrSecret))
	}
	ep.Subjects = slices.Clone(DefaultSubjects)
	if s.Subjects != nil {
		ep.Subjects = slices.Clone(*s.Subjects)
		if err := checkSubjects(ep.Subjects); err != nil {
			bad("subjects", err)
		}
	}
	if s.Timeout != "" {
		ep.Timeout, err = time.ParseDuration(s.Timeout)
		if err != nil || ep.Timeout <= 0 || ep.Timeout > MaxTimeout {
			bad("timeout", fmt.Errorf("%w: %q is not a duration above 0 and at most %s", ErrDuration, s.Timeout, MaxTimeout))
		}
	}
	if s.MaxAge != "" {
		ep.MaxAge, err = time.ParseDuration(s.MaxAge)
		if err != nil || ep.MaxAge < time.Second {
			bad("maxAge", fmt.Errorf("%w: %q is not a duration of at least 1s", ErrDuration, s.MaxAge))
		}
	}
	return ep, problems
}

// checkURL accepts an absolute https URL, or http to a loopback host. Its
// errors never show the URL, which may hold a token.
func checkURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, fmt.Errorf("%w: required", ErrURL)
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("%w: not a URL: %v", ErrURL, err)
	}
	if u.Host == "" || u.Opaque != "" {
		return nil, fmt.Errorf("%w: not an absolute URL with a host", ErrURL)
	}
	switch u.Scheme {
	case "https":
		return u, nil
	case "http":
		if isLoopback(u.Hostname()) {
			return u, nil
		}
		return nil, fmt.Errorf("%w: plain http is accepted only to loopback hosts, not %s", ErrURL, u.Hostname())
	}
	return nil, fmt.Errorf("%w: scheme %q is not https", ErrURL, u.Scheme)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// readSecret reads a secret file: one whsec_ secret, surrounding white
// space ignored.
func readSecret(dir, name string) (Secret, error) {
	path := name
	if !filepath.IsAbs(path) {
		path = filepath.Join(dir, path)
	}
	b, err := readLimited(path)
	if err != nil {
		return Secret{}, fmt.Errorf("%w: %v", ErrSecret, err)
	}
	s, err := ParseSecret(strings.TrimSpace(string(b)))
	if err != nil {
		return Secret{}, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// checkSubjects accepts NATS subject filters under skattekonto.events
// (wildcards allowed after it), none overlapping another: a consumer's
// filters must not overlap.
func checkSubjects(subjects []string) error {
	if len(subjects) == 0 {
		return fmt.Errorf("%w: an empty list receives nothing; leave subjects out for every event", ErrSubjects)
	}
	for i, s := range subjects {
		if err := checkSubject(s); err != nil {
			return err
		}
		for _, o := range subjects[:i] {
			if overlap(s, o) {
				return fmt.Errorf("%w: %q and %q overlap (an event would match both)", ErrSubjects, o, s)
			}
		}
	}
	return nil
}

func checkSubject(s string) error {
	toks := strings.Split(s, ".")
	if len(toks) < 3 || toks[0] != "skattekonto" || toks[1] != "events" {
		return fmt.Errorf("%w: %q is not under %s (e.g. skattekonto.events.*.NewTransaction)", ErrSubjects, s, contract.AllEvents)
	}
	for i, t := range toks {
		switch {
		case t == "":
			return fmt.Errorf("%w: %q has an empty token", ErrSubjects, s)
		case t == ">" && i != len(toks)-1:
			return fmt.Errorf("%w: %q has > before its last token", ErrSubjects, s)
		case t != "*" && t != ">" && strings.ContainsAny(t, "*> \t\r\n"):
			return fmt.Errorf("%w: %q has a wildcard or white space inside a token", ErrSubjects, s)
		}
		for _, r := range t {
			if r < 0x20 || r == 0x7f {
				return fmt.Errorf("%w: %q has a control character", ErrSubjects, s)
			}
		}
	}
	return nil
}

// overlap reports whether some subject matches both filters.
func overlap(a, b string) bool {
	at, bt := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(at) && i < len(bt); i++ {
		x, y := at[i], bt[i]
		if x == ">" || y == ">" {
			return true
		}
		if x != y && x != "*" && y != "*" {
			return false
		}
	}
	return len(at) == len(bt)
}
