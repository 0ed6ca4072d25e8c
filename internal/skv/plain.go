package skv

import "github.com/skattekonto-events/skattekonto-events/internal/plainjson"

// The answers of the two operations every fetch makes are decoded without
// reflection when they are plain: every key one the wire type knows,
// spelled as the API spells it, once; strings without escapes; whole
// numbers; no null. Anything else (drift, an escape, a float, null) takes
// encoding/json's path as before, which also finds the unknown keys.
// What the plain path accepts it decodes as encoding/json does
// (FuzzPlainAsEncodingJSON).

// decodePlain decodes a plain saldo answer; false when it is not plain.
func (w *saldoWire) decodePlain(body []byte) bool {
	return plainjson.Document(body, func(d *plainjson.Decoder, key []byte) (uint32, bool) {
		switch string(key) {
		case "saldoSkatteverket":
			return 1 << 8, plainInt(d, &w.SaldoSkatteverket)
		case "saldoKronofogden":
			return 1 << 9, plainInt(d, &w.SaldoKronofogden)
		case "rantaSkatteverket":
			return 1 << 10, plainInt(d, &w.RantaSkatteverket)
		case "rantaKronofogden":
			return 1 << 11, plainInt(d, &w.RantaKronofogden)
		case "ocrNummer":
			return 1 << 12, plainID(d, &w.OcrNummer)
		}
		return w.commonWire.plainField(d, key)
	})
}

// decodePlain decodes a plain transaktioner answer; false when it is not
// plain.
func (w *transaktionerWire) decodePlain(body []byte) bool {
	return plainjson.Document(body, func(d *plainjson.Decoder, key []byte) (uint32, bool) {
		switch string(key) {
		case "ocrNummer":
			return 1 << 8, plainID(d, &w.OcrNummer)
		case "datumFrom":
			return 1 << 9, plainStr(d, &w.DatumFrom)
		case "tidigareTransaktioner":
			return 1 << 10, plainRows(d, &w.Tidigare)
		case "kommandeTransaktioner":
			return 1 << 11, plainRows(d, &w.Kommande)
		}
		return w.commonWire.plainField(d, key)
	})
}

// plainField decodes a key every answer may carry; bit 0 when key is not
// one of them.
func (w *commonWire) plainField(d *plainjson.Decoder, key []byte) (uint32, bool) {
	switch string(key) {
	case "nastaAvstamningsdatum":
		return 1, plainStr(d, &w.NastaAvstamningsdatum)
	case "senastUppdaterad":
		return 2, plainStr(d, &w.SenastUppdaterad)
	case "informationstext":
		return 4, plainStrings(d, &w.Informationstext)
	case "felkod":
		return 8, plainFlexInt(d, &w.Felkod)
	case "felmeddelande":
		return 16, plainStr(d, &w.Felmeddelande)
	}
	return 0, false
}

func plainRows(d *plainjson.Decoder, dst *[]transaktionWire) bool {
	rows := []transaktionWire{}
	ok := d.Array(func() bool {
		rows = append(rows, transaktionWire{})
		return plainRow(d, &rows[len(rows)-1])
	})
	if ok {
		*dst = rows
	}
	return ok
}

// plainRow reads one row, looping over its keys without a closure (rows
// come by the thousand).
func plainRow(d *plainjson.Decoder, r *transaktionWire) bool {
	if !d.Byte('{') {
		return false
	}
	var seen plainjson.Seen
	for first := true; ; first = false {
		key, more, ok := d.Key(first)
		if !ok {
			return false
		}
		if !more {
			return true
		}
		var bit uint32
		switch string(key) {
		case "transaktionsidentitet":
			bit, ok = 1, plainID(d, &r.Transaktionsidentitet)
		case "transaktionsdatum":
			bit, ok = 2, plainStr(d, &r.Transaktionsdatum)
		case "ranteberakningsdatum":
			bit, ok = 4, plainStr(d, &r.Ranteberakningsdatum)
		case "forfallodatum":
			bit, ok = 8, plainStr(d, &r.Forfallodatum)
		case "beslutsdatum":
			bit, ok = 16, plainStr(d, &r.Beslutsdatum)
		case "transaktionstext":
			bit, ok = 32, plainStr(d, &r.Transaktionstext)
		case "beloppSkatteverket":
			bit, ok = 64, plainInt(d, &r.BeloppSkatteverket)
		case "beloppKronofogden":
			bit, ok = 128, plainInt(d, &r.BeloppKronofogden)
		}
		if !seen.Once(bit, ok) {
			return false
		}
	}
}

func plainStr(d *plainjson.Decoder, dst *string) bool {
	s, ok := d.Str()
	*dst = s
	return ok
}

func plainInt(d *plainjson.Decoder, dst **flexInt) bool {
	v, ok := d.Int()
	if ok {
		n := flexInt(v)
		*dst = &n
	}
	return ok
}

func plainFlexInt(d *plainjson.Decoder, dst *flexInt) bool {
	v, ok := d.Int()
	*dst = flexInt(v)
	return ok
}

// plainID reads an identity given as a string or as digits.
func plainID(d *plainjson.Decoder, dst *flexID) bool {
	var s string
	var ok bool
	if d.Peek() == '"' {
		s, ok = d.Str()
	} else {
		s, ok = d.Digits()
	}
	*dst = flexID(s)
	return ok
}

// plainStrings reads a list of strings, or one string (none when empty).
func plainStrings(d *plainjson.Decoder, dst *flexStrings) bool {
	if d.Peek() == '"' {
		s, ok := d.Str()
		if ok && s != "" {
			*dst = flexStrings{s}
		}
		return ok
	}
	ss, ok := d.Strings()
	if ok {
		*dst = ss
	}
	return ok
}
