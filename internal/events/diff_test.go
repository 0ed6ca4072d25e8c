package events

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var now = time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)

func amt(v int64) *int64   { return &v }
func str(s string) *string { return &s }

func saldo(skv, kfm int64) *SaldoAnswer {
	return &SaldoAnswer{
		Answer:    Answer{CorrelationID: "c-saldo", NastaAvstamningsdatum: "2026-12-05", SenastUppdaterad: "2026-11-25T04:00:00"},
		Balance:   Balance{SaldoSkatteverket: amt(skv), SaldoKronofogden: amt(kfm)},
		Interest:  Interest{RantaSkatteverket: amt(-12), RantaKronofogden: amt(-10)},
		OcrNummer: "1655667788990",
	}
}

func tx(booked []APIRow, upcoming ...APIRow) *TransaktionerAnswer {
	return &TransaktionerAnswer{
		Answer:    Answer{CorrelationID: "c-tx", NastaAvstamningsdatum: "2026-12-05", SenastUppdaterad: "2026-11-25T04:00:00"},
		OcrNummer: "1655667788990",
		Tidigare:  booked,
		Kommande:  upcoming,
	}
}

func booked(id, date, text string, skv *int64) APIRow {
	return APIRow{Transaktionsidentitet: id, Transaktionsdatum: date, Ranteberakningsdatum: date, Transaktionstext: text, BeloppSkatteverket: skv}
}

func upcoming(date, due, text string, skv int64) APIRow {
	return APIRow{Transaktionsdatum: date, Forfallodatum: due, Transaktionstext: text, BeloppSkatteverket: amt(skv)}
}

// summary is what the tests compare: type, a key and the baseline flag.
type summary struct {
	Type     Type
	Key      string
	Baseline bool
}

func summarize(evs []Event) []summary {
	out := make([]summary, 0, len(evs))
	for _, e := range evs {
		s := summary{Type: e.Type}
		switch d := e.Data.(type) {
		case NewTransaction:
			s.Key, s.Baseline = d.Transaktionstext, d.Baseline
		case UpcomingDue:
			s.Key, s.Baseline = d.Transaktionstext+"@"+d.Forfallodatum, d.Baseline
		case UpcomingChanged:
			s.Key = d.Previous.Transaktionstext + "@" + d.Current.Forfallodatum
		case UpcomingWithdrawn:
			s.Key = d.Transaktionstext
		case DueReminder:
			s.Key = d.Transaktionstext + "/" + itoa(d.DaysLeft)
		case BalanceChanged:
			s.Key, s.Baseline = itoa(int(d.Delta.SaldoSkatteverket))+","+itoa(int(d.Delta.SaldoKronofogden)), d.Baseline
		case InterestChanged:
			s.Baseline = d.Baseline
		case OcrNumberChanged:
			s.Key, s.Baseline = deref(d.Current), d.Baseline
		case ReconciliationDateChanged:
			s.Key, s.Baseline = deref(d.Current), d.Baseline
		case PayoutAccountChanged:
			s.Key, s.Baseline = deref(d.Previous)+">"+deref(d.Current), d.Baseline
		case PayoutBlockAdded:
			s.Key, s.Baseline = d.Sparridentitet, d.Baseline
		case PayoutBlockChanged:
			s.Key = d.Sparridentitet
		case PayoutBlockRemoved:
			s.Key = d.Sparridentitet
		case ShortfallForecast:
			s.Key, s.Baseline = d.PreviousLevel+">"+d.Level, d.Baseline
		}
		out = append(out, s)
	}
	return out
}

func itoa(i int) string { return string(appendInt(nil, i)) }
func appendInt(b []byte, i int) []byte {
	if i < 0 {
		return appendInt(append(b, '-'), -i)
	}
	if i >= 10 {
		b = appendInt(b, i/10)
	}
	return append(b, byte('0'+i%10))
}
func deref(s *string) string {
	if s == nil {
		return "nil"
	}
	return *s
}

