package skv

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
)

// ErrRedirect means the API or the token endpoint answered with a
// redirect (3xx). The client never follows one: Go would send the
// client_id and client_secret headers, or the token request's form, to
// the new host, even over plain http. Not retryable. Use errors.As with
// *RedirectError for the status and the host it pointed to.
var ErrRedirect = errors.New("redirect not followed")

// RedirectError is a 3xx answer that the client did not follow.
type RedirectError struct {
	// Status is the HTTP status of the answer.
	Status int
	// Host is the host (and port) of its Location, "" when it had none.
	// The path and query are left out: they may carry anything.
	Host string
}

func (e *RedirectError) Error() string {
	// The wrapping *Error or token error names the status.
	if e.Host == "" {
		return ErrRedirect.Error()
	}
	return ErrRedirect.Error() + " (Location on host " + strconv.Quote(e.Host) + ")"
}

// Is makes errors.Is(err, ErrRedirect) hold.
func (e *RedirectError) Is(target error) bool { return target == ErrRedirect }

// refuseRedirect is the CheckRedirect of the client's http.Client: the
// 3xx answer is returned as it is, and send or the token source turns it
// into a *RedirectError.
func refuseRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// noRedirects returns a copy of hc (a new client when nil) that never
// follows a redirect. The caller's client is left alone.
func noRedirects(hc *http.Client) *http.Client {
	c := &http.Client{}
	if hc != nil {
		*c = *hc
	}
	c.CheckRedirect = refuseRedirect
	return c
}

// redirectError describes a 3xx answer to a request: its status and the
// host of its Location, resolved against the request's URL.
func redirectError(resp *http.Response) *RedirectError {
	e := &RedirectError{Status: resp.StatusCode}
	loc := resp.Header.Get("Location")
	if loc == "" {
		return e
	}
	u, err := url.Parse(loc)
	if err != nil {
		return e
	}
	if resp.Request != nil && resp.Request.URL != nil {
		u = resp.Request.URL.ResolveReference(u)
	}
	e.Host = u.Host
	return e
}

// isRedirect reports whether status is a 3xx.
func isRedirect(status int) bool { return status >= 300 && status < 400 }
