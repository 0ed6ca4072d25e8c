package sie_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/events"
	"github.com/skattekonto-events/skattekonto-events/internal/idnr"
	"github.com/skattekonto-events/skattekonto-events/internal/natstest"
	"github.com/skattekonto-events/skattekonto-events/internal/sie"
)

const (
	company = "165566778899"
	other   = "165560000167"
	// soleTrader is the simulator's sole trader (a test personnummer).
	soleTrader = "198112189876"
)

// env is a NATS server with the events stream and an Exporter on it.
type env struct {
	t  testing.TB
	nc *nats.Conn
	js jetstream.JetStream
	x  *sie.Exporter
}

func newEnv(t testing.TB) *env {
	t.Helper()
	srv := natstest.RunTest(t)
	nc, js := natstest.Connect(t, srv)
	if _, err := js.CreateOrUpdateStream(t.Context(), events.StoreConfig{}.StreamConfig()); err != nil {
		t.Fatal(err)
	}
	x, err := sie.New(js, sie.Config{Company: "Demo AB", Version: "v1.2.3", Now: func() time.Time { return day }})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, nc: nc, js: js, x: x}
}

// publish stores tx as the worker does: the event's id as Nats-Msg-Id, or
// msgID when given (a copy stored again after the duplicate window).
func (e *env) publish(tx events.NewTransaction, msgID string) string {
	e.t.Helper()
	id := events.NewID(tx.Omfragad, events.TypeNewTransaction, tx.TransaktionID)
	ev := events.Event{ID: id, Type: events.TypeNewTransaction, Subject: tx.Omfragad, Time: day, FetchID: "f-1", Data: tx}
	b, err := ev.Marshal()
	if err != nil {
		e.t.Fatal(err)
	}
	if msgID == "" {
		msgID = id
	}
	e.raw(ev.NATSSubject(), b, msgID)
	return id
}

func (e *env) raw(subject string, body []byte, msgID string) {
	e.t.Helper()
	m := nats.NewMsg(subject)
	m.Data = body
	m.Header.Set(jetstream.MsgIDHeader, msgID)
	if _, err := e.js.PublishMsg(e.t.Context(), m); err != nil {
		e.t.Fatal(err)
	}
}

func kr(n int64) *int64 { return &n }

func tx(acct, id, date, text string, skv int64, v *events.Voucher) events.NewTransaction {
	return events.NewTransaction{
		Header: events.Header{Omfragad: acct}, TransaktionID: id, Transaktionsidentitet: id,
		Transaktionsdatum: date, Transaktionstext: text, BeloppSkatteverket: kr(skv), Voucher: v,
	}
}

// mapped is a mapped voucher: debit on one account, credit on the other.
func mapped(debit, credit string, amount int64) *events.Voucher {
	return &events.Voucher{Rules: "skattekonto-events-default@1", Status: "mapped", Lines: []events.VoucherLine{
		{Account: debit, Debit: kr(amount)}, {Account: credit, Credit: kr(amount)}}}
}

var unmappedVoucher = &events.Voucher{Rules: "skattekonto-events-default@1", Status: "unmapped", Lines: []events.VoucherLine{}}

func (e *env) export(q sie.Query) (*sie.Result, *sieFile) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.t.Context(), time.Minute)
	defer cancel()
	res, err := e.x.Export(ctx, q)
	if err != nil {
		e.t.Fatalf("Export: %v", err)
	}
	f, err := parseSIE(res.File)
	if err != nil {
		e.t.Fatalf("parse the export: %v\n%s", err, decodeCP437(res.File))
	}
	balanced(e.t, f)
	if len(f.vers) != res.Vouchers {
		e.t.Errorf("the file holds %d vouchers, the result says %d", len(f.vers), res.Vouchers)
	}
	return res, f
}

// ver is a voucher as read from a file, in short.
type ver struct {
	Date, Text string
	Trans      map[string]int64 // account → öre
}

func vers(f *sieFile) []ver {
	var out []ver
	for _, v := range f.vers {
		if v.series != "A" || v.number != "" {
			panic("series " + v.series + " number " + v.number)
		}
		w := ver{Date: v.date, Text: v.text, Trans: map[string]int64{}}
		for _, t := range v.trans {
			w.Trans[t.account] += t.ore
		}
		out = append(out, w)
	}
	return out
}

type left struct{ ID, Reason string }

