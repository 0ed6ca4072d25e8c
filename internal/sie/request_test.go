package sie_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/skattekonto-events/skattekonto-events/internal/idnr"
	"github.com/skattekonto-events/skattekonto-events/internal/sie"
)

func TestParseRequest(t *testing.T) {
	tests := []struct {
		name, body string
		want       sie.Query
		field      string // of the *FieldError; "-" for ErrRequest
	}{
		{"all fields", `{"omfragad":"556677-8899","from":"2026-01-01","to":"2026-03-31","series":"B","companyName":"Demo AB"}`,
			sie.Query{Account: idnr.MustParse("165566778899"), From: "2026-01-01", To: "2026-03-31", Series: "B", Company: "Demo AB"}, ""},
		{"defaults left", `{"omfragad":"165566778899","from":"2026-01-01","to":"2026-01-01"}`,
			sie.Query{Account: idnr.MustParse("165566778899"), From: "2026-01-01", To: "2026-01-01"}, ""},
		{"empty body", ``, sie.Query{}, "-"},
		{"array", `[]`, sie.Query{}, "-"},
		{"two objects", `{"omfragad":"165566778899","from":"2026-01-01","to":"2026-01-01"} {}`, sie.Query{}, "-"},
		{"unknown member", `{"omfragad":"165566778899","from":"2026-01-01","to":"2026-01-01","serie":"B"}`, sie.Query{}, "-"},
		{"too large", `{"companyName":"` + strings.Repeat("x", 5000) + `"}`, sie.Query{}, "-"},
		{"no omfragad", `{"from":"2026-01-01","to":"2026-01-01"}`, sie.Query{}, "omfragad"},
		{"bad luhn", `{"omfragad":"165566778898","from":"2026-01-01","to":"2026-01-01"}`, sie.Query{}, "omfragad"},
		{"no from", `{"omfragad":"165566778899","to":"2026-01-01"}`, sie.Query{}, "from"},
		{"date with time", `{"omfragad":"165566778899","from":"2026-01-01T00:00:00Z","to":"2026-01-01"}`, sie.Query{}, "from"},
		{"from after to", `{"omfragad":"165566778899","from":"2026-01-02","to":"2026-01-01"}`, sie.Query{}, "from"},
		{"series too long", `{"omfragad":"165566778899","from":"2026-01-01","to":"2026-01-01","series":"ABCDEFGHIJK"}`, sie.Query{}, "series"},
		{"company too long", `{"omfragad":"165566778899","from":"2026-01-01","to":"2026-01-01","companyName":"` + strings.Repeat("å", 201) + `"}`, sie.Query{}, "companyName"},
		{"number as date", `{"omfragad":"165566778899","from":20260101,"to":"2026-01-01"}`, sie.Query{}, "-"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := sie.ParseRequest([]byte(tc.body))
			var fe *sie.FieldError
			switch {
			case tc.field == "" && err != nil:
				t.Fatalf("ParseRequest: %v", err)
			case tc.field == "" && got != tc.want:
				t.Errorf("got %+v, want %+v", got, tc.want)
			case tc.field == "-" && !errors.Is(err, sie.ErrRequest):
				t.Errorf("ParseRequest: %v, want ErrRequest", err)
			case tc.field != "" && tc.field != "-" && (!errors.As(err, &fe) || fe.Field != tc.field):
				t.Errorf("ParseRequest: %v, want a *FieldError on %s", err, tc.field)
			}
		})
	}
}

// FuzzParseRequest: any body is either refused or gives a query that
// holds what Export relies on, and that the Request it stands for parses
// back to.
func FuzzParseRequest(f *testing.F) {
	f.Add([]byte(`{"omfragad":"556677-8899","from":"2026-01-01","to":"2026-03-31","series":"B","companyName":"Demo AB"}`))
	f.Add([]byte(`{"omfragad":"19811218-9876","from":"2026-01-01","to":"2026-01-01"}`))
	f.Add([]byte(`{"omfragad":"165566778899","from":"2026-01-02","to":"2026-01-01"}`))
	f.Add([]byte(`{"omfragad":"165566778899","from":"2026-01-01","to":"2026-01-01","companyName":"\u0000\"å\\"}`))
	f.Add([]byte(`{`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, body []byte) {
		q, err := sie.ParseRequest(body)
		if err != nil {
			if q != (sie.Query{}) {
				t.Fatalf("a query %+v with the error %v", q, err)
			}
			return
		}
		from, err1 := time.Parse(time.DateOnly, q.From)
		to, err2 := time.Parse(time.DateOnly, q.To)
		switch {
		case q.Account.IsZero():
			t.Fatal("no account")
		case err1 != nil || err2 != nil || from.After(to):
			t.Fatalf("period %q to %q", q.From, q.To)
		case q.Series != "" && sie.CheckSeries(q.Series) != nil:
			t.Fatalf("series %q", q.Series)
		case utf8.RuneCountInString(q.Company) > 200:
			t.Fatalf("company of %d characters", utf8.RuneCountInString(q.Company))
		}
		b, err := json.Marshal(sie.Request{Omfragad: q.Account.String(), From: q.From, To: q.To, Series: q.Series, CompanyName: q.Company})
		if err != nil {
			t.Fatal(err)
		}
		again, err := sie.ParseRequest(b)
		if err != nil || again != q {
			t.Fatalf("the query's request %s parses to %+v, %v; want %+v", b, again, err, q)
		}
	})
}
