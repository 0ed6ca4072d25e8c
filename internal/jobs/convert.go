package jobs

import (
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/events"
	"github.com/skattekonto-events/skattekonto-events/internal/skv"
)

// Conversions from the client's answers to the diff's input. The row
// types have the same fields, so a row converts directly.

// convert converts an answer of the client with conv, unless its call failed.
func convert[A, E any](a A, t skv.Trace, err error, conv func(A, skv.Trace) *E) *E {
	if err != nil {
		return nil
	}
	return conv(a, t)
}

func answer(c skv.Common, tr skv.Trace) events.Answer {
	return events.Answer{
		CorrelationID:         tr.CorrelationID(),
		NastaAvstamningsdatum: c.NastaAvstamningsdatum,
		SenastUppdaterad:      c.SenastUppdaterad,
		Informationstext:      c.Informationstext,
	}
}

func saldoAnswer(s skv.Saldo, tr skv.Trace) *events.SaldoAnswer {
	return &events.SaldoAnswer{
		Answer:    answer(s.Common, tr),
		Balance:   events.Balance{SaldoSkatteverket: s.SaldoSkatteverket, SaldoKronofogden: s.SaldoKronofogden},
		Interest:  events.Interest{RantaSkatteverket: s.RantaSkatteverket, RantaKronofogden: s.RantaKronofogden},
		OcrNummer: s.OcrNummer,
	}
}

func rows(in []skv.Transaktion) []events.APIRow {
	out := make([]events.APIRow, len(in))
	for i := range in {
		out[i] = events.APIRow(in[i])
	}
	return out
}

func transaktionerAnswer(t skv.Transaktioner, tr skv.Trace) *events.TransaktionerAnswer {
	return &events.TransaktionerAnswer{
		Answer:    answer(t.Common, tr),
		OcrNummer: t.OcrNummer,
		DatumFrom: t.DatumFrom,
		Tidigare:  rows(t.Tidigare),
		Kommande:  rows(t.Kommande),
	}
}

func kontoAnswer(u skv.Utbetalningskonto, tr skv.Trace) *events.UtbetalningskontoAnswer {
	return &events.UtbetalningskontoAnswer{Answer: answer(u.Common, tr), Konto: u.Utbetalningskonto}
}

func sparrarAnswer(u skv.Utbetalningssparrar, tr skv.Trace) *events.SparrarAnswer {
	blocks := make([]events.Block, len(u.Sparrar))
	for i, s := range u.Sparrar {
		blocks[i] = events.Block(s)
	}
	return &events.SparrarAnswer{Answer: answer(u.Common, tr), Blocks: blocks}
}

func calls(in []skv.Call) []events.Call {
	out := make([]events.Call, len(in))
	for i, c := range in {
		out[i] = events.Call{
			Operation:     string(c.Operation),
			CorrelationID: c.CorrelationID,
			HTTPStatus:    c.HTTPStatus,
			Felkod:        c.Felkod,
			At:            c.At.UTC().Format(time.RFC3339Nano),
			DurationMs:    c.Duration.Milliseconds(),
			Sha256:        c.Sha256(),
		}
	}
	return out
}

// opNames are the operations' names.
func opNames(ops []skv.Operation) []string {
	out := make([]string, len(ops))
	for i, op := range ops {
		out[i] = string(op)
	}
	return out
}
