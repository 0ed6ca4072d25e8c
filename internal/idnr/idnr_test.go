package idnr

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// fixedNow is the clock of the table tests.
var fixedNow = time.Date(2026, time.March, 15, 12, 0, 0, 0, time.UTC)

// withLuhn appends the Luhn check digit to nine digits (the last ten of a
// number) and returns prefix + the ten digits.
func withLuhn(prefix, nine string) string {
	for c := byte('0'); c <= '9'; c++ {
		if luhn([]byte(nine + string(c))) {
			return prefix + nine + string(c)
		}
	}
	panic("unreachable")
}

func TestParse(t *testing.T) {
	estate := withLuhn("", "192345678") // 10 digits starting with 1
	tests := []struct {
		in         string
		want       string
		org        bool
		wantMasked string
	}{
		{"556677-8899", "165566778899", true, "165566778899"},
		{"5566778899", "165566778899", true, "165566778899"},
		{"165566778899", "165566778899", true, "165566778899"},
		{"16556677-8899", "165566778899", true, "165566778899"},
		{"2021005406", "162021005406", true, "162021005406"},
		{"161128000013", "161128000013", true, "161128000013"},
		{"165781006662", "165781006662", true, "165781006662"},
		{"165560000167", "165560000167", true, "165560000167"},
		{"3020000000", "163020000000", true, "163020000000"}, // GD number
		{estate, "16" + estate, true, "16" + estate},
		{"811218-9876", "198112189876", false, "19811218****"},
		{"8112189876", "198112189876", false, "19811218****"},
		{"19811218-9876", "198112189876", false, "19811218****"},
		{"198112189876", "198112189876", false, "19811218****"},
		{"811218+9876", "188112189876", false, "18811218****"},
		{"121212-1212", "201212121212", false, "20121212****"},
		{"121212+1212", "191212121212", false, "19121212****"},
		{"2601011238", "202601011238", false, "20260101****"}, // earlier this year
		{"2606011233", "192606011233", false, "19260601****"}, // later this year: last century
		{"0002291235", "200002291235", false, "20000229****"}, // 2000 was a leap year
		{"8112789873", "198112789873", false, "19811278****"}, // samordningsnummer
		{"811278-9873", "198112789873", false, "19811278****"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			n, err := parseAt(tt.in, fixedNow)
			if err != nil {
				t.Fatalf("parseAt(%q) error: %v", tt.in, err)
			}
			if got := n.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
			if got := n.IsOrganisation(); got != tt.org {
				t.Errorf("IsOrganisation() = %v, want %v", got, tt.org)
			}
			if got := n.IsPerson(); got == tt.org {
				t.Errorf("IsPerson() = %v, want %v", got, !tt.org)
			}
			if got := n.Masked(); got != tt.wantMasked {
				t.Errorf("Masked() = %q, want %q", got, tt.wantMasked)
			}
			if n.IsZero() {
				t.Error("IsZero() = true for a parsed number")
			}
			again, err := parseAt(n.String(), fixedNow)
			if err != nil || again != n {
				t.Errorf("re-parse of canonical form = %v, %v; want %v", again, err, n)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in   string
		rule string
	}{
		{"", RuleLength},
		{"12345", RuleLength},
		{"55667788990", RuleLength},
		{"1655667788990", RuleLength},
		{" 5566778899", RuleCharacters},
		{"5566778899 ", RuleCharacters},
		{"556677 8899", RuleCharacters},
		{"a566778899", RuleCharacters},
		{"556677-8898", RuleLuhn},
		{"8112189877", RuleLuhn},
		{"198112189877", RuleLuhn},
		{"5566-778899", RuleSeparator},
		{"55667-7-8899", RuleSeparator},
		{"556677+-899", RuleSeparator},
		{"19811218+9876", RuleSeparator},
		{"5566778899-", RuleSeparator},
		{"-5566778899", RuleSeparator},
		{"556677+8899", RuleSeparator},
		{"811318-9876", RuleDate},
		{"811232-9876", RuleDate},
		{"810229-9876", RuleDate},
		{"000229+1235", RuleDate}, // 1900 was no leap year
		{"198113189876", RuleDate},
		{"198100189876", RuleDate},
		{"19811292-9876", RuleDate},
		{"171212121212", RuleCentury},
		{"211212121212", RuleCentury},
		{"160012345678", RuleOrganisation},
		{"161912121212", RuleOrganisation},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			n, err := parseAt(tt.in, fixedNow)
			if err == nil {
				t.Fatalf("parseAt(%q) = %v, want error", tt.in, n)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not a *ParseError", err)
			}
			if pe.Rule != tt.rule {
				t.Errorf("Rule = %q, want %q", pe.Rule, tt.rule)
			}
			if !n.IsZero() {
				t.Errorf("number on error = %v, want zero", n)
			}
		})
	}
}

