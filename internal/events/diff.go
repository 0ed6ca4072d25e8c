package events

import (
	"slices"
	"strconv"
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
)

// Options tunes Diff. The zero value means the defaults.
type Options struct {
	// ReminderDays are the offsets, in days before a due date, at which a
	// DueReminder is sent; default 7 and 1.
	ReminderDays []int
	// Location is the time zone that decides what "today" is; default
	// contract.Stockholm.
	Location *time.Location
	// Uppmaning and Krav are the shortfalls (positive kronor) at which a
	// betalningsuppmaning and a betalningskrav follow; default 2,000 and
	// 10,000.
	Uppmaning, Krav int64
	// Voucher, when set, proposes the booking of a new transaction.
	Voucher func(omfragad string, r *APIRow) *Voucher
}

func (o Options) withDefaults() Options {
	if o.ReminderDays == nil {
		o.ReminderDays = []int{7, 1}
	}
	if o.Location == nil {
		o.Location = contract.Stockholm
	}
	if o.Uppmaning <= 0 {
		o.Uppmaning = 2000
	}
	if o.Krav <= 0 {
		o.Krav = 10000
	}
	return o
}

// Result is the outcome of Diff: the events, in publishing order, and the
// state that accounts for all of them.
type Result struct {
	Events []Event
	Next   State

	prev State
	// newTx are the fingerprints of the NewTransaction events, which come
	// first in Events, in the same order: a prefix of Events together with
	// prev plus that prefix of newTx is a consistent partial state.
	newTx []fp
}

// Changes is the number of change events (FetchCompleted excluded).
func (r *Result) Changes() int { return len(r.Events) }

// Partial returns the state that accounts for exactly the first n events,
// where n ≤ the number of NewTransaction events; it lets a large first
// fetch be stored in several atomic batches.
func (r *Result) Partial(n int) State {
	s := r.prev
	s.Known = r.prev.Known.with(r.newTx[:n], 0)
	return s
}

// NewTransactions is the number of leading NewTransaction events.
func (r *Result) NewTransactions() int { return len(r.newTx) }

// Diff computes the events that lead from the stored state prev to what
// snap shows, and the next state. It is a pure function of its arguments:
// now only decides "today" for due-date reminders and the events' time.
//
// Event ids are derived from the account, the change and, for changes of
// a value that may later return to an earlier one, prev's generation, so
// that repeating the same diff after a crash yields the same ids while a
// value changing back and forth later yields new ones.
func Diff(prev State, snap Snapshot, now time.Time, opt Options) Result {
	opt = opt.withDefaults()
	d := differ{
		acct: snap.Omfragad,
		now:  now.UTC(),
		opt:  opt,
		gen:  "g" + strconv.FormatUint(prev.Generation, 10),
	}
	next := prev
	next.Generation = prev.Generation + 1

	// Transactions first: NewTransaction events lead the list (see Result.newTx).
	if t := snap.Transaktioner; t != nil {
		d.transactions(&prev, &next, t)
	}
	if s := snap.Saldo; s != nil {
		d.saldo(&prev, &next, s)
	}
	d.common(&prev, &next, &snap)
	// Reminders follow the calendar: they are due also when this fetch
	// skipped the transactions call because nothing had changed.
	if t := snap.Transaktioner; t != nil {
		d.reminders(&next, t.CorrelationID)
	} else if next.Seen&SeenTransaktioner != 0 && len(snap.Answers()) > 0 {
		d.reminders(&next, snap.Answers()[0].CorrelationID)
	}
	if u := snap.Utbetalningskonto; u != nil {
		d.payout(&prev, &next, u)
	}
	if b := snap.Utbetalningssparrar; b != nil {
		d.blocks(&prev, &next, b)
	}
	if snap.Saldo != nil || snap.Transaktioner != nil {
		d.forecast(&prev, &next, &snap)
	}
	return Result{Events: d.events, Next: next, prev: prev, newTx: d.newTx}
}

type differ struct {
	acct   string
	now    time.Time
	opt    Options
	gen    string
	events []Event
	newTx  []fp
}

