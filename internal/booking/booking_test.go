package booking

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/skattekonto-events/skattekonto-events/internal/events"
	"github.com/skattekonto-events/skattekonto-events/internal/idnr"
)

func amt(n int64) *int64 { return &n }

// pair is a mapped voucher's two lines, debit first.
func pair(debit, credit string, n int64) []events.VoucherLine {
	return []events.VoucherLine{{Account: debit, Debit: amt(n)}, {Account: credit, Credit: amt(n)}}
}

func TestProposeDefaultRules(t *testing.T) {
	tests := []struct {
		name  string
		text  string
		skv   *int64
		owner Owner
		s     Settings
		want  []events.VoucherLine // nil: unmapped
	}{
		// Fees before tax rules.
		{name: "late fee", text: "Förseningsavgift", skv: amt(-625), want: pair("6992", "1630", 625)},
		{name: "abbreviated late fee on VAT is a fee", text: "Förs.avgift moms", skv: amt(-625), want: pair("6992", "1630", 625)},
		{name: "abbreviated late fee with space", text: "Förs. avgift arbetsgivardeklaration", skv: amt(-625), want: pair("6992", "1630", 625)},
		{name: "tax surcharge", text: "Skattetillägg", skv: amt(-4000), want: pair("6992", "1630", 4000)},
		{name: "fee for sole trader", text: "Förseningsavgift", skv: amt(-1250), owner: SoleTrader, want: pair("6992", "1630", 1250)},

		// Money in and out.
		{name: "payment in", text: "Inbetalning bokförd 261012", skv: amt(12900), want: pair("1630", "1930", 12900)},
		{name: "payout", text: "Utbetalning", skv: amt(-3100), want: pair("1930", "1630", 3100)},
		{name: "repayment", text: "Återbetalning", skv: amt(-3100), want: pair("1930", "1630", 3100)},

		// Preliminary tax.
		{name: "prelskatt company default 2518", text: "Debiterad preliminärskatt", skv: amt(-1292), want: pair("2518", "1630", 1292)},
		{name: "prelskatt company 2510", text: "Debiterad preliminärskatt", skv: amt(-1292), s: Settings{PrelSkatt: "2510"}, want: pair("2510", "1630", 1292)},
		{name: "prelskatt sole trader private", text: "Debiterad preliminärskatt", skv: amt(-1292), owner: SoleTrader, s: Settings{PrelSkatt: "2510"}, want: pair("2013", "1630", 1292)},
		{name: "prelskatt reduced, positive", text: "Debiterad preliminärskatt", skv: amt(800), want: pair("1630", "2518", 800)},

		// Employer rows.
		{name: "arbetsgivaravgift default 2731", text: "Arbetsgivaravgift mars 2026", skv: amt(-9426), want: pair("2731", "1630", 9426)},
		{name: "arbetsgivaravgift 2730", text: "Arbetsgivaravgift mars 2026", skv: amt(-9426), s: Settings{Arbetsgivaravg: "2730"}, want: pair("2730", "1630", 9426)},
		{name: "arbetsgivaravgift sole trader with staff", text: "Arbetsgivaravgift mars 2026", skv: amt(-9426), owner: SoleTrader, want: pair("2731", "1630", 9426)},
		{name: "avdragen skatt company", text: "Avdragen skatt mars 2026", skv: amt(-8483), want: pair("2710", "1630", 8483)},
		{name: "avdragen skatt sole trader private", text: "Avdragen skatt mars 2026", skv: amt(-2500), owner: SoleTrader, want: pair("2013", "1630", 2500)},
		{name: "sandbox AGI row unmapped", text: "Arbetsgivardeklaration 202611", skv: amt(-17909)},

		// VAT.
		{name: "moms to pay", text: "Moms februari 2026", skv: amt(-24000), want: pair("2650", "1630", 24000)},
		{name: "moms refund default 2650", text: "Moms februari 2026", skv: amt(6000), want: pair("1630", "2650", 6000)},
		{name: "moms refund 1650", text: "Moms februari 2026", skv: amt(6000), s: Settings{MomsRefund: "1650"}, want: pair("1630", "1650", 6000)},
		{name: "moms to pay ignores refund setting", text: "Moms februari 2026", skv: amt(-24000), s: Settings{MomsRefund: "1650"}, want: pair("2650", "1630", 24000)},
		{name: "moms sole trader", text: "Moms februari 2026", skv: amt(-3000), owner: SoleTrader, want: pair("2650", "1630", 3000)},
		{name: "momsxyz is not moms", text: "Momsregistrering", skv: amt(-3000)},

		// Interest.
		{name: "interest cost", text: "Kostnadsränta", skv: amt(-12), want: pair("8423", "1630", 12)},
		{name: "interest income", text: "Intäktsränta", skv: amt(3), want: pair("1630", "8314", 3)},

		// Final tax.
		{name: "slutlig skatt default 2512", text: "Slutlig skatt", skv: amt(-15000), want: pair("2512", "1630", 15000)},
		{name: "slutlig skatt 2510", text: "Slutlig skatt", skv: amt(-15000), s: Settings{SlutligSkatt: "2510"}, want: pair("2510", "1630", 15000)},
		{name: "slutlig skatt refund", text: "Slutlig skatt", skv: amt(7000), want: pair("1630", "2512", 7000)},
		{name: "slutlig skatt sole trader", text: "Slutlig skatt", skv: amt(-15000), owner: SoleTrader, want: pair("2013", "1630", 15000)},
		{name: "kvarskatt", text: "Kvarskatt", skv: amt(-15000), want: pair("2512", "1630", 15000)},
		{name: "kvarskatt sole trader", text: "Kvarskatt", skv: amt(-15000), owner: SoleTrader, want: pair("2013", "1630", 15000)},

		// Never a guess.
		{name: "anstånd", text: "Anstånd", skv: amt(5000)},
		{name: "anstånd moms is not moms", text: "Anstånd moms", skv: amt(5000)},
		{name: "unknown text", text: "Överföring till annat skattekonto", skv: amt(-100)},
		{name: "empty text", text: "", skv: amt(-100)},
		{name: "absent amount", text: "Debiterad preliminärskatt"},
		{name: "zero amount", text: "Debiterad preliminärskatt", skv: amt(0)},
		{name: "min int64", text: "Debiterad preliminärskatt", skv: amt(math.MinInt64)},
		{name: "invalid setting", text: "Debiterad preliminärskatt", skv: amt(-100), s: Settings{PrelSkatt: "25"}},

		// Case and spacing.
		{name: "upper case", text: "  DEBITERAD PRELIMINÄRSKATT ", skv: amt(-100), want: pair("2518", "1630", 100)},
		{name: "lower case", text: "förseningsavgift", skv: amt(-100), want: pair("6992", "1630", 100)},
	}
	table := Default()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := table.Propose(tt.text, tt.skv, nil, tt.owner, tt.s)
			want := events.Voucher{Rules: "skattekonto-events-default@1", Status: StatusUnmapped, Lines: []events.VoucherLine{}}
			if tt.want != nil {
				want.Status, want.Lines = StatusMapped, tt.want
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Propose(%q, %s) (-want +got):\n%s", tt.text, show(tt.skv), diff)
			}
			if got.Lines == nil {
				t.Errorf("Lines is nil, want an empty slice")
			}
		})
	}
}