func TestDiff(t *testing.T) {
	prelDec := upcoming("2026-12-12", "2026-12-12", "Debiterad preliminärskatt", -5000)
	prelJan := upcoming("2027-01-12", "2027-01-12", "Debiterad preliminärskatt", -5000)
	moms := upcoming("2026-12-12", "2026-12-12", "Moms oktober 2026", -1200)
	momsMore := upcoming("2026-12-12", "2026-12-12", "Moms oktober 2026", -1500)
	in1 := booked("1", "2026-11-10", "Inbetalning bokförd 261110", amt(3000))
	in2 := booked("2", "2026-11-12", "Avdragen skatt oktober 2026", amt(-700))
	twin := booked("", "2026-10-12", "Kostnadsränta", amt(-4))
	kfmOnly := APIRow{Transaktionsdatum: "2026-10-01", Transaktionstext: "Överfört till Kronofogden", BeloppKronofogden: amt(-900)}
	prelBooked := booked("3", "2026-12-12", "Debiterad preliminärskatt", amt(-5000))
	blockA := Block{Sparridentitet: "11", DatumFrom: "2026-11-01", Sparrbelopp: amt(1000)}
	blockA2 := Block{Sparridentitet: "11", DatumFrom: "2026-11-01", Sparrbelopp: amt(2000)}
	blockB := Block{Sparridentitet: "12", DatumFrom: "2026-11-05", Totalsparr: new(bool)}

	full := func(s *SaldoAnswer, t *TransaktionerAnswer, konto *string, blocks ...Block) Snapshot {
		return Snapshot{Omfragad: acct, Saldo: s, Transaktioner: t,
			Utbetalningskonto:   &UtbetalningskontoAnswer{Answer: Answer{CorrelationID: "c-konto"}, Konto: konto},
			Utbetalningssparrar: &SparrarAnswer{Answer: Answer{CorrelationID: "c-block"}, Blocks: blocks}}
	}
	base := full(saldo(-14487, -145409), tx([]APIRow{in1}, moms), str("SE45 5000 0000 0583 9825 7466"), blockA)

	tests := []struct {
		name string
		prev []Snapshot // applied in order to build the stored state
		got  Snapshot
		at   time.Time
		want []summary
	}{
		{
			name: "first fetch is a baseline of everything",
			got:  base,
			want: []summary{
				{TypeNewTransaction, "Inbetalning bokförd 261110", true},
				{TypeUpcomingDue, "Moms oktober 2026@2026-12-12", true},
				{TypeBalanceChanged, "-14487,-145409", true},
				{TypeInterestChanged, "", true},
				{TypeOcrNumberChanged, "1655667788990", true},
				{TypeReconciliationDateChanged, "2026-12-05", true},
				{TypePayoutAccountChanged, "nil>SE45 5000 0000 0583 9825 7466", true},
				{TypePayoutBlockAdded, "11", true},
				{TypeShortfallForecast, "none>betalningskrav", true},
			},
		},
		{name: "nothing changed", prev: []Snapshot{base}, got: base, want: []summary{}},
		{
			name: "new booked transaction and balance change",
			prev: []Snapshot{base},
			got:  full(saldo(-15187, -145409), tx([]APIRow{in1, in2}, moms), str("SE45 5000 0000 0583 9825 7466"), blockA),
			want: []summary{{TypeNewTransaction, "Avdragen skatt oktober 2026", false}, {TypeBalanceChanged, "-700,0", false}},
		},
		{
			name: "identical twins are two transactions",
			prev: []Snapshot{{Omfragad: acct, Transaktioner: tx(nil)}},
			got:  Snapshot{Omfragad: acct, Transaktioner: tx([]APIRow{twin, twin})},
			want: []summary{{TypeNewTransaction, "Kostnadsränta", false}, {TypeNewTransaction, "Kostnadsränta", false}},
		},
		{
			name: "a third twin appearing later is new, the two known are not",
			prev: []Snapshot{{Omfragad: acct, Transaktioner: tx([]APIRow{twin, twin})}},
			got:  Snapshot{Omfragad: acct, Transaktioner: tx([]APIRow{twin, twin, twin})},
			want: []summary{{TypeNewTransaction, "Kostnadsränta", false}},
		},
		{
			name: "retroactive rows differing only in interest date are distinct",
			prev: []Snapshot{{Omfragad: acct, Transaktioner: tx(nil)}},
			got: Snapshot{Omfragad: acct, Transaktioner: tx([]APIRow{
				{Transaktionsdatum: "2026-11-01", Ranteberakningsdatum: "2026-02-12", Transaktionstext: "Slutlig skatt", BeloppSkatteverket: amt(-100)},
				{Transaktionsdatum: "2026-11-01", Ranteberakningsdatum: "2026-03-12", Transaktionstext: "Slutlig skatt", BeloppSkatteverket: amt(-100)},
			})},
			want: []summary{{TypeNewTransaction, "Slutlig skatt", false}, {TypeNewTransaction, "Slutlig skatt", false}},
		},
		{
			name: "a row with only a Kronofogden amount is a transaction, no amount invented",
			prev: []Snapshot{{Omfragad: acct, Transaktioner: tx(nil)}},
			got:  Snapshot{Omfragad: acct, Transaktioner: tx([]APIRow{kfmOnly})},
			want: []summary{{TypeNewTransaction, "Överfört till Kronofogden", false}},
		},
		{
			name: "upcoming booked is a new transaction, not withdrawn; next month's row is new",
			prev: []Snapshot{{Omfragad: acct, Transaktioner: tx(nil, prelDec)}},
			got:  Snapshot{Omfragad: acct, Transaktioner: tx([]APIRow{prelBooked}, prelJan)},
			want: []summary{{TypeNewTransaction, "Debiterad preliminärskatt", false}, {TypeUpcomingDue, "Debiterad preliminärskatt@2027-01-12", false}},
		},
		{
			name: "upcoming withdrawn",
			prev: []Snapshot{{Omfragad: acct, Transaktioner: tx(nil, prelDec, moms)}},
			got:  Snapshot{Omfragad: acct, Transaktioner: tx(nil, prelDec)},
			want: []summary{{TypeUpcomingWithdrawn, "Moms oktober 2026", false}},
		},
		{
			name: "upcoming amount changed",
			prev: []Snapshot{{Omfragad: acct, Transaktioner: tx(nil, moms)}},
			got:  Snapshot{Omfragad: acct, Transaktioner: tx(nil, momsMore)},
			want: []summary{{TypeUpcomingChanged, "Moms oktober 2026@2026-12-12", false}},
		},
		{
			name: "due reminder at seven days, once",
			prev: []Snapshot{{Omfragad: acct, Transaktioner: tx(nil, moms)}},
			got:  Snapshot{Omfragad: acct, Transaktioner: tx(nil, moms)},
			at:   time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC),
			want: []summary{{TypeDueReminder, "Moms oktober 2026/6", false}},
		},
		{
			name: "first seen the day before: one reminder, not two",
			prev: []Snapshot{{Omfragad: acct, Transaktioner: tx(nil)}},
			got:  Snapshot{Omfragad: acct, Transaktioner: tx(nil, moms)},
			at:   time.Date(2026, 12, 11, 8, 0, 0, 0, time.UTC),
			want: []summary{{TypeUpcomingDue, "Moms oktober 2026@2026-12-12", false}, {TypeDueReminder, "Moms oktober 2026/1", false}},
		},
		{
			name: "balance amount missing (drift): the last one is kept, nothing changed",
			prev: []Snapshot{{Omfragad: acct, Saldo: saldo(-100, -50)}},
			got: Snapshot{Omfragad: acct, Saldo: &SaldoAnswer{Answer: saldo(0, 0).Answer, OcrNummer: "1655667788990",
				Balance: Balance{SaldoSkatteverket: amt(-100)}, Interest: saldo(-100, -50).Interest}},
			want: []summary{},
		},
		{
			name: "ocr number and reconciliation date change",
			prev: []Snapshot{{Omfragad: acct, Saldo: saldo(1, 1)}},
			got: Snapshot{Omfragad: acct, Saldo: &SaldoAnswer{Answer: Answer{NastaAvstamningsdatum: "2027-01-02"}, OcrNummer: "999",
				Balance: saldo(1, 1).Balance, Interest: saldo(1, 1).Interest}},
			want: []summary{{TypeOcrNumberChanged, "999", false}, {TypeReconciliationDateChanged, "2027-01-02", false}},
		},
		{
			name: "payout account removed; blocks changed, added and removed",
			prev: []Snapshot{base},
			got:  full(saldo(-14487, -145409), tx([]APIRow{in1}, moms), nil, blockA2, blockB),
			want: []summary{
				{TypePayoutAccountChanged, "SE45 5000 0000 0583 9825 7466>nil", false},
				{TypePayoutBlockChanged, "11", false},
				{TypePayoutBlockAdded, "12", false},
			},
		},
		{
			name: "payout account that cannot be shown now is not a removal",
			prev: []Snapshot{base},
			got: Snapshot{Omfragad: acct, Utbetalningskonto: &UtbetalningskontoAnswer{
				Answer: Answer{Informationstext: []string{"Utbetalningskontot kan inte visas för tillfället"}}}},
			want: []summary{},
		},
		{
			name: "block removed",
			prev: []Snapshot{base},
			got:  Snapshot{Omfragad: acct, Utbetalningssparrar: &SparrarAnswer{}},
			want: []summary{{TypePayoutBlockRemoved, "11", false}},
		},
		{
			name: "saldo-only fetch leaves transactions alone; a first transactions fetch is a baseline",
			prev: []Snapshot{{Omfragad: acct, Saldo: saldo(1, 1)}},
			got:  Snapshot{Omfragad: acct, Transaktioner: tx([]APIRow{in1})},
			want: []summary{{TypeNewTransaction, "Inbetalning bokförd 261110", true}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var st State
			for _, p := range tc.prev {
				st = Diff(st, p, now, Options{}).Next
			}
			at := tc.at
			if at.IsZero() {
				at = now
			}
			res := Diff(st, tc.got, at, Options{})
			if diff := cmp.Diff(tc.want, summarize(res.Events)); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			// Applying the same answer again changes nothing.
			again := Diff(res.Next, tc.got, at, Options{})
			if len(again.Events) != 0 {
				t.Errorf("repeat produced %v", summarize(again.Events))
			}
			// The diff is deterministic: the same inputs give the same ids.
			twice := Diff(st, tc.got, at, Options{})
			for i := range res.Events {
				if res.Events[i].ID != twice.Events[i].ID {
					t.Errorf("event %d id %s then %s", i, res.Events[i].ID, twice.Events[i].ID)
				}
			}
			seen := map[string]bool{}
			for _, e := range res.Events {
				if seen[e.ID] {
					t.Errorf("id %s twice in one diff", e.ID)
				}
				seen[e.ID] = true
			}
		})
	}
}