func leftOut(us []sie.Unmapped) []left {
	out := []left{}
	for _, u := range us {
		out = append(out, left{u.TransaktionID, u.Reason})
	}
	return out
}

// fill publishes a month of an account's events, with every case the
// export must tell apart, and returns the id of the duplicated event.
func (e *env) fill() {
	e.t.Helper()
	e.publish(tx(company, "101", "2026-10-31", "Moms augusti 2026", -7000, mapped("2650", "1630", 7000)), "")
	e.publish(tx(company, "102", "2026-11-12", "Debiterad preliminärskatt", -1292, mapped("2518", "1630", 1292)), "")
	e.publish(tx(company, "103", "2026-11-12", "Anstånd", -500, unmappedVoucher), "")
	// Booked earlier than the row above, published later: the file is
	// in date order.
	e.publish(tx(company, "104", "2026-11-05", "Inbetalning bokförd 261105", 5000, mapped("1630", "1930", 5000)), "")
	kfm := tx(company, "105", "2026-11-20", "Kostnadsränta", 0, unmappedVoucher)
	kfm.BeloppSkatteverket, kfm.BeloppKronofogden = nil, kr(-30)
	e.publish(kfm, "")
	e.publish(tx(company, "106", "2026-11-21", "Slutlig skatt", -900, nil), "")
	bad := mapped("2512", "1630", 900)
	*bad.Lines[1].Credit = 800
	e.publish(tx(company, "107", "2026-11-22", "Kvarskatt", -900, bad), "")
	// The same event stored again, after the duplicate window.
	e.publish(tx(company, "102", "2026-11-12", "Debiterad preliminärskatt", -1292, mapped("2518", "1630", 1292)), "again")
	e.publish(tx(company, "108", "2026-12-12", "Debiterad preliminärskatt", -1292, mapped("2518", "1630", 1292)), "")
	e.publish(tx(other, "201", "2026-11-15", "Debiterad preliminärskatt", -100, mapped("2518", "1630", 100)), "")
	e.raw(contract.EventSubject(company, "BalanceChanged"), []byte(`{"id":"b1","type":"skattekonto.BalanceChanged","data":{}}`), "b1")
	e.raw(contract.EventSubject(company, "NewTransaction"), []byte(`{not json`), "garbled-1")
}

func TestExport(t *testing.T) {
	e := newEnv(t)
	e.fill()
	acct := idnr.MustParse(company)
	prel := ver{"20261112", "Debiterad preliminärskatt [102]", map[string]int64{"2518": 129200, "1630": -129200}}
	inbet := ver{"20261105", "Inbetalning bokförd 261105 [104]", map[string]int64{"1630": 500000, "1930": -500000}}
	moms := ver{"20261031", "Moms augusti 2026 [101]", map[string]int64{"2650": 700000, "1630": -700000}}
	dec := ver{"20261212", "Debiterad preliminärskatt [108]", map[string]int64{"2518": 129200, "1630": -129200}}
	garbled := left{"", sie.ReasonInvalidEvent}
	novemberLeft := []left{garbled, {"103", sie.ReasonUnmapped}, {"105", sie.ReasonUnmapped}, {"106", sie.ReasonNoVoucher}, {"107", sie.ReasonInvalidVoucher}}
	tests := []struct {
		name, from, to string
		want           []ver
		left           []left
	}{
		{"november", "2026-11-01", "2026-11-30", []ver{inbet, prel}, novemberLeft},
		{"one day", "2026-11-12", "2026-11-12", []ver{prel}, []left{garbled, {"103", sie.ReasonUnmapped}}},
		{"the year", "2026-01-01", "2026-12-31", []ver{moms, inbet, prel, dec}, novemberLeft},
		{"before any", "2025-01-01", "2025-12-31", nil, []left{garbled}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, f := e.export(sie.Query{Account: acct, From: tc.from, To: tc.to})
			if diff := cmp.Diff(tc.want, vers(f)); diff != "" {
				t.Errorf("vouchers (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.left, leftOut(res.Unmapped)); diff != "" {
				t.Errorf("left out (-want +got):\n%s", diff)
			}
			if f.orgnr != "556677-8899" || f.fnamn != "Demo AB" {
				t.Errorf("#ORGNR %q #FNAMN %q, want 556677-8899 and Demo AB", f.orgnr, f.fnamn)
			}
			for _, v := range f.vers {
				for _, tr := range v.trans {
					if f.konto[tr.account] == "" {
						t.Errorf("account %s used without #KONTO", tr.account)
					}
				}
			}
		})
	}
	t.Run("unmapped keep what the bookkeeper needs", func(t *testing.T) {
		res, _ := e.export(sie.Query{Account: acct, From: "2026-11-20", To: "2026-11-20"})
		want := []sie.Unmapped{
			{EventID: "garbled-1", Reason: sie.ReasonInvalidEvent},
			{EventID: events.NewID(company, events.TypeNewTransaction, "105"), TransaktionID: "105", Transaktionsdatum: "2026-11-20",
				Transaktionstext: "Kostnadsränta", BeloppKronofogden: kr(-30), Reason: sie.ReasonUnmapped},
		}
		if diff := cmp.Diff(want, res.Unmapped); diff != "" {
			t.Errorf("unmapped (-want +got):\n%s", diff)
		}
	})
	t.Run("series", func(t *testing.T) {
		res, err := e.x.Export(t.Context(), sie.Query{Account: acct, From: "2026-11-01", To: "2026-11-30", Series: "SKV"})
		if err != nil {
			t.Fatal(err)
		}
		f, err := parseSIE(res.File)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range f.vers {
			if v.series != "SKV" {
				t.Errorf("series %q, want SKV", v.series)
			}
		}
	})
}

