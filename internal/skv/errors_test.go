package skv

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
)

// sentinels are every sentinel a caller may branch on for an answer.
var sentinels = map[string]error{
	"ErrInvalidIdentity":  ErrInvalidIdentity,
	"ErrInvalidDate":      ErrInvalidDate,
	"ErrNoAccount":        ErrNoAccount,
	"ErrInternal":         ErrInternal,
	"ErrAccountClosed":    ErrAccountClosed,
	"ErrNotAuthorised":    ErrNotAuthorised,
	"ErrScopeMissing":     ErrScopeMissing,
	"ErrTokenRefused":     ErrTokenRefused,
	"ErrTokenNotAccepted": ErrTokenNotAccepted,
}

// TestAnswersAreClassified: each kind of refusal the API answers is told
// by errors.Is with exactly one sentinel (or none), and errors.As gives
// its felkod and status.
func TestAnswersAreClassified(t *testing.T) {
	for _, tc := range []struct {
		name       string
		status     int
		body       string
		want       string // name of the one sentinel that matches; "" for none
		wantFelkod int
	}{
		{"felkod 1", 400, `{"felkod":1,"felmeddelande":"Felaktigt organisationsnummer"}`, "ErrInvalidIdentity", FelkodInvalidIdentity},
		{"felkod 2", 400, `{"felkod":2,"felmeddelande":"Felaktigt datum"}`, "ErrInvalidDate", FelkodInvalidDate},
		{"felkod 3", 404, `{"felkod":3,"felmeddelande":"Registrerat skattekonto saknas"}`, "ErrNoAccount", FelkodNoAccount},
		{"felkod 3 in a 200", 200, `{"felkod":3,"felmeddelande":"Registrerat skattekonto saknas"}`, "ErrNoAccount", FelkodNoAccount},
		{"felkod 4", 500, `{"felkod":4,"felmeddelande":"Internt fel"}`, "ErrInternal", FelkodInternal},
		{"felkod 5", 503, `{"felkod":5,"felmeddelande":"Skattekontot är stängt"}`, "ErrAccountClosed", FelkodAccountClosed},
		{"felkod 6", 403, `{"felkod":6,"felmeddelande":"Auktorisation saknas"}`, "ErrNotAuthorised", FelkodNotAuthorised},
		{"felkod as a string", 403, `{"felkod":"6","felmeddelande":"Auktorisation saknas"}`, "ErrNotAuthorised", FelkodNotAuthorised},
		{"gateway scope refusal", 403, `{"error":"The required scopes are not authorized"}`, "ErrScopeMissing", 0},
		{"scope in error_description", 403, `{"error_description":"Insufficient scope"}`, "ErrScopeMissing", 0},
		{"felkod 6 mentioning a scope", 403, `{"felkod":6,"felmeddelande":"scope"}`, "ErrNotAuthorised", FelkodNotAuthorised},
		{"other 403", 403, `{"error":"Forbidden"}`, "", 0},
		{"403 without a body", 403, ``, "", 0},
		{"scope text on a 400", 400, `{"error":"invalid scope"}`, "", 0},
		{"401 twice", 401, `{"error":"Token has been revoked."}`, "ErrTokenNotAccepted", 0},
		{"404 plain", 404, `not found`, "", 0},
		{"unknown felkod", 400, `{"felkod":9,"felmeddelande":"Nytt fel"}`, "", 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, srv := newFake(t, answer(tc.status, tc.body))
			c := newTestClient(t, testConfig(srv))
			_, _, err := c.Saldo(context.Background(), testOrg)
			if err == nil {
				t.Fatal("Saldo succeeded, want error")
			}
			for name, s := range sentinels {
				if got := errors.Is(err, s); got != (name == tc.want) {
					t.Errorf("errors.Is(%v, %s) = %v, want %v", err, name, got, !got)
				}
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("errors.As(%v, *Error) = false", err)
			}
			if e.Felkod != tc.wantFelkod || e.Status != tc.status {
				t.Errorf("got felkod %d status %d, want felkod %d status %d", e.Felkod, e.Status, tc.wantFelkod, tc.status)
			}
		})
	}
}

func TestTokenRefusedIsClassified(t *testing.T) {
	for _, tc := range []struct {
		name        string
		tokenStatus int
		scope       string
		want        string
	}{
		{"token refused", http.StatusUnauthorized, "", "ErrTokenRefused"},
		{"scope not granted", 0, "skahmst", "ErrScopeMissing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, srv := newFake(t, answer(200, `{}`))
			f.tokenStatus, f.tokenScope = tc.tokenStatus, tc.scope
			c := newTestClient(t, testConfig(srv))
			_, _, err := c.Saldo(context.Background(), testOrg)
			for name, s := range sentinels {
				if got := errors.Is(err, s); got != (name == tc.want) {
					t.Errorf("errors.Is(%v, %s) = %v, want %v", err, name, got, !got)
				}
			}
		})
	}
}

// TestSentinelsSurviveWrapping: callers wrap errors with context; the
// classification stays.
func TestSentinelsSurviveWrapping(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    *Error
		target error
	}{
		{"felkod", &Error{Op: OpSaldo, Status: 404, Felkod: FelkodNoAccount}, ErrNoAccount},
		{"scope", &Error{Op: OpSaldo, Status: 403, Felmeddelande: "The required scopes are not authorized"}, ErrScopeMissing},
		{"token", &Error{Op: OpSaldo, Status: 401, Err: ErrTokenNotAccepted}, ErrTokenNotAccepted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := fmt.Errorf("fetch saldo 16556677-8899: %w", tc.err)
			if !errors.Is(err, tc.target) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.target)
			}
			var e *Error
			if !errors.As(err, &e) || e != tc.err {
				t.Errorf("errors.As lost the *Error: %v", e)
			}
		})
	}
}
