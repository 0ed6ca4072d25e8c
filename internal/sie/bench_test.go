package sie_test

import (
	"fmt"
	"testing"

	"github.com/skattekonto-events/skattekonto-events/internal/idnr"
	"github.com/skattekonto-events/skattekonto-events/internal/sie"
)

// BenchmarkEncode writes a year of a busy account: 1,000 vouchers.
func BenchmarkEncode(b *testing.B) {
	vs := make([]sie.Voucher, 1000)
	for i := range vs {
		vs[i] = sie.Voucher{Series: "A", Date: "2026-11-12", Text: fmt.Sprintf("Debiterad preliminärskatt [%d]", 884213000+i),
			Lines: []sie.Line{{Account: "2518", Amount: 18700}, {Account: "1630", Amount: -18700}}}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := sie.Encode(header(), vs); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExport reads 1,000 NewTransaction events from a stream on an
// in-process server and writes the file.
func BenchmarkExport(b *testing.B) {
	e := newEnv(b)
	for i := range 1000 {
		e.publish(tx(company, fmt.Sprint(884213000+i), "2026-11-12", "Debiterad preliminärskatt", -18700, mapped("2518", "1630", 18700)), "")
	}
	q := sie.Query{Account: idnr.MustParse(company), From: "2026-01-01", To: "2026-12-31"}
	b.ReportAllocs()
	for b.Loop() {
		res, err := e.x.Export(b.Context(), q)
		if err != nil || res.Vouchers != 1000 {
			b.Fatalf("%v vouchers, %v", res, err)
		}
	}
}
