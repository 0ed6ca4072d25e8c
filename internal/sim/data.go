package sim

import (
	"math/rand/v2"
	"strings"
	"time"
)

var monthNames = [...]string{"januari", "februari", "mars", "april", "maj", "juni",
	"juli", "augusti", "september", "oktober", "november", "december"}

func monthName(t time.Time) string { return monthNames[t.Month()-1] }

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, stockholm) }

func firstSaturday(y int, m time.Month) time.Time {
	d := day(y, m, 1)
	for d.Weekday() != time.Saturday {
		d = d.AddDate(0, 0, 1)
	}
	return d
}

// roundTo rounds n to a multiple of step (away from zero).
func roundTo(n, step int64) int64 {
	if n < 0 {
		return -roundTo(-n, step)
	}
	return (n + step - 1) / step * step
}

// RealisticAccount generates a plausible account for omfragad as of
// today: nTransactions booked rows (fewer only when nTransactions <= 0)
// with Swedish texts, payments on or just before the 12th and on the 26th,
// interest at the monthly reconciliation, an older debt at Kronofogden
// (rows with only beloppKronofogden), a pair of identical twins, a
// retroactive series (same date, text and amount; different
// ranteberakningsdatum), upcoming rows due on the next 12th, and
// balances equal to the sums of the booked rows. The same arguments give
// the same account. An omfragad not starting with 16 is treated as an
// enskild firma (no employer rows).
func RealisticAccount(omfragad string, seed int64, nTransactions int, today time.Time) Account {
	g := newGenerator(omfragad, seed, today)
	months := 3
	if nTransactions > 0 {
		months = nTransactions/g.perMonth() + 3
	}
	g.history(months)
	sortStable(g.rows)
	if nTransactions >= 0 && len(g.rows) > nTransactions {
		g.rows = g.rows[len(g.rows)-nTransactions:]
	}
	a := g.account(omfragad)
	g.upcoming(&a)
	if g.rng.IntN(3) != 0 {
		a.Utbetalningskonto = ptr(itoa(int64(8000+g.rng.IntN(1000))) + "-" + itoa(int64(1+g.rng.IntN(9))) +
			", " + itoa(int64(100000000+g.rng.IntN(900000000))))
	}
	return a
}

// generator holds the state of one RealisticAccount. Every random draw
// happens in a fixed order, so that a seed always gives the same account.
type generator struct {
	rng     *rand.Rand
	today   time.Time
	company bool
	large   bool // a large company: monthly VAT due on the 26th
	scale   int64
	prelim  int64 // the monthly preliminary tax (negative)

	rows             []Transaction
	balance, kfmDebt int64 // running balances while the history is made
}

func newGenerator(omfragad string, seed int64, today time.Time) *generator {
	g := &generator{rng: rand.New(rand.NewPCG(uint64(seed), 0x736b76))}
	t := today.In(stockholm)
	g.today = day(t.Year(), t.Month(), t.Day())
	g.company = strings.HasPrefix(omfragad, "16")
	g.scale = int64(1 + g.rng.IntN(4))
	g.large = g.company && g.scale >= 3
	g.prelim = -roundTo(int64(1500+g.rng.IntN(6000))*g.scale, 100)
	return g
}

func (g *generator) perMonth() int {
	if g.company {
		return 6
	}
	return 3
}

// add books a row dated d unless d is after today.
func (g *generator) add(d time.Time, text string, skv, kfm *int64, rb time.Time) {
	if d.After(g.today) {
		return
	}
	g.rows = append(g.rows, Transaction{Transaktionsdatum: d.Format(dateLayout), Ranteberakningsdatum: rb.Format(dateLayout),
		Transaktionstext: text, BeloppSkatteverket: skv, BeloppKronofogden: kfm})
}

// history makes the booked rows of the last months months.
func (g *generator) history(months int) {
	start := day(g.today.Year(), g.today.Month()-time.Month(months-1), 1)
	kfmMonth := max(0, months-5)
	feeMonth := g.rng.IntN(months)
	for m := 0; m < months; m++ {
		first := start.AddDate(0, m, 0)
		g.interest(first, m > kfmMonth)
		vat := g.dues(first, m)
		if g.large {
			g.monthlyVAT(first, vat)
		}
		g.kronofogden(first, m, kfmMonth)
		if m == feeMonth {
			g.fees(first)
		}
		if first.Month() == time.November {
			g.finalTax(first)
		}
		if m == months-2 {
			g.twinsAndRetro(first)
		}
	}
}

