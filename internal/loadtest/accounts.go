package loadtest

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/events"
	"github.com/skattekonto-events/skattekonto-events/internal/sim"
)

// accountNumbers returns n distinct valid organisation numbers (16 556xxxxxx c).
func accountNumbers(n int) []string {
	out := make([]string, n)
	for i := range n {
		out[i] = sim.WithCheckDigit(fmt.Sprintf("16556%06d", i))
	}
	return out
}

// windowStart is the first date the transactions operation returns by
// default (18 months back, as the simulator and the real API do).
func windowStart(now time.Time) time.Time {
	t := now.In(contract.Stockholm)
	today := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, contract.Stockholm)
	return today.AddDate(0, -sim.DefaultLookbackMonths, 0)
}

// makeAccount returns a realistic account with n booked rows, all inside
// the API's default look-back: RealisticAccount spreads large histories
// over more months than the API returns, so their dates are squeezed
// (in order) into the window.
func makeAccount(omf string, seed int64, n int, now time.Time) sim.Account {
	a := sim.RealisticAccount(omf, seed, n, now)
	from := windowStart(now).AddDate(0, 0, 7)
	if len(a.Tidigare) == 0 || a.Tidigare[0].Transaktionsdatum >= from.Format(time.DateOnly) {
		return a
	}
	t := now.In(contract.Stockholm)
	today := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, contract.Stockholm)
	span := int(today.Sub(from).Hours() / 24)
	for i := range a.Tidigare {
		d := from.AddDate(0, 0, i*span/len(a.Tidigare)).Format(time.DateOnly)
		a.Tidigare[i].Transaktionsdatum, a.Tidigare[i].Ranteberakningsdatum = d, d
	}
	return a
}

// mutation kinds applied to a changing account.
const (
	mutPost = iota
	mutBalance
	mutAddUpcoming
	mutBookUpcoming
	numMutations
)

// mutate changes one account in one of four ways: a new booked
// transaction, a new balance, a new upcoming row, or an upcoming row booked.
func mutate(s simulator, rng *rand.Rand, omf string, now time.Time) error {
	today := now.In(contract.Stockholm).Format(time.DateOnly)
	amount := int64(100 * (1 + rng.IntN(200)))
	switch rng.IntN(numMutations) {
	case mutPost:
		return s.PostTransaction(omf, sim.Transaction{
			Transaktionstext:   "Inbetalning bokförd " + now.In(contract.Stockholm).Format("060102"),
			BeloppSkatteverket: &amount,
		})
	case mutBalance:
		a, ok := s.Account(omf)
		if !ok {
			return fmt.Errorf("account %s: %w", omf, sim.ErrNotFound)
		}
		return s.SetBalance(omf, a.SaldoSkatteverket-amount, a.SaldoKronofogden)
	case mutBookUpcoming:
		if a, ok := s.Account(omf); ok && len(a.Kommande) > 0 {
			return s.BookUpcoming(omf, rng.IntN(len(a.Kommande)), today)
		}
		fallthrough
	default:
		due := now.In(contract.Stockholm).AddDate(0, 0, 10+rng.IntN(20)).Format(time.DateOnly)
		neg := -amount
		return s.AddUpcoming(omf, sim.Transaction{
			Transaktionsdatum: due, Forfallodatum: due, Ranteberakningsdatum: due,
			Transaktionstext: "Debiterad preliminärskatt", BeloppSkatteverket: &neg,
		})
	}
}

// expectedNewTransactions returns the NewTransaction event ids the
// account's booked rows must have produced: one per row the API returns.
func expectedNewTransactions(a sim.Account, now time.Time) []string {
	from := windowStart(now).Format(time.DateOnly)
	var ids []string
	for _, r := range a.Tidigare {
		if r.Transaktionsdatum < from {
			continue
		}
		ids = append(ids, events.NewID(a.Omfragad, events.TypeNewTransaction, strconv.FormatInt(r.Transaktionsidentitet, 10)))
	}
	return ids
}