// TestExportEmpty: an account without events gets a file with the header
// only, which reads as a valid file.
func TestExportEmpty(t *testing.T) {
	e := newEnv(t)
	e.publish(tx(other, "201", "2026-11-15", "Debiterad preliminärskatt", -100, mapped("2518", "1630", 100)), "")
	res, f := e.export(sie.Query{Account: idnr.MustParse(company), From: "2026-01-01", To: "2026-12-31"})
	if res.Vouchers != 0 || len(res.Unmapped) != 0 || len(f.vers) != 0 || len(f.konto) != 0 {
		t.Errorf("got %d vouchers, %d unmapped, %d #VER, %d #KONTO; want none", res.Vouchers, len(res.Unmapped), len(f.vers), len(f.konto))
	}
	if res.Unmapped == nil {
		t.Error("Unmapped is nil, want empty")
	}
	want := "#FLAGGA 0\r\n#PROGRAM \"skattekonto-events\" \"v1.2.3\"\r\n#FORMAT PC8\r\n#GEN 20261201\r\n#SIETYP 4\r\n#ORGNR 556677-8899\r\n#FNAMN \"Demo AB\"\r\n"
	if got := decodeCP437(res.File); got != want {
		t.Errorf("file:\n%s\nwant:\n%s", got, want)
	}
	// No events stream at all is an error, not an empty file.
	if err := e.js.DeleteStream(t.Context(), contract.EventsStream); err != nil {
		t.Fatal(err)
	}
	if _, err := e.x.Export(t.Context(), sie.Query{Account: idnr.MustParse(company), From: "2026-01-01", To: "2026-12-31"}); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Errorf("Export without a stream: %v, want ErrStreamNotFound", err)
	}
}

func TestExportSoleTrader(t *testing.T) {
	e := newEnv(t)
	e.publish(tx(soleTrader, "301", "2026-11-12", "Debiterad preliminärskatt", -1292, mapped("2013", "1630", 1292)), "")
	_, f := e.export(sie.Query{Account: idnr.MustParse(soleTrader), From: "2026-11-01", To: "2026-11-30"})
	// The firm's organisation number is the owner's personnummer, in its
	// 10-digit form (not printed: it is personal data).
	if f.orgnr != soleTrader[2:8]+"-"+soleTrader[8:] {
		t.Errorf("#ORGNR of a sole trader is not the 10-digit personnummer (%d characters)", len(f.orgnr))
	}
	if f.konto["2013"] != "Övriga egna uttag" {
		t.Errorf("#KONTO 2013 %q", f.konto["2013"])
	}
}

func TestOrgNr(t *testing.T) {
	at := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name, n, want string
	}{
		{"organisation", "165566778899", "556677-8899"},
		{"person under 100", "198112189876", "811218-9876"},
		{"person 100 this year", "192612249801", "261224+9801"},
		{"person over 100", "192512249802", "251224+9802"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := idnr.Parse(tc.n)
			if err != nil {
				t.Fatal(err)
			}
			if got := sie.OrgNr(n, at); got != tc.want {
				t.Errorf("OrgNr = %d characters, want the form of %s", len(got), tc.want[6:7])
			}
		})
	}
}