// interest books the interest at the reconciliation on the first
// Saturday, and Kronofogden's interest after the debt was handed over.
func (g *generator) interest(first time.Time, kfmInterest bool) {
	y, mo := first.Year(), first.Month()
	if sat := firstSaturday(y, mo); g.balance < 0 {
		r := min(-1, g.balance*575/120000)
		g.add(sat, "Kostnadsränta", ptr(r), nil, sat)
		g.balance += r
	} else if g.balance > 0 && g.rng.IntN(3) == 0 {
		r := max(1, g.balance*5/120000)
		g.add(sat, "Intäktsränta", ptr(r), nil, sat)
		g.balance += r
	}
	if g.kfmDebt < 0 && kfmInterest {
		sat := firstSaturday(y, mo)
		r := min(-1, g.kfmDebt*8/1200)
		g.add(sat.AddDate(0, 0, 2), "Kostnadsränta", nil, ptr(r), sat.AddDate(0, 0, 2))
		g.kfmDebt += r
	}
}

type dueRow struct {
	text string
	amt  int64
}

// dues books the debits due on the 12th and the payment for them, and
// returns the month's VAT amount.
func (g *generator) dues(first time.Time, m int) (vat int64) {
	y, mo := first.Year(), first.Month()
	prev, prev2 := first.AddDate(0, -1, 0), first.AddDate(0, -2, 0)
	d12 := day(y, mo, 12)
	due := []dueRow{{"Debiterad preliminärskatt", g.prelim}}
	if g.company {
		ag := -roundTo(int64(2500+g.rng.IntN(9000))*g.scale, 1)
		due = append(due, dueRow{"Arbetsgivaravgift " + monthName(prev) + " " + itoa(prev.Year()), ag},
			dueRow{"Avdragen skatt " + monthName(prev) + " " + itoa(prev.Year()), ag * 9 / 10})
	} else {
		due = append(due, dueRow{"Avdragen skatt " + monthName(prev) + " " + itoa(prev.Year()), -int64(1500 + g.rng.IntN(4000))})
	}
	vat = -int64(g.rng.IntN(12000)) * g.scale
	if g.rng.IntN(5) == 0 {
		vat = int64(500+g.rng.IntN(6000)) * g.scale // a refund
	}
	if !g.large && (g.company || m%3 == 0) {
		due = append(due, dueRow{"Moms " + monthName(prev2) + " " + itoa(prev2.Year()), vat})
	}
	var sum int64
	for _, x := range due {
		sum += x.amt
	}
	if sum < 0 {
		pay := -sum
		if g.rng.IntN(6) == 0 {
			pay = roundTo(pay*9/10, 100) // paid a little short
		}
		pd := d12.AddDate(0, 0, -g.rng.IntN(3))
		g.add(pd, "Inbetalning bokförd "+pd.Format("060102"), ptr(pay), nil, pd)
		g.balance += pay
	}
	for _, x := range due {
		g.add(d12, x.text, ptr(x.amt), nil, d12)
		g.balance += x.amt
	}
	return vat
}

// monthlyVAT books a large company's VAT due on the 26th, its payment or
// its refund. (These rows leave the running balance alone.)
func (g *generator) monthlyVAT(first time.Time, vat int64) {
	y, mo := first.Year(), first.Month()
	prev := first.AddDate(0, -1, 0)
	d26 := day(y, mo, 26)
	if vat < 0 {
		g.add(d26, "Inbetalning bokförd "+d26.Format("060102"), ptr(-vat), nil, d26)
	}
	g.add(d26, "Moms "+monthName(prev)+" "+itoa(prev.Year()), ptr(vat), nil, d26)
	if vat > 0 { // the refund is paid out a few days later
		out := day(y, mo, 28)
		g.add(out, "Utbetalning", ptr(-vat), nil, out)
	}
}

