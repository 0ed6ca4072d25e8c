package sie

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/unicode/norm"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
)

// Header is what a file says about itself and the company.
type Header struct {
	// Program and Version go into #PROGRAM; Program is required.
	Program, Version string
	// Generated is the day of #GEN, taken in Stockholm.
	Generated time.Time
	// OrgNr is #ORGNR in the form NNNNNN-NNNN; empty leaves it out.
	OrgNr string
	// Company is #FNAMN; required.
	Company string
	// Accounts names accounts for #KONTO. Each account a voucher uses
	// and Accounts names gets a #KONTO line; one it does not name gets
	// none, and the importing program's chart of accounts applies.
	Accounts map[string]string
}

// Voucher is one verification (#VER): a date, a text and lines that
// balance.
type Voucher struct {
	// Series is the verification series, see [CheckSeries].
	Series string
	// Date is the verification date, YYYY-MM-DD.
	Date string
	Text string
	// Lines are the #TRANS lines; their amounts sum to zero.
	Lines []Line
}

// Line is one #TRANS line: an account and an amount in whole kronor,
// positive for a debit, negative for a credit.
type Line struct {
	Account string
	Amount  int64
}

// Bounds of a voucher. A tax account books a few amounts a month in
// kronor; with these bounds the sum of a voucher's lines cannot overflow.
const (
	// MaxAmount is the largest amount of a line, in kronor.
	MaxAmount = 1_000_000_000_000_000
	// MaxLines is the most lines of a voucher.
	MaxLines = 1000
	// maxSeries is the longest series.
	maxSeries = 10
)

// Errors of Encode and CheckSeries, wrapped with the voucher or field
// they concern.
var (
	ErrUnbalanced = errors.New("lines do not balance")
	ErrLines      = errors.New("invalid lines")
	ErrDate       = errors.New("not a date YYYY-MM-DD")
	ErrSeries     = errors.New("not a series of 1 to 10 letters A-Z, a-z or digits")
	ErrHeader     = errors.New("invalid header")
)

// CheckSeries reports whether s can name a verification series: 1 to 10
// ASCII letters or digits, a form every importing program takes.
func CheckSeries(s string) error {
	if len(s) == 0 || len(s) > maxSeries {
		return fmt.Errorf("series %q: %w", s, ErrSeries)
	}
	for i := range len(s) {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return fmt.Errorf("series %q: %w", s, ErrSeries)
		}
	}
	return nil
}

// crlf ends every line; the format takes LF, CR LF is what programs on
// Windows write and read.
const crlf = "\r\n"

// Encode returns the SIE 4 import file of vs in code page 437, and how
// many characters of its texts code page 437 could not hold as given
// (spelt with their nearest characters or "?"). It refuses a header
// without program or company, and a voucher whose series, date or lines
// are invalid or whose lines do not balance, naming the voucher.
func Encode(h Header, vs []Voucher) (file []byte, replaced int, err error) {
	if h.Program == "" || h.Company == "" {
		return nil, 0, fmt.Errorf("%w: program and company are required", ErrHeader)
	}
	if h.OrgNr != "" && !isOrgNr(h.OrgNr) {
		return nil, 0, fmt.Errorf("%w: #ORGNR is not NNNNNN-NNNN", ErrHeader)
	}
	for i, v := range vs {
		if err := v.check(); err != nil {
			return nil, 0, fmt.Errorf("voucher %d (%s %.40q): %w", i, v.Date, v.Text, err)
		}
	}
	w := &writer{}
	w.line("#FLAGGA", "0")
	w.line("#PROGRAM", w.quote(h.Program), w.quote(h.Version))
	w.line("#FORMAT", "PC8")
	w.line("#GEN", h.Generated.In(contract.Stockholm).Format("20060102"))
	w.line("#SIETYP", "4")
	if h.OrgNr != "" {
		w.line("#ORGNR", h.OrgNr)
	}
	w.line("#FNAMN", w.quote(h.Company))
	used := map[string]bool{}
	for _, v := range vs {
		for _, l := range v.Lines {
			used[l.Account] = true
		}
	}
	for _, a := range slices.Sorted(maps.Keys(used)) {
		if name := h.Accounts[a]; name != "" {
			w.line("#KONTO", a, w.quote(name))
		}
	}
	for _, v := range vs {
		date := strings.ReplaceAll(v.Date, "-", "")
		// serie vernr verdatum vertext: the number left empty for the
		// importing program to give.
		w.line("#VER", v.Series, `""`, date, w.quote(v.Text))
		w.b.WriteString("{" + crlf)
		for _, l := range v.Lines {
			w.line("   #TRANS", l.Account, "{}", amount(l.Amount))
		}
		w.b.WriteString("}" + crlf)
	}
	out := make([]byte, 0, w.b.Len())
	for _, r := range w.b.String() {
		b, _ := charmap.CodePage437.EncodeRune(r) // every rune was made encodable
		out = append(out, b)
	}
	return out, w.replaced, nil
}