func (d *differ) emit(t Type, id, correlationID string, data any) {
	d.events = append(d.events, Event{
		ID:            id,
		Type:          t,
		Subject:       d.acct,
		Time:          d.now,
		CorrelationID: correlationID,
		Data:          data,
	})
}

func (d *differ) header(baseline bool) Header { return Header{Omfragad: d.acct, Baseline: baseline} }

// dayNumber counts days since 2000-01-01 for a YYYY-MM-DD date; ok is
// false for anything else.
func dayNumber(date string) (uint16, bool) {
	t, err := time.Parse(time.DateOnly, date)
	if err != nil {
		return 0, false
	}
	days := t.Sub(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).Hours() / 24
	if days < 0 || days > 65535 {
		return 0, false
	}
	return uint16(days), true
}

// prunedAfterDays is how long fingerprints are kept: longer than the
// 915 days the API can look back.
const prunedAfterDays = 1000

func (d *differ) today() string { return d.now.In(d.opt.Location).Format(time.DateOnly) }

// bookedID returns a booked row's transaktionId: the API's identity when
// present, else a fingerprint of its content and its occurrence among
// identical rows of the same answer (identical twins are real money).
func bookedID(r *APIRow, occurrence map[uint64]int) string {
	return rowID("fp-", r, r.Ranteberakningsdatum, occurrence)
}

// upcomingID is the same for upcoming rows, which rarely have an identity.
func upcomingID(r *APIRow, occurrence map[uint64]int) string {
	return rowID("up-", r, r.Forfallodatum, occurrence)
}

// rowID is a row's identity, or prefix and a fingerprint of its content:
// its dates (the transaction's and date), text and amounts.
func rowID(prefix string, r *APIRow, date string, occurrence map[uint64]int) string {
	if r.Transaktionsidentitet != "" {
		return r.Transaktionsidentitet
	}
	h := fnv64(r.Transaktionsdatum, date, r.Transaktionstext,
		amountString(r.BeloppSkatteverket), amountString(r.BeloppKronofogden))
	occurrence[h]++
	return prefix + hex16(h) + "-" + strconv.Itoa(occurrence[h])
}

func (d *differ) transactions(prev, next *State, t *TransaktionerAnswer) {
	baseline := prev.Seen&SeenTransaktioner == 0
	next.Seen |= SeenTransaktioner
	next.TxSenastUppdaterad = t.SenastUppdaterad
	next.TxFetchedOn = d.today()
	next.TxAt = d.now.Unix()
	today, _ := dayNumber(d.today())

	occurrence := map[uint64]int{}
	booked := map[string]int{} // text+amounts of rows booked by this fetch → count
	var inAnswer map[uint64]struct{}
	for i := range t.Tidigare {
		r := &t.Tidigare[i]
		id := bookedID(r, occurrence)
		h := fnv64(id)
		if prev.Known.Contains(h) {
			continue
		}
		if _, dup := inAnswer[h]; dup {
			continue // the same identity twice in one answer: one transaction
		}
		if inAnswer == nil {
			inAnswer = map[uint64]struct{}{}
		}
		inAnswer[h] = struct{}{}
		day, ok := dayNumber(r.Transaktionsdatum)
		if !ok {
			day = today
		}
		d.newTx = append(d.newTx, fp{hash: h, day: day})
		booked[bookingKey(r)]++
		ev := NewTransaction{
			Header:                d.header(baseline),
			TransaktionID:         id,
			Transaktionsidentitet: r.Transaktionsidentitet,
			Transaktionsdatum:     r.Transaktionsdatum,
			Ranteberakningsdatum:  r.Ranteberakningsdatum,
			Transaktionstext:      r.Transaktionstext,
			BeloppSkatteverket:    r.BeloppSkatteverket,
			BeloppKronofogden:     r.BeloppKronofogden,
		}
		if d.opt.Voucher != nil {
			ev.Voucher = d.opt.Voucher(d.acct, r)
		}
		d.emit(TypeNewTransaction, NewID(d.acct, TypeNewTransaction, id), t.CorrelationID, ev)
	}
	minDay := uint16(0)
	if today > prunedAfterDays {
		minDay = today - prunedAfterDays
	}
	if len(d.newTx) > 0 || prev.Known.oldest() < minDay {
		next.Known = prev.Known.with(d.newTx, minDay)
	}
	if t.OcrNummer != "" {
		next.OcrNummer = t.OcrNummer
	}
	d.upcoming(prev, next, t, baseline, booked)
}

