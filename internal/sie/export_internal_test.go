package sie

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/skattekonto-events/skattekonto-events/internal/events"
)

// TestLinesOf: a voucher is written only when it is mapped and every line
// is an account with one positive amount, the lines balancing; else the
// transaction is left out with the reason.
func TestLinesOf(t *testing.T) {
	n := func(v int64) *int64 { return &v }
	line := func(a string, debit, credit *int64) events.VoucherLine {
		return events.VoucherLine{Account: a, Debit: debit, Credit: credit}
	}
	mapped := func(lines ...events.VoucherLine) *events.Voucher {
		return &events.Voucher{Rules: "r@1", Status: "mapped", Lines: lines}
	}
	tests := []struct {
		name   string
		v      *events.Voucher
		want   []Line
		reason string
	}{
		{"debit and credit", mapped(line("2518", n(1292), nil), line("1630", nil, n(1292))),
			[]Line{{"2518", 1292}, {"1630", -1292}}, ""},
		{"three lines", mapped(line("2650", n(100), nil), line("1650", n(23), nil), line("1630", nil, n(123))),
			[]Line{{"2650", 100}, {"1650", 23}, {"1630", -123}}, ""},
		{"no voucher", nil, nil, ReasonNoVoucher},
		{"unmapped", &events.Voucher{Rules: "r@1", Status: "unmapped", Lines: []events.VoucherLine{}}, nil, ReasonUnmapped},
		{"unknown status", &events.Voucher{Rules: "r@1", Status: "guessed", Lines: []events.VoucherLine{line("2518", n(1), nil), line("1630", nil, n(1))}}, nil, ReasonUnmapped},
		{"one line", mapped(line("2518", n(1), nil)), nil, ReasonInvalidVoucher},
		{"unbalanced", mapped(line("2518", n(2), nil), line("1630", nil, n(1))), nil, ReasonInvalidVoucher},
		{"debit and credit on a line", mapped(line("2518", n(1), n(1)), line("1630", nil, n(1))), nil, ReasonInvalidVoucher},
		{"neither on a line", mapped(line("2518", nil, nil), line("1630", nil, nil)), nil, ReasonInvalidVoucher},
		{"negative debit", mapped(line("2518", n(-1), nil), line("1630", n(1), nil)), nil, ReasonInvalidVoucher},
		{"zero", mapped(line("2518", n(0), nil), line("1630", nil, n(0))), nil, ReasonInvalidVoucher},
		{"account of 3 digits", mapped(line("251", n(1), nil), line("1630", nil, n(1))), nil, ReasonInvalidVoucher},
		{"amount beyond the bound", mapped(line("2518", n(MaxAmount+1), nil), line("1630", nil, n(MaxAmount+1))), nil, ReasonInvalidVoucher},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, reason := linesOf(tc.v)
			if diff := cmp.Diff(tc.want, got); diff != "" || reason != tc.reason {
				t.Errorf("reason %q, want %q; lines (-want +got):\n%s", reason, tc.reason, diff)
			}
		})
	}
}
