package skv

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Sentinel errors, usable with errors.Is on any error from the client.
var (
	// ErrTokenRefused means the token endpoint refused the client
	// credentials or certificate (HTTP 400 or 401). Not retryable.
	ErrTokenRefused = errors.New("token refused")
	// ErrScopeMissing means the token endpoint granted a token without
	// every requested scope. Not retryable.
	ErrScopeMissing = errors.New("scope missing from granted token")
	// ErrGarbledResponse means a successful answer was not valid JSON:
	// empty, truncated or not JSON at all. Retryable.
	ErrGarbledResponse = errors.New("garbled response")
	// ErrUnexpectedResponse means a successful answer was valid JSON of
	// the wrong shape (an array for an object, a string for a number).
	// Not retryable.
	ErrUnexpectedResponse = errors.New("unexpected response")
	// ErrResponseTooLarge means an answer exceeded Config.MaxResponseBytes.
	// Not retryable.
	ErrResponseTooLarge = errors.New("response too large")
	// ErrCertificate means the TLS peer's or our own certificate was not
	// accepted. Not retryable.
	ErrCertificate = errors.New("certificate problem")
	// ErrInvalidArgument means an argument was rejected before any call.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrLoginEnded means the user's login behind Config.TokenSource has
	// ended (refresh refused or its limit reached). Not retryable.
	ErrLoginEnded = errors.New("user login ended")
	// ErrNoCertificate is returned by CertificateExpiry when no client
	// certificate is configured.
	ErrNoCertificate = errors.New("no client certificate configured")
	// ErrTokenNotAccepted means the API answered 401 to the access token
	// (revoked or expired) even after the client renewed it once. Not
	// retryable.
	ErrTokenNotAccepted = errors.New("access token not accepted")
)

// Felkod values: Skatteverket's error codes, as in Error.Felkod.
const (
	FelkodInvalidIdentity = 1 // 400 "Felaktigt organisationsnummer"
	FelkodInvalidDate     = 2 // 400 "Felaktigt datum"
	FelkodNoAccount       = 3 // 404 "Registrerat skattekonto saknas"
	FelkodInternal        = 4 // 500 "Internt fel"; retryable
	FelkodAccountClosed   = 5 // 503 "Skattekontot är stängt"; retryable
	FelkodNotAuthorised   = 6 // 403 "Auktorisation saknas": no agent authorisation
)

// Sentinels of the felkods, usable with errors.Is on any error from the
// client: an *Error matches the sentinel of its Felkod, whatever its
// message.
var (
	ErrInvalidIdentity error = felkodError(FelkodInvalidIdentity)
	ErrInvalidDate     error = felkodError(FelkodInvalidDate)
	ErrNoAccount       error = felkodError(FelkodNoAccount)
	ErrInternal        error = felkodError(FelkodInternal)
	ErrAccountClosed   error = felkodError(FelkodAccountClosed)
	ErrNotAuthorised   error = felkodError(FelkodNotAuthorised)
)

// felkodError is the sentinel of one felkod.
type felkodError int

var felkodMeaning = map[felkodError]string{
	FelkodInvalidIdentity: "invalid identity number",
	FelkodInvalidDate:     "invalid date",
	FelkodNoAccount:       "no tax account registered",
	FelkodInternal:        "internal error",
	FelkodAccountClosed:   "tax account closed",
	FelkodNotAuthorised:   "agent authorisation missing",
}

func (f felkodError) Error() string {
	return "felkod " + strconv.Itoa(int(f)) + ": " + felkodMeaning[f]
}

