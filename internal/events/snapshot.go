package events

// Answer holds what every API answer carries, and the correlation id of
// the call that brought it (for the events' audit trail).
type Answer struct {
	CorrelationID         string
	NastaAvstamningsdatum string
	SenastUppdaterad      string
	Informationstext      []string
}

// SaldoAnswer is a balance answer.
type SaldoAnswer struct {
	Answer
	Balance   Balance
	Interest  Interest
	OcrNummer string
}

// APIRow is one transaction row as the API gives it. Its fields are those
// of skv.Transaktion, so the worker converts one into the other directly.
type APIRow struct {
	Transaktionsidentitet string
	Transaktionsdatum     string
	Ranteberakningsdatum  string
	Forfallodatum         string
	Beslutsdatum          string
	Transaktionstext      string
	BeloppSkatteverket    *int64
	BeloppKronofogden     *int64
}

func (r *APIRow) row() Row {
	return Row{
		Transaktionsdatum:    r.Transaktionsdatum,
		Forfallodatum:        r.Forfallodatum,
		Beslutsdatum:         r.Beslutsdatum,
		Ranteberakningsdatum: r.Ranteberakningsdatum,
		Transaktionstext:     r.Transaktionstext,
		BeloppSkatteverket:   r.BeloppSkatteverket,
		BeloppKronofogden:    r.BeloppKronofogden,
	}
}

// TransaktionerAnswer is a transactions answer.
type TransaktionerAnswer struct {
	Answer
	OcrNummer string
	DatumFrom string
	Tidigare  []APIRow
	Kommande  []APIRow
}

// UtbetalningskontoAnswer is a payout account answer.
type UtbetalningskontoAnswer struct {
	Answer
	Konto *string
}

// SparrarAnswer is a payout blocks answer.
type SparrarAnswer struct {
	Answer
	Blocks []Block
}

// Snapshot is what one fetch learned of an account: an answer for each
// operation that was called, nil for the others.
type Snapshot struct {
	Omfragad            string
	Saldo               *SaldoAnswer
	Transaktioner       *TransaktionerAnswer
	Utbetalningskonto   *UtbetalningskontoAnswer
	Utbetalningssparrar *SparrarAnswer
}

// Answers lists the answers present, saldo first.
func (s *Snapshot) Answers() []*Answer {
	var out []*Answer
	if s.Saldo != nil {
		out = append(out, &s.Saldo.Answer)
	}
	if s.Transaktioner != nil {
		out = append(out, &s.Transaktioner.Answer)
	}
	if s.Utbetalningskonto != nil {
		out = append(out, &s.Utbetalningskonto.Answer)
	}
	if s.Utbetalningssparrar != nil {
		out = append(out, &s.Utbetalningssparrar.Answer)
	}
	return out
}
