package sim

import "strconv"

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

// ValidOmfragad reports whether s is 12 digits whose last 10 pass the
// Luhn check, the form the API accepts in its path.
func ValidOmfragad(s string) bool {
	return len(s) == 12 && allDigits(s) && luhnSum(s[2:], false)%10 == 0
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
// numbers (prefix 16) whole, personnummer as the birth date + "****",
// anything else only by its length.
func Mask(s string) string {
	switch {
	case len(s) == 12 && allDigits(s) && s[:2] == "16":
		return s
	case len(s) == 12 && allDigits(s):
		return s[:8] + "****"
	default:
		return "<" + strconv.Itoa(len(s)) + " characters>"
	}
}