func TestDiffValueBackAndForthGetsNewIDs(t *testing.T) {
	var st State
	ids := map[string]bool{}
	for i, bal := range []int64{1, 2, 1, 2} {
		res := Diff(st, Snapshot{Omfragad: acct, Saldo: saldo(bal, 0)}, now, Options{})
		for _, e := range res.Events {
			if e.Type == TypeBalanceChanged {
				if ids[e.ID] {
					t.Fatalf("step %d: BalanceChanged id reused", i)
				}
				ids[e.ID] = true
			}
		}
		st = res.Next
	}
}

func TestDiffKeepsNewTransactionData(t *testing.T) {
	res := Diff(State{}, Snapshot{Omfragad: acct, Transaktioner: tx([]APIRow{{Transaktionsdatum: "2026-10-01", Transaktionstext: "X", BeloppKronofogden: amt(-900)}})}, now, Options{})
	got := res.Events[0].Data.(NewTransaction)
	if got.BeloppSkatteverket != nil || got.BeloppKronofogden == nil || *got.BeloppKronofogden != -900 || got.TransaktionID == "" {
		t.Fatalf("got %+v", got)
	}
}

func TestStateRoundTrip(t *testing.T) {
	res := Diff(State{}, Snapshot{Omfragad: acct, Saldo: saldo(-5, 0), Transaktioner: tx(rows(100), upcoming("2026-12-12", "2026-12-12", "Moms", -5))}, now, Options{})
	b, err := res.Next.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeState(b)
	if err != nil {
		t.Fatal(err)
	}
	got.V = 0
	if diff := cmp.Diff(res.Next, got); diff != "" {
		t.Fatalf("round trip (-want +got):\n%s", diff)
	}
	if per := float64(len(b)) / 100; per > 32 {
		t.Errorf("state is %.1f bytes per known transaction, want ≤ 32", per)
	}
	for _, bad := range []string{"{", `{"v":99}`, `{"v":1,"known":"AAE="}`} {
		if _, err := DecodeState([]byte(bad)); err == nil {
			t.Errorf("DecodeState(%q) accepted", bad)
		}
	}
}

