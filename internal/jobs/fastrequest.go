package jobs

import (
	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/plainjson"
)

// decodeSimple decodes the fetch requests nearly every requester sends —
// one flat JSON object of the request's own keys, spelled as the contract
// spells them, each once, with strings without escapes, true or false —
// without encoding/json's reflection (8–10 µs and 21 allocations a
// request, 5 % of a steady refresh). Anything else (another spelling, an
// escape, null, a number, an unknown key, a syntax error) returns ok false
// and takes encoding/json's path, which says what is wrong. What it
// accepts it decodes as encoding/json does
// (FuzzDecodeSimpleAsEncodingJSON).
func decodeSimple(body []byte) (w contract.FetchRequest, ok bool) {
	d := plainjson.Decoder{B: body}
	var seen uint8
	ok = d.Fields(func(key []byte) bool {
		var bit uint8
		var ok bool
		switch string(key) {
		case "omfragad":
			bit, ok = 1, strField(&d, &w.Omfragad)
		case "operations":
			bit, ok = 2, strsField(&d, &w.Operations)
		case "datumFrom":
			bit, ok = 4, strField(&d, &w.DatumFrom)
		case "requestId":
			bit, ok = 8, strField(&d, &w.RequestID)
		case "force":
			bit, ok = 16, boolField(&d, &w.Force)
		case "auth":
			bit, ok = 32, strField(&d, &w.Auth)
		case "session":
			bit, ok = 64, strField(&d, &w.Session)
		}
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
		return true
	})
	return w, ok && d.End()
}

func strField(d *plainjson.Decoder, dst **string) bool {
	s, ok := d.Str()
	if ok {
		*dst = &s
	}
	return ok
}

func strsField(d *plainjson.Decoder, dst **[]string) bool {
	ss, ok := d.Strings()
	if ok {
		*dst = &ss
	}
	return ok
}

func boolField(d *plainjson.Decoder, dst **bool) bool {
	var v bool
	switch {
	case d.Literal("true"):
		v = true
	case d.Literal("false"):
	default:
		return false
	}
	*dst = &v
	return true
}
