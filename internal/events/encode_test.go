package events

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
)

func amountPtr(n int64) *int64 { return &n }

// TestDataAsEncodingJSON: the hand-written data of NewTransaction and
// FetchCompleted is byte for byte what encoding/json writes, for values
// chosen to hit every omitempty, nil and empty slice, and escape; then for
// random values.
func TestDataAsEncodingJSON(t *testing.T) {
	tests := []struct {
		name string
		data any
	}{
		{"transaction, fields only", NewTransaction{Header: Header{Omfragad: acct}, TransaktionID: "t1", Transaktionsdatum: "2026-11-25", Transaktionstext: "Debiterad preliminärskatt"}},
		{"transaction, every field", NewTransaction{Header: Header{Omfragad: acct, Baseline: true}, TransaktionID: "t1", Transaktionsidentitet: "12345",
			Transaktionsdatum: "2026-11-25", Ranteberakningsdatum: "2026-11-12", Transaktionstext: "Inbetalning <bg> & \"ocr\"",
			BeloppSkatteverket: amountPtr(-1292), BeloppKronofogden: amountPtr(0),
			Voucher: &Voucher{Rules: "bas-2026/1", Status: "mapped", Lines: []VoucherLine{{Account: "2518", Debit: amountPtr(1292)}, {Account: "1630", Credit: amountPtr(1292)}}}}},
		{"transaction, unmapped voucher", NewTransaction{Header: Header{Omfragad: acct}, TransaktionID: "t2", Voucher: &Voucher{Rules: "r", Status: "unmapped", Lines: []VoucherLine{}}}},
		{"transaction, voucher without lines", NewTransaction{TransaktionID: "t3", Voucher: &Voucher{Rules: "r", Status: "unmapped"}}},
		{"completed, nil slices", FetchCompleted{Header: Header{Omfragad: acct}}},
		{"completed, empty slices", FetchCompleted{Operations: []string{}, Calls: []Call{}, Skipped: []string{}, Informationstext: []string{}, RequestIDs: []string{}, Unavailable: []Unavailable{}}},
		{"completed, every field", FetchCompleted{Header: Header{Omfragad: acct, Baseline: true}, Operations: []string{"saldo", "transaktioner"}, APICalls: 3,
			Calls: []Call{
				{Operation: "saldo", CorrelationID: "c1", HTTPStatus: 200, At: "2026-11-25T08:00:01.234Z", DurationMs: 12, Sha256: "ab12"},
				{Operation: "transaktioner", CorrelationID: "c2", HTTPStatus: 400, Felkod: 4, At: "2026-11-25T08:00:02Z", DurationMs: 0},
			},
			Skipped: []string{"utbetalningskonto"}, Changes: 7, SenastUppdaterad: "2026-11-25T07:00:00", Informationstext: []string{"Tjänsten\nstängd 03–05 \u2028"},
			RequestIDs:  []string{"erp-1", "erp-2"},
			Unavailable: []Unavailable{{Operation: "utbetalningssparrar", HTTPStatus: 404, CorrelationID: "c3"}, {Operation: "x", HTTPStatus: 404, CorrelationID: "c4", Skipped: true}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assertDataAsJSON(t, tc.data)
		})
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		assertDataAsJSON(t, randomNewTransaction(rng))
		assertDataAsJSON(t, randomFetchCompleted(rng))
	}
}

// FuzzDataAsEncodingJSON: any strings in the two events' data are written
// as encoding/json writes them.
func FuzzDataAsEncodingJSON(f *testing.F) {
	f.Add("t1", "Inbetalning", "2026-11-25", "c1", true)
	f.Add("<&>", "\u2028\x00\xff", "", "", false)
	f.Fuzz(func(t *testing.T, id, text, date, cid string, baseline bool) {
		assertDataAsJSON(t, NewTransaction{Header: Header{Omfragad: id, Baseline: baseline}, TransaktionID: id, Transaktionsidentitet: cid,
			Transaktionsdatum: date, Ranteberakningsdatum: date, Transaktionstext: text,
			Voucher: &Voucher{Rules: text, Status: id, Lines: []VoucherLine{{Account: cid, Debit: amountPtr(int64(len(text)))}}}})
		assertDataAsJSON(t, FetchCompleted{Header: Header{Omfragad: id, Baseline: baseline}, Operations: []string{text}, Calls: []Call{{Operation: text, CorrelationID: cid, At: date, Sha256: id}},
			Skipped: []string{date}, SenastUppdaterad: date, Informationstext: []string{text, cid}, RequestIDs: []string{id},
			Unavailable: []Unavailable{{Operation: text, CorrelationID: cid, Skipped: baseline}}})
	})
}

func assertDataAsJSON(t *testing.T, data any) {
	t.Helper()
	want, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	got, err := appendData(nil, data)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("data of %T:\n got %s\nwant %s", data, got, want)
	}
}

