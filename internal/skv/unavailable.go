package skv

import (
	"errors"
	"fmt"
	"net/http"
)

// ErrOperationUnavailable means the operation's path does not exist: the
// API answered 404 without a felkod body. (Felkod 3, "Registrerat
// skattekonto saknas", is also a 404 but carries a felkod: the path
// exists and the account does not.) Usually the operation's path template
// (Config.Paths) is wrong for this deployment of the API. Not retryable:
// the client makes one call and gives up.
var ErrOperationUnavailable = errors.New("operation unavailable")

// Unavailable describes an operation that answered as if its path did
// not exist, in the shape of FetchCompleted.data.unavailable.
type Unavailable struct {
	Operation     Operation `json:"operation"`
	HTTPStatus    int       `json:"httpStatus"`
	CorrelationID string    `json:"correlationId"`
	// Path is the path template that was called; it holds Placeholder,
	// never an identity number.
	Path string `json:"-"`
}

// unavailablePath is the error carried in Error.Err for an unavailable
// operation: it keeps the template for the caller and the message.
type unavailablePath struct{ template string }

func (u *unavailablePath) Error() string {
	return fmt.Sprintf("%v: path %s answered 404 without a felkod", ErrOperationUnavailable, u.template)
}

func (u *unavailablePath) Unwrap() error { return ErrOperationUnavailable }

// AsUnavailable reports whether err, returned by the client, says the
// operation is unavailable, and describes the call that said so.
func AsUnavailable(err error) (Unavailable, bool) {
	var e *Error
	if !errors.As(err, &e) || !errors.Is(e.Err, ErrOperationUnavailable) {
		return Unavailable{}, false
	}
	u := Unavailable{Operation: e.Op, HTTPStatus: e.Status, CorrelationID: e.CorrelationID}
	var p *unavailablePath
	if errors.As(e.Err, &p) {
		u.Path = p.template
	}
	return u, true
}

// markUnavailable sets e.Err when e is a 404 without a felkod: the path
// of op does not exist.
func (c *Client) markUnavailable(op Operation, e *Error) {
	if e.Status == http.StatusNotFound && e.Felkod == 0 {
		e.Err = &unavailablePath{template: c.paths[op].raw}
	}
}