// kronofogden hands an old debt over to Kronofogden in month kfmMonth,
// and books instalments on it every other month after.
func (g *generator) kronofogden(first time.Time, m, kfmMonth int) {
	y, mo := first.Year(), first.Month()
	switch {
	case m == kfmMonth:
		debt := -roundTo(int64(8000+g.rng.IntN(30000))*g.scale, 1)
		d := day(y, mo, 20)
		g.add(d, "Slutlig skatt", nil, ptr(debt), d)
		g.kfmDebt += debt
	case m > kfmMonth && g.kfmDebt < 0 && m%2 == 0:
		inst := min(-g.kfmDebt, roundTo(-g.kfmDebt/4, 100))
		d := day(y, mo, 26)
		g.add(d, "Inbetalning bokförd "+d.Format("060102"), nil, ptr(inst), d)
		g.kfmDebt += inst
	}
}

// fees books late-filing fees on the 19th.
func (g *generator) fees(first time.Time) {
	d := day(first.Year(), first.Month(), 19)
	if g.company {
		g.add(d, "Förseningsavgift", ptr(int64(-625)), nil, d)
		g.add(d, "Förs.avgift moms", ptr(int64(-625)), nil, d)
	} else {
		g.add(d, "Förseningsavgift", ptr(int64(-1250)), nil, d)
	}
	g.balance -= 1250
}

// finalTax books November's final tax, and pays out a surplus.
func (g *generator) finalTax(first time.Time) {
	y, mo := first.Year(), first.Month()
	st := roundTo(int64(g.rng.IntN(30000)-18000)*g.scale, 1)
	d := day(y, mo, 12)
	g.add(d, "Slutlig skatt", ptr(st), nil, d)
	g.balance += st
	if st > 0 {
		out := day(y, mo, 19)
		g.add(out, "Utbetalning", ptr(-st), nil, out)
		g.balance -= st
	}
}

// twinsAndRetro books identical twins (two payments of the same amount
// on the same day) and a retroactive series: one row per earlier month,
// same date, text and amount.
func (g *generator) twinsAndRetro(first time.Time) {
	y, mo := first.Year(), first.Month()
	d := day(y, mo, 26)
	amt := roundTo(int64(1000+g.rng.IntN(5000)), 100)
	txt := "Inbetalning bokförd " + d.Format("060102")
	g.add(d, txt, ptr(amt), nil, d)
	g.add(d, txt, ptr(amt), nil, d)
	g.balance += 2 * amt
	rd := day(y, mo, 21)
	step := -roundTo(int64(400+g.rng.IntN(2000)), 10)
	for k := 3; k >= 1; k-- {
		g.add(rd, "Debiterad preliminärskatt", ptr(step), nil, day(y, mo-time.Month(k), 12))
		g.balance += step
	}
}

// account numbers the booked rows and sums them into the balances, with
// the month's interest so far.
func (g *generator) account(omfragad string) Account {
	a := Account{Omfragad: omfragad, OcrNummer: OCR(omfragad), NastaAvstamningsdatum: nextReconciliation("", g.today)}
	id := int64(300000000 + g.rng.IntN(100000000))
	for i := range g.rows {
		id += int64(1 + g.rng.IntN(9))
		g.rows[i].Transaktionsidentitet = id
		if g.rows[i].BeloppSkatteverket != nil {
			a.SaldoSkatteverket += *g.rows[i].BeloppSkatteverket
		}
		if g.rows[i].BeloppKronofogden != nil {
			a.SaldoKronofogden += *g.rows[i].BeloppKronofogden
		}
	}
	a.Tidigare = g.rows
	if a.SaldoSkatteverket < 0 {
		a.RantaSkatteverket = min(-1, a.SaldoSkatteverket*575/120000*int64(g.today.Day())/30)
	}
	if a.SaldoKronofogden < 0 {
		a.RantaKronofogden = min(-1, a.SaldoKronofogden*8/1200*int64(g.today.Day())/30)
	}
	return a
}

