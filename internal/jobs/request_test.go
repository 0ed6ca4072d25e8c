package jobs

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/idnr"
	"github.com/skattekonto-events/skattekonto-events/internal/skv"
)

var today = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

func TestParseRequest(t *testing.T) {
	org := idnr.MustParse("165566778899")
	tests := []struct {
		name    string
		tok     string
		body    string
		want    Request
		wantErr string // substring of the reason
		reqID   string // request id the error still carries
	}{
		{name: "empty body asks for everything", tok: "165566778899", want: Request{Account: org, Operations: skv.Operations, Auth: contract.AuthOrganisation}},
		{name: "whitespace body", tok: "165566778899", body: " \n", want: Request{Account: org, Operations: skv.Operations, Auth: contract.AuthOrganisation}},
		{name: "full request, operations put in calling order", tok: "165566778899",
			body: `{"omfragad":"556677-8899","operations":["utbetalningssparrar","saldo"],"datumFrom":"2025-01-01","requestId":"erp-7f3a","force":true}`,
			want: Request{Account: org, Operations: []skv.Operation{skv.OpSaldo, skv.OpUtbetalningssparrar}, ExplicitOps: true, DatumFrom: "2025-01-01", RequestID: "erp-7f3a", Force: true, Auth: contract.AuthOrganisation}},
		{name: "10-digit subject token is canonicalised", tok: "5566778899", body: `{}`, want: Request{Account: org, Operations: skv.Operations, Auth: contract.AuthOrganisation}},
		{name: "nulls are absent", tok: "165566778899", body: `{"operations":null,"requestId":null}`, want: Request{Account: org, Operations: skv.Operations, Auth: contract.AuthOrganisation}},
		{name: "a user's login session", tok: "165566778899", body: `{"auth":"user","session":"s-1"}`,
			want: Request{Account: org, Operations: skv.Operations, Auth: contract.AuthUser, Session: "s-1"}},
		{name: "user without session", tok: "165566778899", body: `{"auth":"user"}`, wantErr: "session: required"},
		{name: "session without user", tok: "165566778899", body: `{"session":"s-1"}`, wantErr: "only with"},
		{name: "unknown auth", tok: "165566778899", body: `{"auth":"bankid"}`, wantErr: "auth:"},
		{name: "not JSON", tok: "165566778899", body: `hello`, wantErr: "not a valid JSON request"},
		{name: "truncated JSON keeps nothing", tok: "165566778899", body: `{"requestId":"a"`, wantErr: "not a valid JSON request"},
		{name: "array", tok: "165566778899", body: `[1]`, wantErr: "want a JSON object"},
		{name: "unknown field", tok: "165566778899", body: `{"operation":["saldo"],"requestId":"r1"}`, wantErr: "unknown field", reqID: "r1"},
		{name: "trailing data", tok: "165566778899", body: `{} {}`, wantErr: "data after"},
		{name: "bad luhn in body", tok: "165566778899", body: `{"omfragad":"165566778898","requestId":"r2"}`, wantErr: "omfragad", reqID: "r2"},
		{name: "other account than subject", tok: "165566778899", body: `{"omfragad":"165560000167"}`, wantErr: "another account"},
		{name: "subject not an identity number", tok: "hello", body: `{}`, wantErr: "subject token"},
		{name: "unknown operation", tok: "165566778899", body: `{"operations":["saldo","skulder"]}`, wantErr: "unknown operation"},
		{name: "empty operations", tok: "165566778899", body: `{"operations":[]}`, wantErr: "empty list"},
		{name: "operation twice", tok: "165566778899", body: `{"operations":["saldo","saldo"]}`, wantErr: "listed twice"},
		{name: "bad date", tok: "165566778899", body: `{"datumFrom":"2025-13-01"}`, wantErr: "datumFrom"},
		{name: "future date", tok: "165566778899", body: `{"datumFrom":"2027-01-01"}`, wantErr: "future"},
		{name: "request id too long", tok: "165566778899", body: `{"requestId":"` + strings.Repeat("x", 65) + `"}`, wantErr: "requestId"},
		{name: "request id with control character", tok: "165566778899", body: `{"requestId":"a\u0001"}`, wantErr: "control"},
		{name: "force not a bool", tok: "165566778899", body: `{"force":"yes","requestId":"r3"}`, wantErr: "field force", reqID: "r3"},
		{name: "too large", tok: "165566778899", body: `{"requestId":"` + strings.Repeat("x", contract.MaxFetchRequestSize) + `"}`, wantErr: "more than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRequest(tc.tok, []byte(tc.body), today)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("ParseRequest: %v", err)
				}
				if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(a, b idnr.Number) bool { return a == b })); diff != "" {
					t.Fatalf("request (-want +got):\n%s", diff)
				}
				return
			}
			var re *RequestError
			if !errors.As(err, &re) {
				t.Fatalf("got %v, want a *RequestError", err)
			}
			if !strings.Contains(re.Reason, tc.wantErr) {
				t.Errorf("reason %q does not say %q", re.Reason, tc.wantErr)
			}
			if re.RequestID != tc.reqID {
				t.Errorf("request id %q, want %q", re.RequestID, tc.reqID)
			}
		})
	}
}

func TestParseRequestErrorNamesAccountWhenKnown(t *testing.T) {
	_, err := ParseRequest("165566778899", []byte(`{"operations":["x"]}`), today)
	var re *RequestError
	if !errors.As(err, &re) || re.Account.String() != "165566778899" {
		t.Fatalf("got %v", err)
	}
	_, err = ParseRequest("garbage", []byte(`{}`), today)
	if !errors.As(err, &re) || !re.Account.IsZero() {
		t.Fatalf("got %v", err)
	}
}

func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{``, `{}`, `{"omfragad":"165566778899","operations":["saldo"],"datumFrom":"2025-01-01","requestId":"x","force":true}`, `{"requestId":1}`, `[`, `null`} {
		f.Add("165566778899", s)
	}
	f.Fuzz(func(t *testing.T, tok, body string) {
		req, err := ParseRequest(tok, []byte(body), today)
		if err != nil {
			var re *RequestError
			if !errors.As(err, &re) {
				t.Fatalf("error %v is not a *RequestError", err)
			}
			return
		}
		if req.Account.IsZero() || len(req.Operations) == 0 || len(req.RequestID) > 64 {
			t.Fatalf("accepted an incomplete request %+v", req)
		}
	})
}
