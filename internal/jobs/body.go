package jobs

import (
	"encoding/json"
	"unicode/utf8"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
)

// requestBody returns a request body for FetchFailed.request: the JSON
// object when it is one, else the text (at most 4 KiB, valid UTF-8).
func requestBody(b []byte) any {
	var obj map[string]any
	if len(b) <= contract.MaxFetchRequestSize && json.Unmarshal(b, &obj) == nil && obj != nil {
		return obj
	}
	if len(b) > 4096 {
		b = b[:4096]
	}
	if !utf8.Valid(b) {
		return string([]rune(string(b)))
	}
	return string(b)
}

// requestJSON is a validated request as FetchFailed.request shows it.
func requestJSON(r Request) map[string]any {
	m := map[string]any{"omfragad": r.Account.String(), "operations": opNames(r.Operations), "force": r.Force}
	if r.DatumFrom != "" {
		m["datumFrom"] = r.DatumFrom
	}
	if r.RequestID != "" {
		m["requestId"] = r.RequestID
	}
	if r.Auth == contract.AuthUser {
		m["auth"], m["session"] = r.Auth, r.Session
	}
	return m
}