var randomTexts = []string{"", "a", "Debiterad preliminärskatt", "<&>", "\"\\", "\x01\n\t", "\u2028", "\xff", "😀"}

func randomText(rng *rand.Rand) string { return randomTexts[rng.IntN(len(randomTexts))] }

func randomAmount(rng *rand.Rand) *int64 {
	if rng.IntN(3) == 0 {
		return nil
	}
	return amountPtr(rng.Int64N(2_000_000) - 1_000_000)
}

func randomStrings(rng *rand.Rand) []string {
	switch rng.IntN(3) {
	case 0:
		return nil
	case 1:
		return []string{}
	}
	ss := make([]string, 1+rng.IntN(3))
	for i := range ss {
		ss[i] = randomText(rng)
	}
	return ss
}

func randomNewTransaction(rng *rand.Rand) NewTransaction {
	t := NewTransaction{Header: Header{Omfragad: randomText(rng), Baseline: rng.IntN(2) == 0}, TransaktionID: randomText(rng),
		Transaktionsidentitet: randomText(rng), Transaktionsdatum: randomText(rng), Ranteberakningsdatum: randomText(rng),
		Transaktionstext: randomText(rng), BeloppSkatteverket: randomAmount(rng), BeloppKronofogden: randomAmount(rng)}
	if rng.IntN(3) > 0 {
		v := &Voucher{Rules: randomText(rng), Status: randomText(rng)}
		if rng.IntN(3) > 0 {
			v.Lines = []VoucherLine{}
			for range rng.IntN(3) {
				v.Lines = append(v.Lines, VoucherLine{Account: randomText(rng), Debit: randomAmount(rng), Credit: randomAmount(rng)})
			}
		}
		t.Voucher = v
	}
	return t
}

func randomFetchCompleted(rng *rand.Rand) FetchCompleted {
	f := FetchCompleted{Header: Header{Omfragad: randomText(rng), Baseline: rng.IntN(2) == 0}, Operations: randomStrings(rng),
		APICalls: rng.IntN(10), Skipped: randomStrings(rng), Changes: rng.IntN(100) - 1, SenastUppdaterad: randomText(rng),
		Informationstext: randomStrings(rng), RequestIDs: randomStrings(rng)}
	if rng.IntN(3) > 0 {
		f.Calls = []Call{}
		for range rng.IntN(3) {
			f.Calls = append(f.Calls, Call{Operation: randomText(rng), CorrelationID: randomText(rng), HTTPStatus: rng.IntN(600),
				Felkod: rng.IntN(3), At: randomText(rng), DurationMs: rng.Int64N(1000), Sha256: randomText(rng)})
		}
	}
	if rng.IntN(3) > 0 {
		for range rng.IntN(3) {
			f.Unavailable = append(f.Unavailable, Unavailable{Operation: randomText(rng), HTTPStatus: rng.IntN(600),
				CorrelationID: randomText(rng), Skipped: rng.IntN(2) == 0})
		}
	}
	return f
}
