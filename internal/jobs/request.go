package jobs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/skattekonto-events/skattekonto-events/internal/idnr"
	"github.com/skattekonto-events/skattekonto-events/internal/skv"
)

// MaxRequestSize is the largest fetch request accepted (CONTRACT §3).
const MaxRequestSize = 64 << 10

// FetchSubjectPrefix starts every fetch request's subject.
const FetchSubjectPrefix = "skattekonto.fetch."

// Request is a validated fetch request.
type Request struct {
	Account    idnr.Number
	Operations []skv.Operation // never empty; in the order they are called
	// ExplicitOps is set when the request named its operations: then no
	// slower cadence applies to them.
	ExplicitOps bool
	DatumFrom   string
	RequestID   string
	Force       bool
	// Auth is the credential that serves the request: AuthOrganisation
	// (client credentials with the organisation certificate) or AuthUser
	// (a person's login session, named by Session).
	Auth    string
	Session string
}

// Credentials a request can name.
const (
	AuthOrganisation = "organisation"
	AuthUser         = "user"
)

// wireRequest is the JSON form of a fetch request.
type wireRequest struct {
	Omfragad   *string   `json:"omfragad"`
	Operations *[]string `json:"operations"`
	DatumFrom  *string   `json:"datumFrom"`
	RequestID  *string   `json:"requestId"`
	Force      *bool     `json:"force"`
	Auth       *string   `json:"auth"`
	Session    *string   `json:"session"`
}

// RequestError says why a fetch request is invalid. RequestID is set when
// the request's id could be read, so that the answer can name it; Account
// when the account could be told.
type RequestError struct {
	Reason    string
	RequestID string
	Account   idnr.Number
	// Unparsed is set when the body could not be parsed at all; its
	// answer goes to skattekonto.events.invalid.FetchFailed (CONTRACT §2).
	Unparsed bool
}

func (e *RequestError) Error() string { return "invalid fetch request: " + e.Reason }

// ParseRequest validates a fetch request received on the subject token tok
// (the part after "skattekonto.fetch."). An empty body asks for everything.
func ParseRequest(tok string, body []byte, today time.Time) (Request, error) {
	var req Request
	subjAcct, subjErr := idnr.Parse(tok)
	fail := func(format string, args ...any) (Request, error) {
		e := &RequestError{Reason: fmt.Sprintf(format, args...), RequestID: req.RequestID}
		// The answer goes where the request was sent; failing that, to the
		// account the body names.
		if subjErr == nil {
			e.Account = subjAcct
		} else if !req.Account.IsZero() {
			e.Account = req.Account
		}
		return Request{}, e
	}
	if len(body) > MaxRequestSize {
		return unparsed(fail("body is %d bytes, more than the %d allowed", len(body), MaxRequestSize))
	}
	var w wireRequest
	if len(bytes.TrimSpace(body)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&w); err != nil {
			// Try to rescue the request id for the answer.
			var loose struct {
				RequestID string `json:"requestId"`
			}
			if json.Unmarshal(body, &loose) == nil && validRequestID(loose.RequestID) == nil {
				req.RequestID = loose.RequestID
			}
			return unparsed(fail("body is not a valid JSON request: %s", jsonProblem(err)))
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			return unparsed(fail("body has data after the JSON object"))
		}
	}
	if w.RequestID != nil {
		if err := validRequestID(*w.RequestID); err != nil {
			return fail("requestId: %v", err)
		}
		req.RequestID = *w.RequestID
	}
	switch {
	case w.Omfragad != nil:
		a, err := idnr.Parse(*w.Omfragad)
		if err != nil {
			return fail("omfragad: %v", err)
		}
		req.Account = a
		if subjErr != nil {
			return fail("subject token is not an identity number: %v", subjErr)
		}
		if subjAcct != a {
			return fail("omfragad %s names another account than the subject's %s", a.Masked(), subjAcct.Masked())
		}
	case subjErr != nil:
		return fail("subject token is not an identity number: %v", subjErr)
	default:
		req.Account = subjAcct
	}
	if w.Operations != nil {
		if len(*w.Operations) == 0 {
			return fail("operations: empty list (omit it to fetch everything)")
		}
		for _, op := range *w.Operations {
			o := skv.Operation(op)
			if !slices.Contains(skv.Operations, o) {
				return fail("operations: unknown operation %q (want saldo, transaktioner, utbetalningskonto or utbetalningssparrar)", truncate(op, 40))
			}
			if slices.Contains(req.Operations, o) {
				return fail("operations: %q listed twice", op)
			}
			req.Operations = append(req.Operations, o)
		}
		req.ExplicitOps = true
		// Call in the canonical order, whatever order was asked.
		sortOps(req.Operations)
	} else {
		req.Operations = slices.Clone(skv.Operations)
	}
	if w.DatumFrom != nil {
		d, err := time.Parse(time.DateOnly, *w.DatumFrom)
		if err != nil {
			return fail("datumFrom: %q is not a date YYYY-MM-DD", truncate(*w.DatumFrom, 20))
		}
		if d.After(today) {
			return fail("datumFrom: %s is in the future", *w.DatumFrom)
		}
		req.DatumFrom = *w.DatumFrom
	}
	if w.Force != nil {
		req.Force = *w.Force
	}
	req.Auth = AuthOrganisation
	if w.Auth != nil {
		switch *w.Auth {
		case AuthOrganisation, AuthUser:
			req.Auth = *w.Auth
		default:
			return fail("auth: %q is not %q or %q", truncate(*w.Auth, 20), AuthOrganisation, AuthUser)
		}
	}
	if w.Session != nil {
		if err := validRequestID(*w.Session); err != nil {
			return fail("session: %v", err)
		}
		req.Session = *w.Session
	}
	switch {
	case req.Auth == AuthUser && req.Session == "":
		return fail(`session: required with "auth": "user"`)
	case req.Auth == AuthOrganisation && req.Session != "":
		return fail(`session: only with "auth": "user"`)
	}
	return req, nil
}

// unparsed marks a request error as one of a body that could not be parsed.
func unparsed(r Request, err error) (Request, error) {
	var re *RequestError
	if errors.As(err, &re) {
		re.Unparsed = true
	}
	return r, err
}

func validRequestID(id string) error {
	switch {
	case id == "":
		return errors.New("empty")
	case len(id) > 64:
		return fmt.Errorf("%d bytes, at most 64 allowed", len(id))
	case !utf8.ValidString(id):
		return errors.New("not valid UTF-8")
	case strings.IndexFunc(id, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0:
		return errors.New("contains control characters")
	}
	return nil
}

func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("syntax error at byte %d", syn.Offset)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return fmt.Sprintf("want a JSON object, got %s", typ.Value)
		}
		return fmt.Sprintf("field %s: want %s, got %s", typ.Field, typ.Type, typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated JSON"
	}
	return truncate(err.Error(), 120)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// sortOps puts operations in the order they are called.
func sortOps(ops []skv.Operation) {
	slices.SortFunc(ops, func(a, b skv.Operation) int {
		return slices.Index(skv.Operations, a) - slices.Index(skv.Operations, b)
	})
}
