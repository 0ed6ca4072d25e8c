package booking

import (
	"math"

	"github.com/skattekonto-events/skattekonto-events/internal/events"
	"github.com/skattekonto-events/skattekonto-events/internal/idnr"
)

// TaxAccount is the BAS account every proposal books against.
const TaxAccount = "1630"

// Voucher statuses.
const (
	StatusMapped   = "mapped"
	StatusUnmapped = "unmapped"
)

// Owner is the account owner's form, told by the identity number.
type Owner int

// Owner forms.
const (
	// Company is a legal person asked about by organisation number.
	Company Owner = iota
	// SoleTrader is an enskild firma asked about by the owner's
	// personnummer; its account holds the owner's private rows too.
	SoleTrader
)

// OwnerOf tells the owner's form from the identity number asked about:
// an organisation number is a Company, a personnummer or
// samordningsnummer a SoleTrader.
func OwnerOf(n idnr.Number) Owner {
	if n.IsPerson() {
		return SoleTrader
	}
	return Company
}

// Setting names usable in braces as a rule's account.
const (
	SettingPrelSkatt      = "prelSkatt"
	SettingArbetsgivaravg = "arbetsgivaravg"
	SettingSlutligSkatt   = "slutligSkatt"
	SettingMomsRefund     = "momsRefund"
)

// Settings choose the accounts on which public integrations disagree. The
// zero value means the defaults; each field is a 4-digit BAS account.
type Settings struct {
	// PrelSkatt is a company's account for Debiterad preliminärskatt:
	// "2518" (BAS guide, default) or "2510".
	PrelSkatt string
	// Arbetsgivaravg is the account for Arbetsgivaravgift: "2731" (BAS,
	// default) or "2730".
	Arbetsgivaravg string
	// SlutligSkatt is a company's account for Slutlig skatt and
	// Kvarskatt: "2512" (BAS, default) or "2510".
	SlutligSkatt string
	// MomsRefund is the account for a positive Moms row: "2650"
	// (default) or "1650".
	MomsRefund string
}

// Settings defaults.
const (
	DefaultPrelSkatt      = "2518"
	DefaultArbetsgivaravg = "2731"
	DefaultSlutligSkatt   = "2512"
	DefaultMomsRefund     = "2650"
)

// lookup returns the account a setting names, the default when the field
// is empty, and false for an unknown name.
func (s Settings) lookup(name string) (string, bool) {
	pick := func(v, def string) string {
		if v == "" {
			return def
		}
		return v
	}
	switch name {
	case SettingPrelSkatt:
		return pick(s.PrelSkatt, DefaultPrelSkatt), true
	case SettingArbetsgivaravg:
		return pick(s.Arbetsgivaravg, DefaultArbetsgivaravg), true
	case SettingSlutligSkatt:
		return pick(s.SlutligSkatt, DefaultSlutligSkatt), true
	case SettingMomsRefund:
		return pick(s.MomsRefund, DefaultMomsRefund), true
	}
	return "", false
}

// Validate reports a setting that is neither empty nor a 4-digit account
// other than 1630.
func (s Settings) Validate() error {
	for _, f := range []struct{ name, v string }{
		{SettingPrelSkatt, s.PrelSkatt},
		{SettingArbetsgivaravg, s.Arbetsgivaravg},
		{SettingSlutligSkatt, s.SlutligSkatt},
		{SettingMomsRefund, s.MomsRefund},
	} {
		if f.v == "" {
			continue
		}
		if err := checkAccount(f.v); err != nil {
			return &SettingError{Name: f.name, Err: err}
		}
	}
	return nil
}

// Propose returns the booking proposal for a booked transaction with text
// text and amounts skv (beloppSkatteverket) and kfm (beloppKronofogden),
// whole kronor, negative = debt. Only skv is booked: a row without it, or
// with zero, is unmapped (see the package comment for why kfm is not
// booked). The first rule whose match fits the text decides; the
// counter-account is the rule's SoleTrader account for a sole trader when
// set, else its Refund account for a positive amount when set, else its
// Account, with settings in braces resolved by s. No rule, a rule marked
// Unmapped, or a counter-account that does not resolve to a valid account
// (an invalid setting, a hand-built table) give status "unmapped" with no
// lines.
func (t *Table) Propose(text string, skv, kfm *int64, owner Owner, s Settings) events.Voucher {
	_ = kfm // deliberately not booked, see the package comment
	v := events.Voucher{Rules: t.ID + "@" + t.Version, Status: StatusUnmapped, Lines: []events.VoucherLine{}}
	if skv == nil || *skv == 0 || *skv == math.MinInt64 { // MinInt64 has no absolute value
		return v
	}
	amount := *skv
	r, ok := t.match(text)
	if !ok || r.Unmapped {
		return v
	}
	account := r.Account
	switch {
	case owner == SoleTrader && r.SoleTrader != "":
		account = r.SoleTrader
	case amount > 0 && r.Refund != "":
		account = r.Refund
	}
	counter, err := resolve(account, s)
	if err != nil {
		return v
	}
	abs := amount
	if abs < 0 {
		abs = -abs
	}
	debit, credit := counter, TaxAccount // a debt on the tax account
	if amount > 0 {
		debit, credit = TaxAccount, counter
	}
	v.Status = StatusMapped
	v.Lines = []events.VoucherLine{
		{Account: debit, Debit: new(abs)},
		{Account: credit, Credit: new(abs)},
	}
	return v
}