func show(p *int64) string {
	if p == nil {
		return "absent"
	}
	return fmt.Sprint(*p)
}

func TestProposeKronofogdenOnly(t *testing.T) {
	table := Default()
	for _, text := range []string{"Slutlig skatt", "Kostnadsränta", "Inbetalning bokförd 261026"} {
		got := table.Propose(text, nil, amt(-20000), Company, Settings{})
		if got.Status != StatusUnmapped || len(got.Lines) != 0 || got.Lines == nil {
			t.Errorf("Propose(%q, skv absent, kfm -20000) = %+v, want unmapped with no lines", text, got)
		}
	}
	// A row with both amounts books the Skatteverket part only.
	got := table.Propose("Slutlig skatt", amt(-300), amt(-20000), Company, Settings{})
	if diff := cmp.Diff(pair("2512", "1630", 300), got.Lines); diff != "" {
		t.Errorf("both amounts (-want +got):\n%s", diff)
	}
}

func TestOwnerOf(t *testing.T) {
	for _, tt := range []struct {
		n    string
		want Owner
	}{
		{"165781006662", Company},
		{"198112189876", SoleTrader},
	} {
		if got := OwnerOf(idnr.MustParse(tt.n)); got != tt.want {
			t.Errorf("OwnerOf(%s) = %v, want %v", tt.n, got, tt.want)
		}
	}
}

