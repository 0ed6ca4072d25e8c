package sim

import (
	"strconv"
	"time"
)

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// luhnSum returns the Luhn sum of digits where the rightmost digit is
// doubled when double is true.
func luhnSum(digits string, double bool) int {
	sum := 0
	for i := len(digits) - 1; i >= 0; i-- {
		d := int(digits[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum
}

// luhnDigit returns the check digit to append to digits.
func luhnDigit(digits string) byte {
	return byte('0' + (10-luhnSum(digits, true)%10)%10)
}

// ValidOmfragad reports whether s is an identity number in its 12-digit
// form: the last 10 digits pass the Luhn check, and the century digits
// fit: 16 for a legal person (whose 10-digit number has a third digit of
// 2 or more, which no date has), 19 or 20 for a person (followed by a
// valid date; a samordningsnummer adds 60 to the day).
func ValidOmfragad(s string) bool {
	if len(s) != 12 || !allDigits(s) || luhnSum(s[2:], false)%10 != 0 {
		return false
	}
	switch s[:2] {
	case "16":
		return s[4] >= '2'
	case "19", "20":
		return validBirthDate(s[:8])
	}
	return false
}

// validBirthDate reports whether yyyymmdd is a date, or a
// samordningsnummer's date (day + 60).
func validBirthDate(yyyymmdd string) bool {
	y, _ := strconv.Atoi(yyyymmdd[:4])
	m, _ := strconv.Atoi(yyyymmdd[4:6])
	d, _ := strconv.Atoi(yyyymmdd[6:8])
	if d > 60 {
		d -= 60
	}
	if m < 1 || m > 12 || d < 1 {
		return false
	}
	return d <= time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// canonicalOmfragad returns the 12-digit form of an identity number as
// the API accepts it in its path: the 12-digit form (see ValidOmfragad),
// or for a non-person (an organisation, an estate, a GD number) the
// 10-digit form NNNNNNNNNN, whose third digit is 2 or more.
func canonicalOmfragad(s string) (string, bool) {
	switch {
	case len(s) == 12 && ValidOmfragad(s):
		return s, true
	case len(s) == 10 && allDigits(s) && s[2] >= '2' && luhnSum(s, false)%10 == 0:
		return "16" + s, true
	}
	return "", false
}

// OCR returns the OCR number of an account: the 12-digit omfragad
// followed by a Luhn check digit over those 12 digits.
func OCR(omfragad string) string {
	if !allDigits(omfragad) {
		return omfragad
	}
	return omfragad + string(luhnDigit(omfragad))
}

// WithCheckDigit completes 11 digits (century/prefix + 9) with the Luhn
// check digit over the last 9, giving a valid omfragad; a helper for
// making up identity numbers.
func WithCheckDigit(first11 string) string {
	if len(first11) != 11 || !allDigits(first11) {
		return first11
	}
	return first11 + string(luhnDigit(first11[2:]))
}

// Mask renders an identity number for logs and errors: organisation
// numbers (prefix 16, or 10 digits whose third is 2 or more) whole,
// personnummer as the birth date + "****", anything else only by its
// length.
func Mask(s string) string {
	switch {
	case len(s) == 12 && allDigits(s) && s[:2] == "16":
		return s
	case len(s) == 10 && allDigits(s) && s[2] >= '2':
		return s
	case len(s) == 12 && allDigits(s):
		return s[:8] + "****"
	default:
		return "<" + strconv.Itoa(len(s)) + " characters>"
	}
}
