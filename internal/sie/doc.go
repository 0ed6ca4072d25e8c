// Package sie writes SIE 4 import files (type 4I) of the booking
// proposals that NewTransaction events carry, so that any Swedish
// bookkeeping program can import the tax account's vouchers.
//
// [Encode] writes the format: the header (#FLAGGA, #PROGRAM, #FORMAT PC8,
// #GEN, #SIETYP 4, #ORGNR, #FNAMN), one #KONTO per account used and one
// #VER per voucher with its #TRANS lines between braces, in code page 437
// with CR LF line ends. Verification numbers are left empty, as the
// format allows in import files: the importing program numbers them.
// Text that code page 437 cannot hold is spelt with its nearest
// characters ("Š" as "S", "–" as "-") or, failing that, "?", and counted
// in the result; control characters become spaces and a backslash "/",
// so that no text can break a field or a line.
//
// An [Exporter] reads an account's NewTransaction events from the events
// stream (an ordered consumer, de-duplicated by event id), keeps those
// whose transaktionsdatum falls in the period, and turns each event's
// voucher — the proposal the worker made when it published the event —
// into a #VER. It never maps a transaction itself: a transaction without
// a mapped, balanced voucher is reported as [Unmapped] and left out.
// [Exporter.Serve] answers the same export as a NATS request on
// contract.SIEExport.
package sie
