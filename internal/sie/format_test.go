package sie_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/text/encoding/charmap"

	"github.com/skattekonto-events/skattekonto-events/internal/booking"
	"github.com/skattekonto-events/skattekonto-events/internal/sie"
)

var day = time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)

func header() sie.Header {
	return sie.Header{
		Program: sie.Program, Version: "v1.2.3", Generated: day, OrgNr: "556677-8899",
		Company: "Demo AB", Accounts: booking.Default().Accounts,
	}
}

// balanced checks that every voucher of f sums to zero.
func balanced(t testing.TB, f *sieFile) {
	t.Helper()
	for i, v := range f.vers {
		var sum int64
		for _, tr := range v.trans {
			sum += tr.ore
		}
		if sum != 0 || len(v.trans) < 2 {
			t.Errorf("voucher %d (%s) does not balance: %d lines summing to %d öre", i, v.text, len(v.trans), sum)
		}
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	vs := []sie.Voucher{
		{Series: "A", Date: "2026-11-12", Text: "Debiterad preliminärskatt [884213307]",
			Lines: []sie.Line{{Account: "2518", Amount: 1292}, {Account: "1630", Amount: -1292}}},
		{Series: "A", Date: "2026-11-26", Text: `Inbetalning bokförd 261126 "ÅÄÖ åäö é" [fp-0123456789abcdef-1]`,
			Lines: []sie.Line{{Account: "1630", Amount: 5000}, {Account: "1930", Amount: -5000}}},
		{Series: "S12", Date: "2026-11-30", Text: "Three lines",
			Lines: []sie.Line{{Account: "2650", Amount: 100}, {Account: "1650", Amount: 23}, {Account: "1630", Amount: -123}}},
		{Series: "A", Date: "2026-11-30", Text: "No name for this account",
			Lines: []sie.Line{{Account: "9999", Amount: -1}, {Account: "1630", Amount: 1}}},
	}
	b, replaced, err := sie.Encode(header(), vs)
	if err != nil {
		t.Fatal(err)
	}
	if replaced != 0 {
		t.Errorf("replaced %d characters of texts code page 437 holds", replaced)
	}
	if n, m := bytes.Count(b, []byte("\n")), bytes.Count(b, []byte("\r\n")); n != m {
		t.Errorf("%d of %d line ends are CR LF", m, n)
	}
	f, err := parseSIE(b)
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, decodeCP437(b))
	}
	balanced(t, f)
	wantLabels := []string{"#FLAGGA", "#PROGRAM", "#FORMAT", "#GEN", "#SIETYP", "#ORGNR", "#FNAMN"}
	if diff := cmp.Diff(wantLabels, f.labels); diff != "" {
		t.Errorf("header labels (-want +got):\n%s", diff)
	}
	got := []string{f.flagga, strings.Join(f.program, "|"), f.format, f.gen, f.sietyp, f.orgnr, f.fnamn}
	want := []string{"0", "skattekonto-events|v1.2.3", "PC8", "20261201", "4", "556677-8899", "Demo AB"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("header (-want +got):\n%s", diff)
	}
	wantKonto := map[string]string{
		"1630": "Avräkning för skatter och avgifter (skattekonto)", "1650": "Momsfordran",
		"1930": "Företagskonto/checkkonto/affärskonto", "2518": "Betald F-skatt", "2650": "Redovisningskonto för moms",
	}
	if diff := cmp.Diff(wantKonto, f.konto); diff != "" {
		t.Errorf("#KONTO: each account used with a name, 9999 unnamed and left out (-want +got):\n%s", diff)
	}
	var gotVers []sieVer
	for _, v := range vs {
		sv := sieVer{series: v.Series, date: strings.ReplaceAll(v.Date, "-", ""), text: v.Text}
		for _, l := range v.Lines {
			sv.trans = append(sv.trans, sieTrans{account: l.Account, objects: []string{}, ore: 100 * l.Amount})
		}
		gotVers = append(gotVers, sv)
	}
	if diff := cmp.Diff(gotVers, f.vers, cmp.AllowUnexported(sieVer{}, sieTrans{})); diff != "" {
		t.Errorf("vouchers (-written +read):\n%s", diff)
	}
}