func TestParseErrorMasksInput(t *testing.T) {
	for _, in := range []string{"811218-9877", "8112189877", "198112189877", "19811218+9876", "1981121898760000"} {
		_, err := parseAt(in, fixedNow)
		if err == nil {
			t.Fatalf("parseAt(%q) succeeded, want error", in)
		}
		digits := strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, in)
		if strings.Contains(err.Error(), digits[len(digits)-4:]) && strings.Contains(err.Error(), in) {
			t.Errorf("error for %q shows the input: %v", in, err)
		}
		if strings.Contains(err.Error(), "9877") || strings.Contains(err.Error(), "9876") {
			t.Errorf("error for %q shows the last four digits: %v", in, err)
		}
	}
}

func TestZeroNumber(t *testing.T) {
	var n Number
	if !n.IsZero() || n.IsPerson() || n.IsOrganisation() || n.String() != "" || n.Masked() != "" {
		t.Errorf("zero Number: IsZero %v IsPerson %v IsOrganisation %v String %q Masked %q",
			n.IsZero(), n.IsPerson(), n.IsOrganisation(), n.String(), n.Masked())
	}
}

func TestParseUsesClock(t *testing.T) {
	// Born 1 June: before that day in 2026 the 10-digit form means 1926.
	before, err := parseAt("2606011233", time.Date(2026, time.May, 31, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	on, err := parseAt("2606011233", time.Date(2026, time.June, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := before.String(), "192606011233"; got != want {
		t.Errorf("before birthday: %q, want %q", got, want)
	}
	if got, want := on.String(), "202606011233"; got != want {
		t.Errorf("on birthday: %q, want %q", got, want)
	}
}

func TestMustParsePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("MustParse of invalid input did not panic")
		}
	}()
	MustParse("nonsense")
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"556677-8899", "165566778899", "19811218-9876", "811218-9876", "811218+9876",
		"8112789873", "3020000000", "", "5566-778899", "000229+1235", "16556677-8899"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Parse(s)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not a *ParseError", err)
			}
			if len(pe.Input) > 20 {
				t.Fatalf("masked input too long: %q", pe.Input)
			}
			return
		}
		c := n.String()
		if len(c) != 12 || strings.Trim(c, "0123456789") != "" {
			t.Fatalf("String() = %q, not 12 digits", c)
		}
		again, err := Parse(c)
		if err != nil || again != n {
			t.Fatalf("Parse(%q) = %v, %v; want %v", c, again, err, n)
		}
		if n.IsPerson() == n.IsOrganisation() {
			t.Fatalf("%q: IsPerson %v IsOrganisation %v", c, n.IsPerson(), n.IsOrganisation())
		}
		if n.IsPerson() {
			if m := n.Masked(); m != c[:8]+"****" {
				t.Fatalf("Masked() = %q for a person", m)
			}
		}
	})
}

func ExampleParse() {
	n, err := Parse("556677-8899")
	if err != nil {
		panic(err)
	}
	fmt.Println(n, n.IsOrganisation())
	// Output: 165566778899 true
}
