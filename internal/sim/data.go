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
	rng := rand.New(rand.NewPCG(uint64(seed), 0x736b76))
	t := today.In(stockholm)
	today = day(t.Year(), t.Month(), t.Day())
	company := strings.HasPrefix(omfragad, "16")
	scale := int64(1 + rng.IntN(4))
	large := company && scale >= 3
	prelim := -roundTo(int64(1500+rng.IntN(6000))*scale, 100)

	type row = Transaction
	var rows []row
	add := func(d time.Time, text string, skv, kfm *int64, rb time.Time) {
		if d.After(today) {
			return
		}
		rows = append(rows, row{Transaktionsdatum: d.Format(dateLayout), Ranteberakningsdatum: rb.Format(dateLayout),
			Transaktionstext: text, BeloppSkatteverket: skv, BeloppKronofogden: kfm})
	}
	perMonth := 3
	if company {
		perMonth = 6
	}
	months := 3
	if nTransactions > 0 {
		months = nTransactions/perMonth + 3
	}
	start := day(today.Year(), today.Month()-time.Month(months-1), 1)
	kfmMonth := max(0, months-5)
	feeMonth := rng.IntN(months)
	var balance, kfmDebt int64
	for m := 0; m < months; m++ {
		first := start.AddDate(0, m, 0)
		y, mo := first.Year(), first.Month()
		prev := first.AddDate(0, -1, 0)
		prev2 := first.AddDate(0, -2, 0)
		d12 := day(y, mo, 12)

		// Interest at the reconciliation on the first Saturday.
		if sat := firstSaturday(y, mo); balance < 0 {
			r := min(-1, balance*575/120000)
			add(sat, "Kostnadsränta", ptr(r), nil, sat)
			balance += r
		} else if balance > 0 && rng.IntN(3) == 0 {
			r := max(1, balance*5/120000)
			add(sat, "Intäktsränta", ptr(r), nil, sat)
			balance += r
		}
		if kfmDebt < 0 && m > kfmMonth {
			sat := firstSaturday(y, mo)
			r := min(-1, kfmDebt*8/1200)
			add(sat.AddDate(0, 0, 2), "Kostnadsränta", nil, ptr(r), sat.AddDate(0, 0, 2))
			kfmDebt += r
		}

		// Debits due on the 12th.
		due := []struct {
			text string
			amt  int64
		}{{"Debiterad preliminärskatt", prelim}}
		if company {
			ag := -roundTo(int64(2500+rng.IntN(9000))*scale, 1)
			due = append(due,
				struct {
					text string
					amt  int64
				}{"Arbetsgivaravgift " + monthName(prev) + " " + itoa(prev.Year()), ag},
				struct {
					text string
					amt  int64
				}{"Avdragen skatt " + monthName(prev) + " " + itoa(prev.Year()), ag * 9 / 10})
		} else {
			due = append(due, struct {
				text string
				amt  int64
			}{"Avdragen skatt " + monthName(prev) + " " + itoa(prev.Year()), -int64(1500 + rng.IntN(4000))})
		}
		vat := -int64(rng.IntN(12000)) * scale
		if rng.IntN(5) == 0 {
			vat = int64(500+rng.IntN(6000)) * scale // a refund
		}
		if !large && (company || m%3 == 0) {
			due = append(due, struct {
				text string
				amt  int64
			}{"Moms " + monthName(prev2) + " " + itoa(prev2.Year()), vat})
		}
		var sum int64
		for _, x := range due {
			sum += x.amt
		}
		if sum < 0 {
			pay := -sum
			if rng.IntN(6) == 0 {
				pay = roundTo(pay*9/10, 100) // paid a little short
			}
			pd := d12.AddDate(0, 0, -rng.IntN(3))
			add(pd, "Inbetalning bokförd "+pd.Format("060102"), ptr(pay), nil, pd)
			balance += pay
		}
		for _, x := range due {
			add(d12, x.text, ptr(x.amt), nil, d12)
			balance += x.amt
		}

		// Large companies report VAT monthly, due on the 26th.
		if large {
			d26 := day(y, mo, 26)
			if vat < 0 {
				add(d26, "Inbetalning bokförd "+d26.Format("060102"), ptr(-vat), nil, d26)
			}
			add(d26, "Moms "+monthName(prev)+" "+itoa(prev.Year()), ptr(vat), nil, d26)
			if vat > 0 { // the refund is paid out a few days later
				out := day(y, mo, 28)
				add(out, "Utbetalning", ptr(-vat), nil, out)
			}
		}

		switch {
		case m == kfmMonth:
			// An old debt is handed over to Kronofogden.
			debt := -roundTo(int64(8000+rng.IntN(30000))*scale, 1)
			d := day(y, mo, 20)
			add(d, "Slutlig skatt", nil, ptr(debt), d)
			kfmDebt += debt
		case m > kfmMonth && kfmDebt < 0 && m%2 == 0:
			inst := min(-kfmDebt, roundTo(-kfmDebt/4, 100))
			d := day(y, mo, 26)
			add(d, "Inbetalning bokförd "+d.Format("060102"), nil, ptr(inst), d)
			kfmDebt += inst
		}
		if m == feeMonth {
			d := day(y, mo, 19)
			if company {
				add(d, "Förseningsavgift", ptr(int64(-625)), nil, d)
				add(d, "Förs.avgift moms", ptr(int64(-625)), nil, d)
				balance -= 1250
			} else {
				add(d, "Förseningsavgift", ptr(int64(-1250)), nil, d)
				balance -= 1250
			}
		}
		if mo == time.November {
			st := roundTo(int64(rng.IntN(30000)-18000)*scale, 1)
			d := day(y, mo, 12)
			add(d, "Slutlig skatt", ptr(st), nil, d)
			balance += st
			if st > 0 {
				out := day(y, mo, 19)
				add(out, "Utbetalning", ptr(-st), nil, out)
				balance -= st
			}
		}
		if m == months-2 {
			// Identical twins: two payments of the same amount on the same day.
			d := day(y, mo, 26)
			amt := roundTo(int64(1000+rng.IntN(5000)), 100)
			txt := "Inbetalning bokförd " + d.Format("060102")
			add(d, txt, ptr(amt), nil, d)
			add(d, txt, ptr(amt), nil, d)
			balance += 2 * amt
			// A retroactive series: one row per earlier month, same
			// date, text and amount.
			rd := day(y, mo, 21)
			step := -roundTo(int64(400+rng.IntN(2000)), 10)
			for k := 3; k >= 1; k-- {
				add(rd, "Debiterad preliminärskatt", ptr(step), nil, day(y, mo-time.Month(k), 12))
				balance += step
			}
		}
	}
	sortStable(rows)
	if nTransactions >= 0 && len(rows) > nTransactions {
		rows = rows[len(rows)-nTransactions:]
	}

	a := Account{Omfragad: omfragad, OcrNummer: OCR(omfragad), NastaAvstamningsdatum: firstSaturdayOfNextMonth(today)}
	id := int64(300000000 + rng.IntN(100000000))
	for i := range rows {
		id += int64(1 + rng.IntN(9))
		rows[i].Transaktionsidentitet = id
		if rows[i].BeloppSkatteverket != nil {
			a.SaldoSkatteverket += *rows[i].BeloppSkatteverket
		}
		if rows[i].BeloppKronofogden != nil {
			a.SaldoKronofogden += *rows[i].BeloppKronofogden
		}
	}
	a.Tidigare = rows
	if a.SaldoSkatteverket < 0 {
		a.RantaSkatteverket = min(-1, a.SaldoSkatteverket*575/120000*int64(today.Day())/30)
	}
	if a.SaldoKronofogden < 0 {
		a.RantaKronofogden = min(-1, a.SaldoKronofogden*8/1200*int64(today.Day())/30)
	}

	// Upcoming rows due on the next 12th.
	due := day(today.Year(), today.Month(), 12)
	if today.Day() >= 12 {
		due = day(today.Year(), today.Month()+1, 12)
	}
	prev := due.AddDate(0, -1, 0)
	prev2 := due.AddDate(0, -2, 0)
	decided := today.AddDate(0, 0, -1-rng.IntN(5))
	up := func(text string, amt int64, beslut bool) {
		t := Transaction{Transaktionsdatum: due.Format(dateLayout), Forfallodatum: due.Format(dateLayout),
			Ranteberakningsdatum: due.Format(dateLayout), Transaktionstext: text, BeloppSkatteverket: ptr(amt)}
		if beslut {
			t.Beslutsdatum = decided.Format(dateLayout)
		}
		a.Kommande = append(a.Kommande, t)
	}
	up("Debiterad preliminärskatt", prelim, false)
	if company {
		ag := -int64(2500+rng.IntN(9000)) * scale
		up("Arbetsgivaravgift "+monthName(prev)+" "+itoa(prev.Year()), ag, true)
		up("Avdragen skatt "+monthName(prev)+" "+itoa(prev.Year()), ag*9/10, true)
		if !large {
			up("Moms "+monthName(prev2)+" "+itoa(prev2.Year()), -int64(1000+rng.IntN(12000))*scale, true)
		}
	}
	if rng.IntN(3) != 0 {
		a.Utbetalningskonto = ptr(itoa(int64(8000+rng.IntN(1000))) + "-" + itoa(int64(1+rng.IntN(9))) +
			", " + itoa(int64(100000000+rng.IntN(900000000))))
	}
	return a
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