// TestSwedishCharacters: the file holds åäöÅÄÖé as code page 437 bytes,
// never as UTF-8, and reads back unchanged.
func TestSwedishCharacters(t *testing.T) {
	h := header()
	h.Company = "Åkerö Bärgning & Ölé AB"
	vs := []sie.Voucher{{Series: "A", Date: "2026-01-12", Text: "Moms åäö ÅÄÖ é",
		Lines: []sie.Line{{Account: "2650", Amount: 10}, {Account: "1630", Amount: -10}}}}
	b, replaced, err := sie.Encode(h, vs)
	if err != nil {
		t.Fatal(err)
	}
	if replaced != 0 {
		t.Errorf("replaced = %d, want 0", replaced)
	}
	for r, c := range map[rune]byte{'å': 0x86, 'ä': 0x84, 'ö': 0x94, 'Å': 0x8f, 'Ä': 0x8e, 'Ö': 0x99, 'é': 0x82} {
		if !bytes.Contains(b, []byte{c}) {
			t.Errorf("%c is not the code page 437 byte %#x in the file", r, c)
		}
	}
	for _, r := range "åäöÅÄÖé" {
		if bytes.Contains(b, []byte(string(r))) {
			t.Errorf("%c is in the file as UTF-8", r)
		}
	}
	f, err := parseSIE(b)
	if err != nil {
		t.Fatal(err)
	}
	if f.fnamn != h.Company || f.vers[0].text != vs[0].Text {
		t.Errorf("read back %q and %q, want %q and %q", f.fnamn, f.vers[0].text, h.Company, vs[0].Text)
	}
}

// TestCP437TableAgrees compares the reader's hand-typed code page with
// the encoder's library, byte by byte.
func TestCP437TableAgrees(t *testing.T) {
	for c := 0x20; c < 0x100; c++ {
		if c == 0x7f {
			continue
		}
		if got, want := charmap.CodePage437.DecodeByte(byte(c)), cp437[c]; got != want {
			t.Errorf("byte %#x: library %q, table %q", c, got, want)
		}
	}
}

