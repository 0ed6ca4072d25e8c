package events

import (
	"testing"
	"time"
)

// knownState returns the state after a first fetch of n booked rows.
func knownState(b *testing.B, n int) (State, []APIRow) {
	b.Helper()
	booked := rows(n)
	return Diff(State{}, snapshotWith(booked), now, Options{}).Next, booked
}

// BenchmarkDiff5000Known10New is the diff of a transactions answer of
// 5,010 rows against a state that knows 5,000 of them.
func BenchmarkDiff5000Known10New(b *testing.B) {
	st, _ := knownState(b, 5000)
	answer := rows(5010)
	snap := snapshotWith(answer)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		res := Diff(st, snap, now, Options{})
		if res.NewTransactions() != 10 {
			b.Fatalf("%d new", res.NewTransactions())
		}
	}
}

// BenchmarkDiffUnchanged50 is the common refresh: nothing new in 50 rows.
func BenchmarkDiffUnchanged50(b *testing.B) {
	st, booked := knownState(b, 50)
	snap := snapshotWith(booked)
	snap.Saldo = saldo(-100, 0)
	st = Diff(st, snap, now, Options{}).Next
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if res := Diff(st, snap, now, Options{}); len(res.Events) != 0 {
			b.Fatal("changes")
		}
	}
}

func BenchmarkEventMarshal(b *testing.B) {
	ev := Event{ID: NewID(acct, TypeNewTransaction, "1"), Type: TypeNewTransaction, Subject: acct, Time: time.Now(), FetchID: "f", RequestID: "r", CorrelationID: "c",
		Data: NewTransaction{Header: Header{Omfragad: acct}, TransaktionID: "1", Transaktionsidentitet: "1", Transaktionsdatum: "2026-11-12",
			Ranteberakningsdatum: "2026-11-12", Transaktionstext: "Debiterad preliminärskatt", BeloppSkatteverket: amt(-18700)}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ev.Marshal(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStateEncode5000(b *testing.B) {
	st, _ := knownState(b, 5000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := st.Encode(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStateDecode5000(b *testing.B) {
	st, _ := knownState(b, 5000)
	enc, err := st.Encode()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(len(enc))/5000, "bytes/tx")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := DecodeState(enc); err != nil {
			b.Fatal(err)
		}
	}
}