func TestDiffShortfallForecast(t *testing.T) {
	recon := "2026-12-05"
	snap := func(balance int64, upcoming ...APIRow) Snapshot {
		s := saldo(balance, 0)
		s.NastaAvstamningsdatum = recon
		tr := tx(nil, upcoming...)
		tr.NastaAvstamningsdatum = recon
		return Snapshot{Omfragad: acct, Saldo: s, Transaktioner: tr}
	}
	beforeRecon := upcoming("2026-11-26", "2026-11-26", "Moms september 2026", -1500)
	afterRecon := upcoming("2026-12-12", "2026-12-12", "Debiterad preliminärskatt", -50000)
	steps := []struct {
		name     string
		snap     Snapshot
		want     string // previous>level, "" for no event
		projects int64
		pay      int64
	}{
		{"first fetch at none: no event", snap(1000, afterRecon), "", 0, 0},
		{"an upcoming row due before the reconciliation tips it", snap(-1000, beforeRecon, afterRecon), "none>betalningsuppmaning", -2500, 2500},
		{"same level: no event", snap(-1100, beforeRecon, afterRecon), "", 0, 0},
		{"deeper: krav", snap(-9000, beforeRecon, afterRecon), "betalningsuppmaning>betalningskrav", -10500, 10500},
		{"paid: none", snap(2000, beforeRecon, afterRecon), "betalningskrav>none", 500, 0},
	}
	var st State
	for _, step := range steps {
		res := Diff(st, step.snap, now, Options{})
		var got []ShortfallForecast
		for _, e := range res.Events {
			if f, ok := e.Data.(ShortfallForecast); ok {
				got = append(got, f)
			}
		}
		switch {
		case step.want == "" && len(got) != 0:
			t.Errorf("%s: unexpected %+v", step.name, got)
		case step.want != "" && len(got) != 1:
			t.Errorf("%s: %d forecasts", step.name, len(got))
		case step.want != "":
			f := got[0]
			if f.PreviousLevel+">"+f.Level != step.want || f.ProjectedBalance != step.projects || f.AmountToPay != step.pay ||
				f.ReconciliationDate != recon || len(f.BasedOn) != 1 || f.OcrNummer == "" {
				t.Errorf("%s: got %+v", step.name, f)
			}
		}
		st = res.Next
	}
}