// TestTexts: what becomes of texts code page 437 cannot hold, and of
// characters that would break a field or a line.
func TestTexts(t *testing.T) {
	tests := []struct {
		name, in, want string
		replaced       int
	}{
		{"plain", "Moms januari 2026", "Moms januari 2026", 0},
		{"quote escaped and read back", `Skatt "slutlig"`, `Skatt "slutlig"`, 0},
		{"backslash would escape the closing quote", `a\`, "a/", 1},
		{"tab and line ends are spaces", "a\tb\r\nc", "a b  c", 0},
		{"accent decomposed, ó kept (code page 437 has it)", "Škoda Łódź", "Skoda Lódz", 3},
		{"typographic dash and quotes", "jan–mar “prel”", `jan-mar "prel"`, 3},
		{"ligature", "ﬁrma", "firma", 1},
		{"no spelling", "稅 ☺", "? ?", 2},
		{"no-break space", "a\u00a0b", "a b", 0},
		{"euro", "10 €", "10 EUR", 1},
		{"invalid UTF-8", "a\xffb", "a?b", 1},
		{"braces stay in the string", "{x} #TRANS", "{x} #TRANS", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vs := []sie.Voucher{{Series: "A", Date: "2026-01-12", Text: tc.in,
				Lines: []sie.Line{{Account: "2650", Amount: 10}, {Account: "1630", Amount: -10}}}}
			b, replaced, err := sie.Encode(header(), vs)
			if err != nil {
				t.Fatal(err)
			}
			f, err := parseSIE(b)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if got := f.vers[0].text; got != tc.want || replaced != tc.replaced {
				t.Errorf("text %q: got %q with %d replaced, want %q with %d", tc.in, got, replaced, tc.want, tc.replaced)
			}
		})
	}
}

func TestEncodeRefuses(t *testing.T) {
	ok := sie.Voucher{Series: "A", Date: "2026-01-12", Text: "x", Lines: []sie.Line{{Account: "2650", Amount: 10}, {Account: "1630", Amount: -10}}}
	with := func(f func(v *sie.Voucher)) []sie.Voucher {
		v := ok
		v.Lines = append([]sie.Line(nil), ok.Lines...)
		f(&v)
		return []sie.Voucher{v}
	}
	tests := []struct {
		name string
		h    func(h *sie.Header)
		vs   []sie.Voucher
		want error
	}{
		{"unbalanced", nil, with(func(v *sie.Voucher) { v.Lines[0].Amount = 11 }), sie.ErrUnbalanced},
		{"one line", nil, with(func(v *sie.Voucher) { v.Lines = v.Lines[:1] }), sie.ErrLines},
		{"zero amount", nil, with(func(v *sie.Voucher) { v.Lines = append(v.Lines, sie.Line{Account: "1930"}) }), sie.ErrLines},
		{"huge amounts that would wrap", nil, with(func(v *sie.Voucher) {
			v.Lines = []sie.Line{{Account: "1930", Amount: 1 << 62}, {Account: "1930", Amount: 1 << 62}, {Account: "1630", Amount: -1 << 62}, {Account: "1630", Amount: -1 << 62}}
		}), sie.ErrLines},
		{"account not 4 digits", nil, with(func(v *sie.Voucher) { v.Lines[0].Account = "265" }), sie.ErrLines},
		{"bad date", nil, with(func(v *sie.Voucher) { v.Date = "2026-02-30" }), sie.ErrDate},
		{"series with space", nil, with(func(v *sie.Voucher) { v.Series = "A B" }), sie.ErrSeries},
		{"empty series", nil, with(func(v *sie.Voucher) { v.Series = "" }), sie.ErrSeries},
		{"no company", func(h *sie.Header) { h.Company = "" }, []sie.Voucher{ok}, sie.ErrHeader},
		{"orgnr in 12 digits", func(h *sie.Header) { h.OrgNr = "165566778899" }, []sie.Voucher{ok}, sie.ErrHeader},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := header()
			if tc.h != nil {
				tc.h(&h)
			}
			b, _, err := sie.Encode(h, tc.vs)
			if !errors.Is(err, tc.want) {
				t.Errorf("Encode = %d bytes, %v; want %v", len(b), err, tc.want)
			}
		})
	}
}

// FuzzEncodeText: whatever the texts, the file reads back with one
// voucher that balances, its text holds no control character, and a
// text of characters code page 437 holds comes back unchanged.
func FuzzEncodeText(f *testing.F) {
	f.Add("Debiterad preliminärskatt [884213307]", "Demo AB")
	f.Add(`a\"b\`, "\"")
	f.Add("\x00\r\n\t☺中", "Škoda – “x”")
	f.Add("", "{}")
	f.Fuzz(func(t *testing.T, text, company string) {
		if company == "" {
			company = "x"
		}
		h := header()
		h.Company = company
		vs := []sie.Voucher{{Series: "A", Date: "2026-01-12", Text: text,
			Lines: []sie.Line{{Account: "2650", Amount: 10}, {Account: "1630", Amount: -10}}}}
		b, replaced, err := sie.Encode(h, vs)
		if err != nil {
			t.Fatal(err)
		}
		sf, err := parseSIE(b)
		if err != nil {
			t.Fatalf("parse: %v", err)
		}
		if len(sf.vers) != 1 {
			t.Fatalf("%d vouchers, want 1", len(sf.vers))
		}
		balanced(t, sf)
		got := sf.vers[0].text
		for _, r := range got {
			if r < 0x20 || r == 0x7f {
				t.Fatalf("text %q holds a control character", got)
			}
		}
		if replaced == 0 && utf8.ValidString(text) && !strings.ContainsFunc(text, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\u00a0' }) && got != text {
			t.Errorf("text %q read back as %q with nothing replaced", text, got)
		}
	})
}