func (v Voucher) check() error {
	if err := CheckSeries(v.Series); err != nil {
		return err
	}
	if _, err := time.Parse(time.DateOnly, v.Date); err != nil {
		return fmt.Errorf("date %q: %w", v.Date, ErrDate)
	}
	if len(v.Lines) < 2 || len(v.Lines) > MaxLines {
		return fmt.Errorf("%w: %d lines, want 2 to %d", ErrLines, len(v.Lines), MaxLines)
	}
	var sum int64
	for _, l := range v.Lines {
		if !isAccount(l.Account) {
			return fmt.Errorf("%w: account %q is not 4 digits", ErrLines, l.Account)
		}
		if l.Amount == 0 || l.Amount > MaxAmount || l.Amount < -MaxAmount {
			return fmt.Errorf("%w: amount %d on %s is zero or beyond ±%d", ErrLines, l.Amount, l.Account, int64(MaxAmount))
		}
		sum += l.Amount
	}
	if sum != 0 {
		return fmt.Errorf("%w: they sum to %d", ErrUnbalanced, sum)
	}
	return nil
}

// isAccount reports whether a is a 4-digit BAS account.
func isAccount(a string) bool {
	if len(a) != 4 {
		return false
	}
	for i := range 4 {
		if a[i] < '0' || a[i] > '9' {
			return false
		}
	}
	return true
}

// isOrgNr reports whether s has the form NNNNNN-NNNN (or NNNNNN+NNNN, a
// personnummer of someone 100 or older).
func isOrgNr(s string) bool {
	if len(s) != 11 || (s[6] != '-' && s[6] != '+') {
		return false
	}
	for i := range len(s) {
		if i != 6 && (s[i] < '0' || s[i] > '9') {
			return false
		}
	}
	return true
}

// amount formats whole kronor with two decimals, the minus sign first.
func amount(kr int64) string { return strconv.FormatInt(kr, 10) + ".00" }

// writer builds the file as text whose every rune code page 437 holds.
type writer struct {
	b        strings.Builder
	replaced int
}

// line writes a label and its fields, separated by spaces.
func (w *writer) line(label string, fields ...string) {
	w.b.WriteString(label)
	for _, f := range fields {
		w.b.WriteByte(' ')
		w.b.WriteString(f)
	}
	w.b.WriteString(crlf)
}

// quote returns s as a quoted field: made encodable, then every quote
// escaped with a backslash as the format prescribes.
func (w *writer) quote(s string) string {
	c, n := clean(s)
	w.replaced += n
	return `"` + strings.ReplaceAll(c, `"`, `\"`) + `"`
}

// encodable reports whether code page 437 holds r at a byte that is not
// a control character. (Code page 437 draws glyphs such as "☺" at the
// control bytes 0x01-0x1F; they would end a field or a line.)
func encodable(r rune) bool {
	b, ok := charmap.CodePage437.EncodeRune(r)
	return ok && b >= 0x20 && b != 0x7f
}

// nearest spells characters that code page 437 lacks and that have no
// decomposition to a letter it holds.
var nearest = map[rune]string{
	'‐': "-", '‑': "-", '‒': "-", '–': "-", '—': "-", '―': "-", '−': "-",
	'‘': "'", '’': "'", '‚': "'", '‛': "'", '“': `"`, '”': `"`, '„': `"`, '‟': `"`,
	'…': "...", '€': "EUR", '•': "*", '×': "x", 'Ø': "O", 'ø': "o", 'Đ': "D", 'đ': "d",
	'Ł': "L", 'ł': "l", 'Œ': "OE", 'œ': "oe", 'Þ': "Th", 'þ': "th", 'Ð': "D", 'ð': "d",
}

// clean returns s with every rune code page 437 holds: control
// characters (tabs and line ends included) become a space and a
// backslash "/" (it would escape the closing quote); a rune code page 437
// lacks is spelt by nearest, by its decomposition without accents ("Š" as
// "S", "ﬁ" as "fi"), or "?". n counts the runes changed, spaces for
// control characters aside.
func clean(s string) (out string, n int) {
	var b strings.Builder
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		s = s[size:]
		switch {
		case r == utf8.RuneError && size <= 1:
			b.WriteByte('?')
			n++
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			b.WriteByte(' ')
		case r == '\\':
			b.WriteByte('/')
			n++
		case r == '\u00a0':
			b.WriteByte(' ') // a no-break space is a space
		case encodable(r):
			b.WriteRune(r)
		default:
			b.WriteString(spell(r))
			n++
		}
	}
	return b.String(), n
}

// spell returns the nearest code page 437 spelling of r, or "?".
func spell(r rune) string {
	if s, ok := nearest[r]; ok {
		return s
	}
	var b strings.Builder
	for _, d := range norm.NFKD.String(string(r)) {
		switch {
		case unicode.Is(unicode.Mn, d):
		case d >= 0x20 && d != '\\' && encodable(d):
			b.WriteRune(d)
		default:
			return "?"
		}
	}
	if b.Len() == 0 {
		return "?"
	}
	return b.String()
}
