package webhooks

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// ContentType is the body's media type: the CloudEvents HTTP binding's
// structured mode for JSON.
const ContentType = "application/cloudevents+json"

// userAgent is sent with every delivery.
const userAgent = "skattekonto-events-webhooks"

// maxAnswer is how much of an answer's body is read; the rest is dropped.
const maxAnswer = 64 << 10

// Result classes an attempt ends in: the values of the result label of
// skattekonto_webhook_deliveries_total.
type Result string

// The result classes.
const (
	ResultOK          Result = "ok"           // 2xx: delivered
	ResultRedirect    Result = "redirect"     // 3xx: not followed, a failure
	ResultClientError Result = "client_error" // 4xx
	ResultServerError Result = "server_error" // 5xx, or another status
	ResultTimeout     Result = "timeout"      // no answer within the endpoint's timeout
	ResultUnreachable Result = "unreachable"  // no answer: refused, DNS, TLS, reset
)

// NewClient returns the HTTP client deliveries use: it follows no
// redirect (a 3xx answer is returned as it is, and counts as a failure),
// speaks TLS 1.2 or later, and has no overall timeout (each attempt's
// context has the endpoint's).
func NewClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	tr.MaxIdleConnsPerHost = 4
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Answer is what an endpoint answered to one attempt.
type Answer struct {
	// Status is the HTTP status, 0 when no answer came.
	Status int
	// Body is the start of the answer's body (at most 64 KiB).
	Body []byte
	// Duration is the attempt's time, from sending to the end of the body.
	Duration time.Duration
	// Result is the attempt's class.
	Result Result
}

// DeliveryError is a failed attempt: an answer that is not 2xx, or none.
// Its text names the endpoint by name and target, never its query.
type DeliveryError struct {
	Endpoint string
	Target   string
	Result   Result
	// Status is the HTTP status, 0 when no answer came.
	Status int
	// Err is why no answer came; nil when one did.
	Err error
}

func (e *DeliveryError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("webhook %s (%s): answered %d %s", e.Endpoint, e.Target, e.Status, http.StatusText(e.Status))
	}
	return fmt.Sprintf("webhook %s (%s): %s: %v", e.Endpoint, e.Target, e.Result, e.Err)
}

func (e *DeliveryError) Unwrap() error { return e.Err }

// Send POSTs body, an event as stored, to ep, signed for id at now. It
// returns the answer, and a *DeliveryError unless the answer is 2xx. The
// attempt ends at ctx's end or after ep.Timeout, whichever comes first.
func Send(ctx context.Context, client *http.Client, ep *Endpoint, id string, body []byte, now time.Time) (Answer, error) {
	ctx, cancel := context.WithTimeout(ctx, ep.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.url.String(), bytes.NewReader(body))
	if err != nil {
		return Answer{Result: ResultUnreachable}, &DeliveryError{Endpoint: ep.Name, Target: ep.Target(), Result: ResultUnreachable, Err: errors.New("cannot build the request")}
	}
	req.Header.Set("Content-Type", ContentType)
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set(HeaderID, id)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(HeaderSignature, ep.Secret.Sign(id, now, body))
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		a := Answer{Duration: time.Since(start), Result: transportResult(ctx, err)}
		return a, &DeliveryError{Endpoint: ep.Name, Target: ep.Target(), Result: a.Result, Err: withoutURL(err, ep.Timeout)}
	}
	defer resp.Body.Close()
	a := Answer{Status: resp.StatusCode}
	// A body cut short does not change what the status said.
	a.Body, _ = io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	a.Duration = time.Since(start)
	a.Result = statusResult(resp.StatusCode)
	if a.Result != ResultOK {
		return a, &DeliveryError{Endpoint: ep.Name, Target: ep.Target(), Result: a.Result, Status: a.Status}
	}
	return a, nil
}

func statusResult(status int) Result {
	switch {
	case status >= 200 && status < 300:
		return ResultOK
	case status >= 300 && status < 400:
		return ResultRedirect
	case status >= 400 && status < 500:
		return ResultClientError
	}
	return ResultServerError
}

func transportResult(ctx context.Context, err error) Result {
	var ne net.Error
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return ResultTimeout
	}
	return ResultUnreachable
}

// withoutURL strips the request URL (which may hold a token in its query)
// from an error of the HTTP client.
func withoutURL(err error, timeout time.Duration) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("no answer within %s", timeout)
	}
	return err
}