func TestExportRefuses(t *testing.T) {
	e := newEnv(t)
	acct := idnr.MustParse(company)
	tests := []struct {
		name  string
		q     sie.Query
		x     *sie.Exporter
		field string // the *FieldError's field; "" for want
		want  error
	}{
		{"no account", sie.Query{From: "2026-01-01", To: "2026-01-31"}, e.x, "omfragad", nil},
		{"from after to", sie.Query{Account: acct, From: "2026-02-01", To: "2026-01-31"}, e.x, "from", nil},
		{"bad date", sie.Query{Account: acct, From: "2026-02-30", To: "2026-03-31"}, e.x, "from", sie.ErrDate},
		{"no to", sie.Query{Account: acct, From: "2026-02-01"}, e.x, "to", sie.ErrDate},
		{"bad series", sie.Query{Account: acct, From: "2026-01-01", To: "2026-01-31", Series: "Ö"}, e.x, "series", sie.ErrSeries},
		{"no company", sie.Query{Account: acct, From: "2026-01-01", To: "2026-01-31"}, mustNew(t, e.js, sie.Config{}), "", sie.ErrNoCompany},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.x.Export(t.Context(), tc.q)
			var fe *sie.FieldError
			switch {
			case err == nil:
				t.Fatal("Export accepted the query")
			case tc.field != "" && (!errors.As(err, &fe) || fe.Field != tc.field):
				t.Errorf("Export: %v, want a *FieldError on %s", err, tc.field)
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Errorf("Export: %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := sie.New(e.js, sie.Config{Series: "A-1"}); !errors.Is(err, sie.ErrSeries) {
		t.Errorf("New with series A-1: %v, want ErrSeries", err)
	}
}

func mustNew(t *testing.T, js jetstream.JetStream, cfg sie.Config) *sie.Exporter {
	t.Helper()
	x, err := sie.New(js, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// TestServe asks over NATS, as a program would, and gets the file Export
// writes.
func TestServe(t *testing.T) {
	e := newEnv(t)
	e.fill()
	stop, err := e.x.Serve(e.nc)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	ask := func(body string) sie.Reply {
		t.Helper()
		msg, err := e.nc.Request(contract.SIEExport, []byte(body), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		var r sie.Reply
		if err := json.Unmarshal(msg.Data, &r); err != nil {
			t.Fatalf("reply %s: %v", msg.Data, err)
		}
		return r
	}
	r := ask(`{"omfragad":"556677-8899","from":"2026-11-01","to":"2026-11-30","series":"S","companyName":"Ägare AB"}`)
	if r.Error != "" {
		t.Fatalf("reply error %q", r.Error)
	}
	want, err := e.x.Export(t.Context(), sie.Query{Account: idnr.MustParse(company), From: "2026-11-01", To: "2026-11-30", Series: "S", Company: "Ägare AB"})
	if err != nil {
		t.Fatal(err)
	}
	if string(r.File) != string(want.File) || r.Vouchers != 2 || r.Vouchers != want.Vouchers {
		t.Errorf("reply holds %d vouchers in %d bytes; Export %d in %d bytes", r.Vouchers, len(r.File), want.Vouchers, len(want.File))
	}
	if diff := cmp.Diff(want.Unmapped, r.Unmapped); diff != "" {
		t.Errorf("unmapped (-Export +reply):\n%s", diff)
	}
	for _, tc := range []struct{ name, body, want string }{
		{"not JSON", `{`, "not an SIE export request"},
		{"unknown member", `{"omfragad":"165566778899","from":"2026-11-01","to":"2026-11-30","serie":"B"}`, "serie"},
		{"bad omfragad", `{"omfragad":"198112189875","from":"2026-11-01","to":"2026-11-30"}`, "omfragad"},
		{"from after to", `{"omfragad":"165566778899","from":"2026-12-01","to":"2026-11-30"}`, "from"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ask(tc.body)
			if !strings.Contains(r.Error, tc.want) || r.File != nil {
				t.Errorf("reply error %q with %d bytes, want an error about %s", r.Error, len(r.File), tc.want)
			}
			if strings.Contains(r.Error, "198112189875") {
				t.Error("the error shows the whole identity number")
			}
		})
	}
}
