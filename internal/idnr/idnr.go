package idnr

import (
	"fmt"
	"strconv"
	"time"
)

// Rules named by [ParseError.Rule].
const (
	RuleLength       = "length"
	RuleCharacters   = "characters"
	RuleSeparator    = "separator"
	RuleDate         = "invalid date"
	RuleCentury      = "century"
	RuleOrganisation = "organisation number"
	RuleLuhn         = "luhn check digit"
)

// now is the clock used to pick the century of a 10-digit personnummer.
// Tests replace it.
var now = time.Now

// Number is a validated identity number in canonical 12-digit form.
// The zero Number is not a valid number; see [Number.IsZero].
// Numbers are comparable with ==.
type Number struct {
	s string
}

// ParseError reports why an input is not a valid identity number.
type ParseError struct {
	// Input is the rejected input, masked: it never holds a full
	// personnummer.
	Input string
	// Rule names the rule broken, one of the Rule constants.
	Rule string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("idnr: invalid identity number %s: %s", strconv.Quote(e.Input), e.Rule)
}

// Parse validates s and returns its canonical form. It accepts 10 or 12
// digits with at most one '-' or '+' right before the last four digits
// ("556677-8899", "165566778899", "19811218-9876", "811218-9876").
// A '+' marks a 10-digit personnummer of someone 100 years or older and is
// not allowed in the 12-digit form. Surrounding whitespace is rejected.
func Parse(s string) (Number, error) {
	return parseAt(s, now())
}

// MustParse is like [Parse] but panics on invalid input. It is meant for
// tests and examples.
func MustParse(s string) Number {
	n, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return n
}

func parseAt(s string, t time.Time) (Number, error) {
	fail := func(rule string) (Number, error) {
		return Number{}, &ParseError{Input: maskInput(s), Rule: rule}
	}
	if len(s) > 13 || len(s) < 10 {
		return fail(RuleLength)
	}
	var digits [12]byte
	nd := 0
	sep := byte(0)
	sepPos := -1
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if nd == len(digits) {
				return fail(RuleLength)
			}
			digits[nd] = c
			nd++
		case c == '-' || c == '+':
			if sep != 0 {
				return fail(RuleSeparator)
			}
			sep, sepPos = c, i
		default:
			return fail(RuleCharacters)
		}
	}
	if nd != 10 && nd != 12 {
		return fail(RuleLength)
	}
	if sep != 0 && sepPos != len(s)-5 {
		return fail(RuleSeparator)
	}
	d := digits[:nd]
	last10 := d[nd-10:]
	if nd == 12 {
		if sep == '+' {
			return fail(RuleSeparator)
		}
		if d[0] == '1' && d[1] == '6' {
			if last10[2] < '2' {
				return fail(RuleOrganisation)
			}
		} else {
			century := int(d[0]-'0')*10 + int(d[1]-'0')
			if century < 18 || century > 20 {
				return fail(RuleCentury)
			}
			if !validDate(atoi(d[0:4]), atoi(d[4:6]), atoi(d[6:8])) {
				return fail(RuleDate)
			}
		}
		if !luhn(last10) {
			return fail(RuleLuhn)
		}
		return Number{s: string(d)}, nil
	}

	// 10 digits.
	if last10[2] >= '2' {
		// Organisation number: a month of 20 or more cannot be a date.
		// This covers GD numbers (302…) and estates (1…) too.
		if sep == '+' {
			return fail(RuleSeparator)
		}
		if !luhn(last10) {
			return fail(RuleLuhn)
		}
		return Number{s: "16" + string(last10)}, nil
	}
	yy, mm, dd := atoi(d[0:2]), atoi(d[2:4]), atoi(d[4:6])
	year := t.Year() - ((t.Year()-yy)%100+100)%100
	day := dd
	if day > 60 {
		day -= 60
	}
	ty, tm, td := t.Date()
	if mm > int(tm) && year == ty || mm == int(tm) && day > td && year == ty {
		year -= 100
	}
	if sep == '+' {
		year -= 100
	}
	if !validDate(year, mm, dd) {
		return fail(RuleDate)
	}
	if !luhn(last10) {
		return fail(RuleLuhn)
	}
	return Number{s: fmt.Sprintf("%02d", year/100) + string(last10)}, nil
}

func atoi(b []byte) int {
	n := 0
	for _, c := range b {
		n = n*10 + int(c-'0')
	}
	return n
}

// validDate reports whether year-month-day is a calendar date; days 61–91
// are samordningsnummer days (day + 60).
func validDate(year, month, day int) bool {
	if day > 60 {
		day -= 60
	}
	if month < 1 || month > 12 || day < 1 {
		return false
	}
	return day <= time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// luhn reports whether the ten digits d pass the Luhn check.
func luhn(d []byte) bool {
	sum := 0
	for i, c := range d {
		v := int(c - '0')
		if i%2 == 0 {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	return sum%10 == 0
}

// String returns the canonical 12 digits, e.g. "165566778899"; it returns
// "" for the zero Number. Mind that a personnummer is personal data: log
// [Number.Masked] instead.
func (n Number) String() string { return n.s }

// IsZero reports whether n is the zero Number.
func (n Number) IsZero() bool { return n.s == "" }

// IsOrganisation reports whether n is an organisation number (estates and
// GD numbers included).
func (n Number) IsOrganisation() bool { return len(n.s) == 12 && n.s[0] == '1' && n.s[1] == '6' }

// IsPerson reports whether n is a personnummer or samordningsnummer.
func (n Number) IsPerson() bool { return len(n.s) == 12 && !n.IsOrganisation() }

// Masked returns n in a form fit for logs: organisation numbers whole,
// personnummer and samordningsnummer as their date digits followed by
// "****" (e.g. "19811218****").
func (n Number) Masked() string {
	if n.IsPerson() {
		return n.s[:8] + "****"
	}
	return n.s
}

// maskInput returns at most 20 bytes of s with digits beyond the first few
// replaced by '*', so that no full personnummer leaves the package in an
// error: inputs with 12 or more digits keep 8 digits, others keep 6.
func maskInput(s string) string {
	if len(s) > 20 {
		s = s[:20]
	}
	nd := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			nd++
		}
	}
	keep := 6
	if nd >= 12 {
		keep = 8
	}
	b := []byte(s)
	seen := 0
	for i, c := range b {
		if c >= '0' && c <= '9' {
			seen++
			if seen > keep {
				b[i] = '*'
			}
		}
	}
	return string(b)
}