// Error is an unsuccessful answer from the API or a failed attempt to get
// one. Use errors.As to get it from an error returned by the client.
type Error struct {
	Op            Operation
	Status        int    // HTTP status of the answer; 0 when none came
	Felkod        int    // Skatteverket's error code, 0 when absent
	Felmeddelande string // Skatteverket's message, or a gateway's "error" text
	CorrelationID string // correlation id of the call that failed
	// RetryAfter is the server's Retry-After on 429 and 503 answers.
	RetryAfter time.Duration
	// Err is the underlying transport, token or decoding error, if any.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("skv")
	if e.Op != "" {
		b.WriteString(" ")
		b.WriteString(string(e.Op))
	}
	b.WriteString(":")
	sep := " "
	add := func(s string) {
		b.WriteString(sep)
		b.WriteString(s)
		sep = ", "
	}
	if e.Status != 0 {
		add("http " + strconv.Itoa(e.Status))
	}
	if e.Felkod != 0 {
		add("felkod " + strconv.Itoa(e.Felkod))
	}
	if e.Felmeddelande != "" {
		add("felmeddelande " + strconv.Quote(e.Felmeddelande))
	}
	if e.RetryAfter > 0 {
		add("retry after " + e.RetryAfter.String())
	}
	if e.CorrelationID != "" {
		add("correlation id " + e.CorrelationID)
	}
	if e.Err != nil {
		if sep == " " {
			b.WriteString(" ")
		} else {
			b.WriteString(": ")
		}
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is see what the answer shows: the sentinel of its
// felkod (ErrNoAccount, ErrNotAuthorised, …), and ErrScopeMissing for
// the gateway's refusal of a token that lacks the scope.
func (e *Error) Is(target error) bool {
	switch t := target.(type) {
	case felkodError:
		return e.Felkod == int(t)
	}
	return target == ErrScopeMissing && e.scopeRefused()
}

// scopeRefused reports whether the answer is the API gateway's refusal of
// a token without the required scope: 403 without a felkod, whose only
// distinguishing mark is its text, observed as {"error": "The required
// scopes are not authorized"}. Felkod 6, also a 403, is something else.
func (e *Error) scopeRefused() bool {
	return e.Status == http.StatusForbidden && e.Felkod == 0 &&
		strings.Contains(strings.ToLower(e.Felmeddelande), "scope")
}

// Retryable reports whether asking again later may succeed: felkod 4 and
// 5, HTTP 429, 500, 502, 503 and 504, timeouts, connection errors and
// garbled answers are; felkod 1, 2, 3 and 6, other 4xx answers, refused
// tokens, missing scopes, redirects and answers of the wrong shape are not.
func (e *Error) Retryable() bool {
	for _, permanent := range []error{ErrTokenRefused, ErrScopeMissing, ErrUnexpectedResponse,
		ErrResponseTooLarge, ErrCertificate, ErrInvalidArgument, ErrLoginEnded, ErrRedirect, context.Canceled} {
		if errors.Is(e.Err, permanent) {
			return false
		}
	}
	if errors.Is(e.Err, ErrGarbledResponse) {
		return true
	}
	switch e.Felkod {
	case FelkodInternal, FelkodAccountClosed:
		return true
	case FelkodInvalidIdentity, FelkodInvalidDate, FelkodNoAccount, FelkodNotAuthorised:
		return false
	}
	if e.Status != 0 && e.Status != 200 {
		return retryableStatus(e.Status)
	}
	return e.Err != nil
}

func retryableStatus(status int) bool {
	switch status {
	case 408, 429, 500, 502, 503, 504:
		return true
	}
	return false
}

// Retryable reports whether err, returned by the client, may go away when
// the operation is tried again later. Errors that are not an *Error
// (cancelled contexts, invalid arguments) are not retryable.
func Retryable(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Retryable()
	}
	return false
}

// Unreachable reports whether err, returned by the client, says that the
// API or its token endpoint gave no answer at all: the connection was
// refused, reset or cut, the host name did not resolve, or the call timed
// out. An answer of any status, a certificate the client refuses, a
// cancelled call and a wait for the rate limiter are not.
func Unreachable(err error) bool {
	var e *Error
	if !errors.As(err, &e) || e.Status != 0 || e.Err == nil ||
		errors.Is(e.Err, ErrCertificate) || errors.Is(e.Err, context.Canceled) {
		return false
	}
	var (
		op  *net.OpError
		dns *net.DNSError
	)
	return errors.As(e.Err, &op) || errors.As(e.Err, &dns) ||
		errors.Is(e.Err, context.DeadlineExceeded) || errors.Is(e.Err, os.ErrDeadlineExceeded) ||
		errors.Is(e.Err, io.EOF) || errors.Is(e.Err, io.ErrUnexpectedEOF) ||
		errors.Is(e.Err, syscall.ECONNRESET) || errors.Is(e.Err, syscall.ECONNREFUSED)
}

// tokenError is a refused or failed token request. Its message carries the
// token endpoint's status and OAuth2 error code but never the body, which
// could echo credentials.
type tokenError struct {
	status int
	code   string
	err    error // ErrTokenRefused or the retrieve/transport error
	cause  error
}

func (e *tokenError) Error() string {
	s := "token request"
	if e.status != 0 {
		s += " answered http " + strconv.Itoa(e.status)
	}
	if e.code != "" {
		s += " " + strconv.Quote(e.code)
	}
	return s + ": " + e.err.Error()
}

func (e *tokenError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.err}
	}
	return []error{e.err, e.cause}
}

// certificateError reports whether err is a TLS certificate verification
// failure, which a retry cannot fix.
func certificateError(err error) bool {
	var (
		unknown  x509.UnknownAuthorityError
		invalid  x509.CertificateInvalidError
		hostname x509.HostnameError
	)
	return errors.As(err, &unknown) || errors.As(err, &invalid) || errors.As(err, &hostname)
}

// wrapf is fmt.Errorf with an operation prefix.
func wrapf(op Operation, format string, args ...any) error {
	return fmt.Errorf("skv "+string(op)+": "+format, args...)
}