// upcoming adds the rows due on the next 12th.
func (g *generator) upcoming(a *Account) {
	due := day(g.today.Year(), g.today.Month(), 12)
	if g.today.Day() >= 12 {
		due = day(g.today.Year(), g.today.Month()+1, 12)
	}
	prev := due.AddDate(0, -1, 0)
	prev2 := due.AddDate(0, -2, 0)
	decided := g.today.AddDate(0, 0, -1-g.rng.IntN(5))
	up := func(text string, amt int64, beslut bool) {
		t := Transaction{Transaktionsdatum: due.Format(dateLayout), Forfallodatum: due.Format(dateLayout),
			Ranteberakningsdatum: due.Format(dateLayout), Transaktionstext: text, BeloppSkatteverket: ptr(amt)}
		if beslut {
			t.Beslutsdatum = decided.Format(dateLayout)
		}
		a.Kommande = append(a.Kommande, t)
	}
	up("Debiterad preliminärskatt", g.prelim, false)
	if g.company {
		ag := -int64(2500+g.rng.IntN(9000)) * g.scale
		up("Arbetsgivaravgift "+monthName(prev)+" "+itoa(prev.Year()), ag, true)
		up("Avdragen skatt "+monthName(prev)+" "+itoa(prev.Year()), ag*9/10, true)
		if !g.large {
			up("Moms "+monthName(prev2)+" "+itoa(prev2.Year()), -int64(1000+g.rng.IntN(12000))*g.scale, true)
		}
	}
}

func sortStable(rows []Transaction) {
	// insertion sort keeps generation order within a date; rows are
	// nearly sorted already.
	for i := 1; i < len(rows); i++ {
		for j := i; j > 0 && rows[j].Transaktionsdatum < rows[j-1].Transaktionsdatum; j-- {
			rows[j], rows[j-1] = rows[j-1], rows[j]
		}
	}
}

type integer interface{ ~int | ~int64 }

func itoa[T integer](n T) string {
	if n == 0 {
		return "0"
	}
	neg := n < 0
	if neg {
		n = -n
	}
	var b [24]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

// Demo accounts created by SeedDemo.
const (
	// DemoAB is a realistic aktiebolag (a sandbox test company) with
	// booked and upcoming rows, a debt at Kronofogden, a payout account
	// and a payout block.
	DemoAB = "165781006662"
	// DemoABInfo is a smaller aktiebolag (a sandbox test company) whose
	// payout account cannot be shown, with an informationstext.
	DemoABInfo = "161128000013"
	// DemoABOld is a sandbox test company answering like older API
	// versions: no transaktionsidentitet.
	DemoABOld = "165560000167"
	// DemoEF is an enskild firma asked about by the owner's personnummer.
	DemoEF = "198112189876"
	// DemoClosed is a closed account (felkod 5).
	DemoClosed = "165560123456"
	// DemoUnauthorized is an account the agent may not read (felkod 6).
	DemoUnauthorized = "165599999991"
)

// SeedDemo loads the demo accounts (see the Demo constants). The content
// depends only on the simulator's clock date.
func (s *Sim) SeedDemo() {
	now := s.now()
	today := s.today()
	ab := RealisticAccount(DemoAB, 1, 60, now)
	ab.Utbetalningskonto = ptr("8327-9, 123 456 789-0")
	ab.Sparrar = []Block{{
		Sparridentitet: 9001,
		DatumFrom:      today.AddDate(0, -1, 0).Format(dateLayout),
		DatumTom:       today.AddDate(0, 5, 0).Format(dateLayout),
		Sparrbelopp:    ptr(int64(50000)),
		Totalsparr:     ptr(false),
	}}
	if ab.SaldoKronofogden == 0 {
		ab.SaldoKronofogden = -12500
	}

	info := RealisticAccount(DemoABInfo, 2, 25, now)
	info.Utbetalningskonto = nil
	info.Informationstext = []string{"Utbetalningskontot kan inte visas för tillfället."}

	old := RealisticAccount(DemoABOld, 3, 12, now)
	old.NoIdentities = true
	for i := range old.Tidigare {
		old.Tidigare[i].Transaktionsidentitet = 0
	}

	ef := RealisticAccount(DemoEF, 4, 30, now)
	ef.Sparrar = []Block{{Sparridentitet: 9002, DatumFrom: today.AddDate(0, 0, -10).Format(dateLayout), Totalsparr: ptr(true)}}

	closed := RealisticAccount(DemoClosed, 5, 8, now)
	closed.Closed = true
	unauth := RealisticAccount(DemoUnauthorized, 6, 8, now)
	unauth.Unauthorized = true

	for _, a := range []Account{ab, info, old, ef, closed, unauth} {
		if err := s.PutAccount(a); err != nil {
			panic("sim: demo account invalid: " + err.Error()) // a bug in this file
		}
	}
}
