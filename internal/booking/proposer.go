package booking

import (
	"github.com/skattekonto-events/skattekonto-events/internal/events"
	"github.com/skattekonto-events/skattekonto-events/internal/idnr"
)

// Proposer returns the diff's voucher hook (events.Options.Voucher): for
// each newly booked row, t's proposal with settings s, for the owner's
// form told by the identity number asked about (one that does not parse
// counts as a Company). It fails when s is invalid (see Settings.Validate).
func (t *Table) Proposer(s Settings) (func(omfragad string, r *events.APIRow) *events.Voucher, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return func(omfragad string, r *events.APIRow) *events.Voucher {
		owner := Company
		if n, err := idnr.Parse(omfragad); err == nil {
			owner = OwnerOf(n)
		}
		v := t.Propose(r.Transaktionstext, r.BeloppSkatteverket, r.BeloppKronofogden, owner, s)
		return &v
	}, nil
}