func TestStateRemembersRecentFetches(t *testing.T) {
	var s State
	for i := 0; i < 100; i++ {
		s.recordFetch([]string{itoa(i)})
	}
	if len(s.Fetches) != maxRecentFetches*8 {
		t.Fatalf("%d bytes of fetch ids, want %d", len(s.Fetches), maxRecentFetches*8)
	}
	for i := 0; i < 100; i++ {
		if got, want := s.HasFetch(itoa(i)), i >= 100-maxRecentFetches; got != want {
			t.Errorf("HasFetch(%d) = %v, want %v", i, got, want)
		}
	}
	b, err := s.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeState(b)
	if err != nil || !back.HasFetch("99") {
		t.Fatalf("round trip: %v", err)
	}
}

// TestDiffValueIDsAfterALostTail diffs twice from the same state, as a
// fetch after a power loss took the last commits does: a change to the
// value the lost event reported gets that event's id, a change to another
// value a new id, so that a consumer de-duplicating by id keeps it.
func TestDiffValueIDsAfterALostTail(t *testing.T) {
	base := Diff(State{}, Snapshot{Omfragad: acct, Saldo: saldo(-100, 0),
		Utbetalningskonto:   &UtbetalningskontoAnswer{Konto: str("1234-5678")},
		Utbetalningssparrar: &SparrarAnswer{Blocks: []Block{{Sparridentitet: "s1", Sparrbelopp: amt(10)}}}}, now, Options{}).Next
	lost := Snapshot{Omfragad: acct, Saldo: saldo(-200, 0),
		Utbetalningskonto:   &UtbetalningskontoAnswer{Konto: str("1111-2222")},
		Utbetalningssparrar: &SparrarAnswer{Blocks: []Block{{Sparridentitet: "s1", Sparrbelopp: amt(20)}}}}
	lost.Saldo.Interest.RantaSkatteverket = amt(-30)
	lost.Saldo.NastaAvstamningsdatum = "2027-01-09"
	lost.Saldo.OcrNummer = "1655667788991"
	other := Snapshot{Omfragad: acct, Saldo: saldo(-300, 0),
		Utbetalningskonto:   &UtbetalningskontoAnswer{Konto: str("3333-4444")},
		Utbetalningssparrar: &SparrarAnswer{Blocks: []Block{{Sparridentitet: "s1", Sparrbelopp: amt(30)}}}}
	other.Saldo.Interest.RantaSkatteverket = amt(-40)
	other.Saldo.NastaAvstamningsdatum = "2027-02-09"
	other.Saldo.OcrNummer = "1655667788992"

	ids := func(snap Snapshot) map[Type]string {
		out := map[Type]string{}
		for _, e := range Diff(base, snap, now, Options{}).Events {
			out[e.Type] = e.ID
		}
		return out
	}
	first, same, changed := ids(lost), ids(lost), ids(other)
	types := []Type{TypeBalanceChanged, TypeInterestChanged, TypeOcrNumberChanged, TypeReconciliationDateChanged,
		TypePayoutAccountChanged, TypePayoutBlockChanged}
	for _, typ := range types {
		if first[typ] == "" {
			t.Errorf("%s: not emitted", typ)
			continue
		}
		if same[typ] != first[typ] {
			t.Errorf("%s: the same value got id %s, the lost event had %s", typ, same[typ], first[typ])
		}
		if changed[typ] == first[typ] {
			t.Errorf("%s: another value got the lost event's id %s", typ, first[typ])
		}
	}
}
