// Package idnr parses and validates Swedish identity numbers as used by
// Skatteverket's Skattekonto API: organisation numbers (including estates
// and GD numbers), personnummer and samordningsnummer.
//
// Every valid number has one canonical 12-digit form: organisation numbers
// get the prefix "16", personnummer get their century. Use [Number.Masked]
// whenever a number goes into a log or an error message.
package idnr
