package events

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
)

// fnv64 is FNV-1a over the parts, each followed by a 0 byte so that
// ("ab","c") and ("a","bc") differ. It is stable across processes and
// versions, which the stored fingerprints need.
func fnv64(parts ...string) uint64 {
	const (
		offset = 14695981039346656037
		prime  = 1099511628211
	)
	h := uint64(offset)
	for _, p := range parts {
		for i := 0; i < len(p); i++ {
			h ^= uint64(p[i])
			h *= prime
		}
		h ^= 0
		h *= prime
	}
	return h
}

func amountString(p *int64) string {
	if p == nil {
		return "-"
	}
	return strconv.FormatInt(*p, 10)
}

// NewID derives an event id from the account, the event type and the
// parts that identify the change: the same change always gets the same id.
// It is 32 hexadecimal characters (128 bits of SHA-256).
func NewID(omfragad string, t Type, parts ...string) string {
	h := sha256.New()
	h.Write([]byte(omfragad))
	h.Write([]byte{0})
	h.Write([]byte(t))
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:16])
}

// hex16 formats a 64-bit hash as 16 hexadecimal characters.
func hex16(h uint64) string {
	var b [8]byte
	for i := 7; i >= 0; i-- {
		b[i] = byte(h)
		h >>= 8
	}
	return hex.EncodeToString(b[:])
}

// reminderID is the id of the DueReminder of an upcoming row (its id and
// due date) at a reminder offset (in days), sent from the state of
// generation gen. A row withdrawn and later back gets the same row id;
// the generation gives its reminders new ids, while a retried diff (the
// same state) gives the same.
func reminderID(omfragad, rowID, due string, offset int, gen string) string {
	return NewID(omfragad, TypeDueReminder, rowID, due, strconv.Itoa(offset), gen)
}

// A value change's id is derived from the account, the type, the
// generation of the state it changes and the value it reports (rowValue,
// blockValue, strValue, amountString): a retried diff gets the same id; a
// value that changes back later, a new one. After a power loss took the
// last commits (the same generation comes again), a change to the same
// value gets the lost event's id and a change to another value a new one,
// so a consumer that de-duplicates by id never drops a value it has not
// seen.

// rowValue is the value of a row, for an id.
func rowValue(r *Row) string {
	return r.Transaktionsdatum + "|" + r.Forfallodatum + "|" + r.Beslutsdatum + "|" + r.Ranteberakningsdatum + "|" +
		r.Transaktionstext + "|" + amountString(r.BeloppSkatteverket) + "|" + amountString(r.BeloppKronofogden)
}

// blockValue is the value of a payout block, for an id.
func blockValue(b *Block) string {
	total := "-"
	if b.Totalsparr != nil {
		total = strconv.FormatBool(*b.Totalsparr)
	}
	return b.DatumFrom + "|" + b.DatumTom + "|" + amountString(b.Sparrbelopp) + "|" + total
}

// strValue is an optional string's value, for an id: "-" when absent.
func strValue(s *string) string {
	if s == nil {
		return "-"
	}
	return "=" + *s
}