func TestSettingsValidate(t *testing.T) {
	if err := (Settings{}).Validate(); err != nil {
		t.Errorf("zero Settings: %v", err)
	}
	if err := (Settings{PrelSkatt: "2510", Arbetsgivaravg: "2730", SlutligSkatt: "2510", MomsRefund: "1650"}).Validate(); err != nil {
		t.Errorf("alternatives: %v", err)
	}
	for _, s := range []Settings{{PrelSkatt: "251"}, {Arbetsgivaravg: "27a1"}, {SlutligSkatt: "1630"}, {MomsRefund: "16500"}} {
		if err := s.Validate(); err == nil {
			t.Errorf("%+v.Validate() = nil, want an error", s)
		}
	}
}

// checkVoucher reports what is wrong with a mapped voucher.
func checkVoucher(t *testing.T, ctx string, v events.Voucher, skv int64) {
	t.Helper()
	if v.Status != StatusMapped {
		return
	}
	if len(v.Lines) < 2 {
		t.Errorf("%s: %d lines, want >= 2", ctx, len(v.Lines))
	}
	var debit, credit int64
	onTax := 0
	for _, l := range v.Lines {
		if checkAccount(l.Account) != nil && l.Account != TaxAccount {
			t.Errorf("%s: account %q is not 4 digits", ctx, l.Account)
		}
		if l.Account == TaxAccount {
			onTax++
		}
		switch {
		case l.Debit != nil && l.Credit == nil && *l.Debit > 0:
			debit += *l.Debit
		case l.Credit != nil && l.Debit == nil && *l.Credit > 0:
			credit += *l.Credit
		default:
			t.Errorf("%s: line %+v does not have exactly one positive debit or credit", ctx, l)
		}
	}
	if debit != credit {
		t.Errorf("%s: debit %d, credit %d: not balanced", ctx, debit, credit)
	}
	if onTax != 1 {
		t.Errorf("%s: %d lines on 1630, want 1", ctx, onTax)
	}
	abs := max(skv, -skv)
	if debit != abs {
		t.Errorf("%s: booked %d, want |%d|", ctx, debit, skv)
	}
	// The tax account moves with the sign of the amount.
	for _, l := range v.Lines {
		if l.Account == TaxAccount && (skv > 0) != (l.Debit != nil) {
			t.Errorf("%s: 1630 line %+v has the wrong side for amount %d", ctx, l, skv)
		}
	}
}

func TestProposeProperties(t *testing.T) {
	texts := []string{
		"Förseningsavgift", "Förs.avgift moms", "Skattetillägg", "Anstånd", "Arbetsgivardeklaration 202611",
		"Inbetalning bokförd 261012", "Utbetalning", "Återbetalning", "Debiterad preliminärskatt",
		"Arbetsgivaravgift mars 2026", "Avdragen skatt mars 2026", "Moms februari 2026", "Kostnadsränta",
		"Intäktsränta", "Slutlig skatt", "Kvarskatt", "Okänd text", "",
	}
	settings := []Settings{{}, {PrelSkatt: "2510", Arbetsgivaravg: "2730", SlutligSkatt: "2510", MomsRefund: "1650"}}
	rng := rand.New(rand.NewPCG(1, 2))
	table := Default()
	mapped := 0
	for i := range 20000 {
		text := texts[rng.IntN(len(texts))]
		var skv int64
		switch rng.IntN(4) {
		case 0:
			skv = rng.Int64N(2_000_000) - 1_000_000
		case 1:
			skv = rng.Int64() * []int64{1, -1}[rng.IntN(2)]
		case 2:
			skv = int64(rng.IntN(3) - 1)
		default:
			skv = []int64{math.MaxInt64, math.MinInt64, math.MinInt64 + 1}[rng.IntN(3)]
		}
		owner := Owner(rng.IntN(2))
		v := table.Propose(text, &skv, nil, owner, settings[rng.IntN(len(settings))])
		if v.Status == StatusMapped {
			mapped++
		} else if v.Status != StatusUnmapped || v.Lines == nil || len(v.Lines) != 0 {
			t.Fatalf("Propose(%q, %d): %+v, want unmapped with empty lines", text, skv, v)
		}
		checkVoucher(t, fmt.Sprintf("case %d: %q %d", i, text, skv), v, skv)
		if t.Failed() {
			t.Fatalf("Propose(%q, %d, owner %d) = %+v", text, skv, owner, v)
		}
	}
	if mapped == 0 {
		t.Fatal("no voucher was mapped")
	}
}
