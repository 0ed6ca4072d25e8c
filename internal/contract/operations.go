package contract

import (
	"cmp"
	"slices"
)

// The four read operations of Skattekonto v2.
const (
	OpSaldo               = "saldo"
	OpTransaktioner       = "transaktioner"
	OpUtbetalningskonto   = "utbetalningskonto"
	OpUtbetalningssparrar = "utbetalningssparrar"
)

// operations is the canonical order: the order a fetch calls them.
var operations = [...]string{OpSaldo, OpTransaktioner, OpUtbetalningskonto, OpUtbetalningssparrar}

// Operations returns the four operations in the order a fetch calls them.
func Operations() []string { return slices.Clone(operations[:]) }

// KnownOperation reports whether op is one of the four operations.
func KnownOperation[S ~string](op S) bool { return slices.Contains(operations[:], string(op)) }

// CompareOperations orders operations canonically, for slices.SortFunc;
// unknown operations come after the known ones, by name.
func CompareOperations[S ~string](a, b S) int {
	ia, ib := rank(string(a)), rank(string(b))
	if ia != ib {
		return ia - ib
	}
	return cmp.Compare(a, b)
}

// SortOperations sorts ops in the canonical order.
func SortOperations[S ~string](ops []S) { slices.SortFunc(ops, CompareOperations[S]) }

func rank(op string) int {
	if i := slices.Index(operations[:], op); i >= 0 {
		return i
	}
	return len(operations)
}
