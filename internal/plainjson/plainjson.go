// Package plainjson reads the plain subset of JSON that the hot paths'
// fast decoders accept — strings without escapes, whole numbers,
// booleans — and reports anything else so that the caller can fall back
// to encoding/json, which decodes all of JSON and says what is wrong.
package plainjson

import "unicode/utf8"

// Decoder reads b from position I.
type Decoder struct {
	B []byte
	I int
}

// Space skips white space.
func (d *Decoder) Space() {
	for d.I < len(d.B) {
		switch d.B[d.I] {
		case ' ', '\t', '\n', '\r':
			d.I++
		default:
			return
		}
	}
}

// Byte consumes c if it comes next.
func (d *Decoder) Byte(c byte) bool {
	if d.I < len(d.B) && d.B[d.I] == c {
		d.I++
		return true
	}
	return false
}

// Peek returns the next byte (0 at the end).
func (d *Decoder) Peek() byte {
	if d.I < len(d.B) {
		return d.B[d.I]
	}
	return 0
}

// End reports whether nothing but white space is left.
func (d *Decoder) End() bool {
	d.Space()
	return d.I == len(d.B)
}

// Str reads a string without escapes or control characters whose bytes
// are valid UTF-8: what encoding/json decodes to the same bytes.
func (d *Decoder) Str() (string, bool) {
	raw, ok := d.RawStr()
	return string(raw), ok
}

// RawStr is Str without the copy: the bytes are b's.
func (d *Decoder) RawStr() ([]byte, bool) {
	if !d.Byte('"') {
		return nil, false
	}
	start, ascii := d.I, true
	for d.I < len(d.B) {
		c := d.B[d.I]
		switch {
		case c == '"':
			raw := d.B[start:d.I]
			d.I++
			if !ascii && !utf8.Valid(raw) {
				return nil, false
			}
			return raw, true
		case c < 0x20 || c == '\\':
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
		d.I++
	}
	return nil, false
}

// Int reads a whole number written as an optionally negative run of at
// most 18 digits (no fraction, exponent or leading plus).
func (d *Decoder) Int() (int64, bool) {
	neg := d.Byte('-')
	digits, ok := d.digits()
	if !ok || len(digits) > 18 {
		return 0, false
	}
	var v int64
	for _, c := range digits {
		v = v*10 + int64(c-'0')
	}
	if neg {
		v = -v
	}
	return v, true
}

// Digits reads a run of digits written as a JSON number (no sign,
// fraction or exponent) and returns its text.
func (d *Decoder) Digits() (string, bool) {
	if c := d.Peek(); c == '-' {
		return "", false
	}
	digits, ok := d.digits()
	return string(digits), ok
}

// digits reads the digits of a JSON number that has neither fraction nor
// exponent: one or more, no leading zero.
func (d *Decoder) digits() ([]byte, bool) {
	start := d.I
	for d.I < len(d.B) && d.B[d.I] >= '0' && d.B[d.I] <= '9' {
		d.I++
	}
	digits := d.B[start:d.I]
	if len(digits) == 0 || (len(digits) > 1 && digits[0] == '0') {
		return nil, false
	}
	if c := d.Peek(); c == '.' || c == 'e' || c == 'E' {
		return nil, false
	}
	return digits, true
}

// Literal consumes s if it comes next.
func (d *Decoder) Literal(s string) bool {
	if len(d.B)-d.I >= len(s) && string(d.B[d.I:d.I+len(s)]) == s {
		d.I += len(s)
		return true
	}
	return false
}

// Key reads the next key of an object whose '{' was read (first: none
// read yet) and the colon after it. more is false at the object's end.
// The key's bytes are b's (switch on string(key) copies nothing).
func (d *Decoder) Key(first bool) (key []byte, more, ok bool) {
	d.Space()
	if d.Byte('}') {
		return nil, false, true
	}
	if !first && !d.Byte(',') {
		return nil, false, false
	}
	d.Space()
	if key, ok = d.RawStr(); !ok {
		return nil, false, false
	}
	d.Space()
	if !d.Byte(':') {
		return nil, false, false
	}
	d.Space()
	return key, true, true
}

// Elem steps to the next element of an array whose '[' was read (first:
// none read yet). more is false at the array's end.
func (d *Decoder) Elem(first bool) (more, ok bool) {
	d.Space()
	if d.Byte(']') {
		return false, true
	}
	if !first && !d.Byte(',') {
		return false, false
	}
	d.Space()
	return true, true
}

// Seen records the keys of an object read so far, a bit each.
type Seen uint32

// Once records bit: false for a key not taken (bit 0), a value not read
// (ok false) or a key given twice — where encoding/json's path decodes,
// the last of the two winning.
func (s *Seen) Once(bit uint32, ok bool) bool {
	if !ok || bit == 0 || uint32(*s)&bit != 0 {
		return false
	}
	*s |= Seen(bit)
	return true
}

// Document reads body as one object and nothing after it. For each key,
// field reads the value (the decoder stands at it) and returns the key's
// bit — its own power of two, 0 for a key it does not take — and whether
// the value read; see Seen.Once. One closure per document: objects read
// by the thousand (rows) loop over Key instead.
func Document(body []byte, field func(d *Decoder, key []byte) (bit uint32, ok bool)) bool {
	d := Decoder{B: body}
	d.Space()
	if !d.Byte('{') {
		return false
	}
	var seen Seen
	for first := true; ; first = false {
		key, more, ok := d.Key(first)
		if !ok {
			return false
		}
		if !more {
			return d.End()
		}
		if !seen.Once(field(&d, key)) {
			return false
		}
	}
}

// Array reads an array whose '[' comes next, elem reading each element.
func (d *Decoder) Array(elem func() bool) bool {
	if !d.Byte('[') {
		return false
	}
	for first := true; ; first = false {
		more, ok := d.Elem(first)
		if !ok {
			return false
		}
		if !more {
			return true
		}
		if !elem() {
			return false
		}
	}
}

// Strings reads an array of strings as Str reads them; an empty array
// is an empty, not nil, slice (as encoding/json makes it).
func (d *Decoder) Strings() ([]string, bool) {
	ss := []string{}
	ok := d.Array(func() bool {
		s, ok := d.Str()
		ss = append(ss, s)
		return ok
	})
	if !ok {
		return nil, false
	}
	return ss, true
}
