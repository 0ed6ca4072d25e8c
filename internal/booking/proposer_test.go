package booking

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/skattekonto-events/skattekonto-events/internal/events"
)

func TestProposer(t *testing.T) {
	propose, err := Default().Proposer(Settings{PrelSkatt: "2510"})
	if err != nil {
		t.Fatal(err)
	}
	prel := &events.APIRow{Transaktionstext: "Debiterad preliminärskatt", BeloppSkatteverket: amt(-1292)}
	tests := []struct {
		name     string
		omfragad string
		row      *events.APIRow
		want     []events.VoucherLine // nil: unmapped
	}{
		{"company, setting applied", "165566778899", prel, pair("2510", "1630", 1292)},
		{"sole trader by personnummer", "198112189876", prel, pair("2013", "1630", 1292)},
		{"unparsable number counts as a company", "not-a-number", prel, pair("2510", "1630", 1292)},
		{"kronofogden only is unmapped", "165566778899", &events.APIRow{Transaktionstext: "Debiterad preliminärskatt", BeloppKronofogden: amt(-1292)}, nil},
		{"unknown text is unmapped", "165566778899", &events.APIRow{Transaktionstext: "Något nytt", BeloppSkatteverket: amt(-5)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := propose(tt.omfragad, tt.row)
			if v == nil {
				t.Fatal("no voucher")
			}
			want := events.Voucher{Rules: Default().ID + "@" + Default().Version, Status: StatusMapped, Lines: tt.want}
			if tt.want == nil {
				want.Status, want.Lines = StatusUnmapped, []events.VoucherLine{}
			}
			if diff := cmp.Diff(want, *v); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestProposerRefusesBadSettings(t *testing.T) {
	_, err := Default().Proposer(Settings{MomsRefund: "1630"})
	var se *SettingError
	if !errors.As(err, &se) || se.Name != SettingMomsRefund {
		t.Fatalf("got %v, want a *SettingError for %s", err, SettingMomsRefund)
	}
}