// bookingKey matches an upcoming row with the booked row it became: the
// dates change on booking, the text and amounts do not.
func bookingKey(r *APIRow) string {
	return r.Transaktionstext + "\x00" + amountString(r.BeloppSkatteverket) + "\x00" + amountString(r.BeloppKronofogden)
}

func rowKey(r *Row) string {
	return r.Transaktionstext + "\x00" + amountString(r.BeloppSkatteverket) + "\x00" + amountString(r.BeloppKronofogden)
}

func sameRow(a, b *Row) bool {
	return a.Transaktionsdatum == b.Transaktionsdatum && a.Forfallodatum == b.Forfallodatum &&
		a.Beslutsdatum == b.Beslutsdatum && a.Ranteberakningsdatum == b.Ranteberakningsdatum &&
		a.Transaktionstext == b.Transaktionstext && amountString(a.BeloppSkatteverket) == amountString(b.BeloppSkatteverket) &&
		amountString(a.BeloppKronofogden) == amountString(b.BeloppKronofogden)
}

// upcoming compares the answer's upcoming rows with the remembered ones
// (matchUpcoming): a matched row that differs changed, an unmatched one
// is new, and a remembered one left unmatched is withdrawn.
func (d *differ) upcoming(prev, next *State, t *TransaktionerAnswer, baseline bool, booked map[string]int) {
	ocr := t.OcrNummer
	if ocr == "" {
		ocr = prev.OcrNummer
	}
	rows := make([]Row, len(t.Kommande))
	for i := range t.Kommande {
		rows[i] = t.Kommande[i].row()
	}
	matched, used := matchUpcoming(prev.Upcoming, t.Kommande, rows, booked)
	next.Upcoming = make([]Upcoming, 0, len(rows))
	occurrence := map[uint64]int{}
	for i := range t.Kommande {
		id := upcomingID(&t.Kommande[i], occurrence)
		if m := matched[i]; m != 0 {
			p := prev.Upcoming[m-1]
			if !sameRow(&p.Row, &rows[i]) {
				d.emit(TypeUpcomingChanged, NewID(d.acct, TypeUpcomingChanged, p.ID, d.gen, rowValue(&rows[i])), t.CorrelationID, UpcomingChanged{
					Header: d.header(false), TransaktionID: p.ID, Previous: p.Row, Current: rows[i],
				})
			}
			p.Row = rows[i]
			next.Upcoming = append(next.Upcoming, p)
			continue
		}
		// A new id must not clash with a remembered one.
		for slices.ContainsFunc(next.Upcoming, func(u Upcoming) bool { return u.ID == id }) ||
			slices.ContainsFunc(prev.Upcoming, func(u Upcoming) bool { return u.ID == id }) {
			id = upcomingID(&t.Kommande[i], occurrence)
		}
		next.Upcoming = append(next.Upcoming, Upcoming{ID: id, Row: rows[i]})
		d.emit(TypeUpcomingDue, NewID(d.acct, TypeUpcomingDue, id, d.gen), t.CorrelationID, UpcomingDue{
			Header: d.header(baseline), TransaktionID: id, Row: rows[i], OcrNummer: ocr,
		})
	}
	for j := range prev.Upcoming {
		if used[j] {
			continue
		}
		p := &prev.Upcoming[j]
		d.emit(TypeUpcomingWithdrawn, NewID(d.acct, TypeUpcomingWithdrawn, p.ID, d.gen), t.CorrelationID, UpcomingWithdrawn{
			Header: d.header(false), TransaktionID: p.ID, Row: p.Row,
		})
	}
}

// matchUpcoming matches the answer's upcoming rows (kommande, as rows)
// with the remembered ones: first identical rows (or equal identities),
// then rows with the same text (an amount or a date changed). A
// remembered row whose text and amounts were booked in this fetch became
// that booked row: it is used up without a match, so it yields no
// UpcomingWithdrawn. matched[i] is 1 + the index of row i's remembered
// row, 0 for none; used[j] tells whether remembered row j is accounted for.
func matchUpcoming(prev []Upcoming, kommande []APIRow, rows []Row, booked map[string]int) (matched []int, used []bool) {
	matched = make([]int, len(rows))
	used = make([]bool, len(prev))
	// Pass 1: same identity, or the same content.
	for i := range kommande {
		for j := range prev {
			if used[j] {
				continue
			}
			p := &prev[j]
			if (kommande[i].Transaktionsidentitet != "" && p.ID == kommande[i].Transaktionsidentitet) || sameRow(&p.Row, &rows[i]) {
				matched[i], used[j] = j+1, true
				break
			}
		}
	}
	// Remembered rows that became booked rows of this fetch are gone, not changed.
	for j := range prev {
		if k := rowKey(&prev[j].Row); !used[j] && booked[k] > 0 {
			booked[k]--
			used[j] = true
		}
	}
	// Pass 2: same text and either the same amounts or the same due date:
	// one of them changed.
	for i := range rows {
		if matched[i] != 0 {
			continue
		}
		for j := range prev {
			p := &prev[j].Row
			if used[j] || p.Transaktionstext != rows[i].Transaktionstext {
				continue
			}
			if rowKey(p) == rowKey(&rows[i]) || (p.Forfallodatum != "" && p.Forfallodatum == rows[i].Forfallodatum) ||
				p.Transaktionsdatum == rows[i].Transaktionsdatum {
				matched[i], used[j] = j+1, true
				break
			}
		}
	}
	return matched, used
}

// reminders sends, for each upcoming row due within one of the reminder
// offsets, one DueReminder for the smallest offset reached, once.
func (d *differ) reminders(next *State, correlationID string) {
	today, err := time.Parse(time.DateOnly, d.today())
	if err != nil {
		return
	}
	for i := range next.Upcoming {
		u := &next.Upcoming[i]
		due, err := time.Parse(time.DateOnly, u.Row.Forfallodatum)
		if err != nil {
			continue
		}
		left := int(due.Sub(today).Hours() / 24)
		if left < 0 {
			continue
		}
		best := -1
		var mask uint32
		for k, off := range d.opt.ReminderDays {
			if k >= 32 || left > off {
				continue
			}
			mask |= 1 << k
			if u.Reminded&(1<<k) == 0 && (best < 0 || off < d.opt.ReminderDays[best]) {
				best = k
			}
		}
		if best < 0 {
			continue
		}
		u.Reminded |= mask
		ocr := next.OcrNummer
		d.emit(TypeDueReminder, reminderID(d.acct, u.ID, u.Row.Forfallodatum, d.opt.ReminderDays[best], d.gen), correlationID, DueReminder{
			Header:             d.header(false),
			TransaktionID:      u.ID,
			Forfallodatum:      u.Row.Forfallodatum,
			DaysLeft:           left,
			Transaktionstext:   u.Row.Transaktionstext,
			BeloppSkatteverket: u.Row.BeloppSkatteverket,
			BeloppKronofogden:  u.Row.BeloppKronofogden,
			OcrNummer:          ocr,
		})
	}
}

func eqAmount(a, b *int64) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func value(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

func (d *differ) saldo(prev, next *State, s *SaldoAnswer) {
	baseline := prev.Seen&SeenSaldo == 0
	next.Seen |= SeenSaldo
	next.SenastUppdaterad = s.SenastUppdaterad
	ocr := s.OcrNummer
	if ocr == "" {
		ocr = prev.OcrNummer
	}
	// The four amounts are mandatory: one the answer lacks (drift,
	// reported as such) is unknown, not changed, and keeps its last value.
	balance, interest := s.Balance.Or(prev.Balance), s.Interest.Or(prev.Interest)
	if baseline || !prev.Balance.Equal(balance) {
		ev := BalanceChanged{
			Header:  d.header(baseline),
			Current: balance,
			Delta: Delta{
				SaldoSkatteverket: value(balance.SaldoSkatteverket) - value(prev.Balance.SaldoSkatteverket),
				SaldoKronofogden:  value(balance.SaldoKronofogden) - value(prev.Balance.SaldoKronofogden),
			},
			OcrNummer:        ocr,
			SenastUppdaterad: s.SenastUppdaterad,
		}
		if !baseline {
			p := prev.Balance
			ev.Previous = &p
		}
		d.emit(TypeBalanceChanged, NewID(d.acct, TypeBalanceChanged, d.gen, amountString(s.Balance.SaldoSkatteverket), amountString(s.Balance.SaldoKronofogden)), s.CorrelationID, ev)
	}
	if baseline || !prev.Interest.Equal(interest) {
		ev := InterestChanged{Header: d.header(baseline), Current: interest, SenastUppdaterad: s.SenastUppdaterad}
		if !baseline {
			p := prev.Interest
			ev.Previous = &p
		}
		d.emit(TypeInterestChanged, NewID(d.acct, TypeInterestChanged, d.gen, amountString(s.Interest.RantaSkatteverket), amountString(s.Interest.RantaKronofogden)), s.CorrelationID, ev)
	}
	next.Balance, next.Interest = balance, interest
	if s.OcrNummer != "" {
		next.OcrNummer = s.OcrNummer
	}
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// common handles what several answers carry: the OCR number and the next
// reconciliation date. An absent value is unknown, not removed.
func (d *differ) common(prev, next *State, snap *Snapshot) {
	ocrCorr := ""
	if snap.Saldo != nil && snap.Saldo.OcrNummer != "" {
		ocrCorr = snap.Saldo.CorrelationID
	} else if snap.Transaktioner != nil && snap.Transaktioner.OcrNummer != "" {
		ocrCorr = snap.Transaktioner.CorrelationID
	}
	if next.OcrNummer != prev.OcrNummer {
		d.emit(TypeOcrNumberChanged, NewID(d.acct, TypeOcrNumberChanged, d.gen, next.OcrNummer), ocrCorr, OcrNumberChanged{
			Header: d.header(prev.OcrNummer == ""), Previous: strPtr(prev.OcrNummer), Current: strPtr(next.OcrNummer),
		})
	}
	for _, a := range snap.Answers() {
		if a.NastaAvstamningsdatum == "" {
			continue
		}
		next.NastaAvstamningsdatum = a.NastaAvstamningsdatum
		if a.NastaAvstamningsdatum != prev.NastaAvstamningsdatum {
			d.emit(TypeReconciliationDateChanged, NewID(d.acct, TypeReconciliationDateChanged, d.gen, a.NastaAvstamningsdatum), a.CorrelationID, ReconciliationDateChanged{
				Header:   d.header(prev.NastaAvstamningsdatum == ""),
				Previous: strPtr(prev.NastaAvstamningsdatum),
				Current:  strPtr(a.NastaAvstamningsdatum),
			})
		}
		break
	}
}

func eqStr(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// payout compares the payout account. An answer without an account but
// with an informationstext is read as "cannot be shown now" (the API says
// so in that text), not as a removal.
func (d *differ) payout(prev, next *State, u *UtbetalningskontoAnswer) {
	if u.Konto == nil && len(u.Informationstext) > 0 {
		return
	}
	baseline := prev.Seen&SeenUtbetalningskonto == 0
	next.Seen |= SeenUtbetalningskonto
	next.Payout = u.Konto
	if eqStr(prev.Payout, u.Konto) {
		return
	}
	d.emit(TypePayoutAccountChanged, NewID(d.acct, TypePayoutAccountChanged, d.gen, strValue(u.Konto)), u.CorrelationID, PayoutAccountChanged{
		Header: d.header(baseline), Previous: prev.Payout, Current: u.Konto,
	})
}

func eqBool(a, b *bool) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func sameBlock(a, b *Block) bool {
	return a.Sparridentitet == b.Sparridentitet && a.DatumFrom == b.DatumFrom && a.DatumTom == b.DatumTom &&
		eqAmount(a.Sparrbelopp, b.Sparrbelopp) && eqBool(a.Totalsparr, b.Totalsparr)
}

func (d *differ) blocks(prev, next *State, b *SparrarAnswer) {
	baseline := prev.Seen&SeenUtbetalningssparrar == 0
	next.Seen |= SeenUtbetalningssparrar
	next.Blocks = slices.Clone(b.Blocks)
	for i := range b.Blocks {
		cur := &b.Blocks[i]
		j := slices.IndexFunc(prev.Blocks, func(p Block) bool { return p.Sparridentitet == cur.Sparridentitet })
		switch {
		case j < 0:
			d.emit(TypePayoutBlockAdded, NewID(d.acct, TypePayoutBlockAdded, cur.Sparridentitet, d.gen, blockValue(cur)), b.CorrelationID, PayoutBlockAdded{
				Header: d.header(baseline), Block: *cur,
			})
		case !sameBlock(&prev.Blocks[j], cur):
			d.emit(TypePayoutBlockChanged, NewID(d.acct, TypePayoutBlockChanged, cur.Sparridentitet, d.gen, blockValue(cur)), b.CorrelationID, PayoutBlockChanged{
				Header: d.header(false), Block: *cur, Previous: prev.Blocks[j],
			})
		}
	}
	for i := range prev.Blocks {
		p := &prev.Blocks[i]
		if !slices.ContainsFunc(b.Blocks, func(c Block) bool { return c.Sparridentitet == p.Sparridentitet }) {
			d.emit(TypePayoutBlockRemoved, NewID(d.acct, TypePayoutBlockRemoved, p.Sparridentitet, d.gen), b.CorrelationID, PayoutBlockRemoved{
				Header: d.header(false), Block: *p,
			})
		}
	}
}

// forecast projects the Skatteverket balance at the next reconciliation
// date (the balance plus the upcoming rows due by then) and reports when
// its level changes; a first level of "none" is not news.
func (d *differ) forecast(prev, next *State, snap *Snapshot) {
	recon := next.NastaAvstamningsdatum
	if recon == "" || next.Seen&SeenSaldo == 0 || next.Balance.SaldoSkatteverket == nil {
		return
	}
	projected := *next.Balance.SaldoSkatteverket
	basedOn := []ForecastRow{}
	for _, u := range next.Upcoming {
		due := u.Row.Forfallodatum
		if due == "" {
			due = u.Row.Transaktionsdatum
		}
		if u.Row.BeloppSkatteverket == nil || due == "" || due > recon {
			continue
		}
		projected += *u.Row.BeloppSkatteverket
		basedOn = append(basedOn, ForecastRow{TransaktionID: u.ID, Forfallodatum: u.Row.Forfallodatum,
			Transaktionsdatum: u.Row.Transaktionsdatum, Belopp: *u.Row.BeloppSkatteverket})
	}
	level := LevelNone
	switch {
	case projected <= -d.opt.Krav:
		level = LevelBetalningskrav
	case projected <= -d.opt.Uppmaning:
		level = LevelBetalningsuppmaning
	}
	was := prev.ForecastLevel
	if was == "" {
		was = LevelNone
	}
	next.ForecastLevel = level
	if level == was {
		return
	}
	corr := ""
	if snap.Saldo != nil {
		corr = snap.Saldo.CorrelationID
	} else if snap.Transaktioner != nil {
		corr = snap.Transaktioner.CorrelationID
	}
	ev := ShortfallForecast{
		Header:             d.header(prev.Seen&SeenSaldo == 0),
		Level:              level,
		PreviousLevel:      was,
		ProjectedBalance:   projected,
		ReconciliationDate: recon,
		OcrNummer:          next.OcrNummer,
		BasedOn:            basedOn,
	}
	if level != LevelNone {
		// Paying the whole projected shortfall avoids every level.
		ev.AmountToPay = -projected
	}
	d.emit(TypeShortfallForecast, NewID(d.acct, TypeShortfallForecast, level, d.gen, strconv.FormatInt(projected, 10)), corr, ev)
}
