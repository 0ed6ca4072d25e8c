package events

import (
	"encoding/json"
	"strconv"
)

// appendData appends the JSON of an event's data: by hand for the two
// events published most (FetchCompleted closes every fetch; a first fetch
// publishes a NewTransaction per booked row), by encoding/json for the
// rest. The hand-written encodings are what encoding/json makes of the
// same values, byte for byte (TestDataAsEncodingJSON, FuzzDataAsEncodingJSON):
// field order, omitempty, null for a nil slice, the escaping of strings.
func appendData(b []byte, data any) ([]byte, error) {
	switch d := data.(type) {
	case NewTransaction:
		return appendNewTransaction(b, &d), nil
	case FetchCompleted:
		return appendFetchCompleted(b, &d), nil
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return b, err
	}
	return append(b, raw...), nil
}

func appendHeader(b []byte, h Header) []byte {
	b = append(b, `{"omfragad":`...)
	b = appendString(b, h.Omfragad)
	b = append(b, `,"baseline":`...)
	return strconv.AppendBool(b, h.Baseline)
}

// appendField appends ,"key":value for a string.
func appendField(b []byte, key, value string) []byte {
	return appendString(appendKey(b, key), value)
}

// appendKey appends ,"key":.
func appendKey(b []byte, key string) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	return append(b, '"', ':')
}

// appendAmount appends ,"key":n unless n is nil (omitempty).
func appendAmount(b []byte, key string, n *int64) []byte {
	if n == nil {
		return b
	}
	return strconv.AppendInt(appendKey(b, key), *n, 10)
}

// appendIntField appends ,"key":n.
func appendIntField(b []byte, key string, n int64) []byte {
	return strconv.AppendInt(appendKey(b, key), n, 10)
}

// appendStrings appends ,"key":[…], or null for a nil slice.
func appendStrings(b []byte, key string, ss []string) []byte {
	b = appendKey(b, key)
	if ss == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

func appendNewTransaction(b []byte, t *NewTransaction) []byte {
	b = appendHeader(b, t.Header)
	b = appendField(b, "transaktionId", t.TransaktionID)
	if t.Transaktionsidentitet != "" {
		b = appendField(b, "transaktionsidentitet", t.Transaktionsidentitet)
	}
	b = appendField(b, "transaktionsdatum", t.Transaktionsdatum)
	if t.Ranteberakningsdatum != "" {
		b = appendField(b, "ranteberakningsdatum", t.Ranteberakningsdatum)
	}
	b = appendField(b, "transaktionstext", t.Transaktionstext)
	b = appendAmount(b, "beloppSkatteverket", t.BeloppSkatteverket)
	b = appendAmount(b, "beloppKronofogden", t.BeloppKronofogden)
	if v := t.Voucher; v != nil {
		b = append(b, `,"voucher":{"rules":`...)
		b = appendString(b, v.Rules)
		b = appendField(b, "status", v.Status)
		b = append(b, `,"lines":`...)
		if v.Lines == nil {
			b = append(b, "null"...)
		} else {
			b = append(b, '[')
			for i, l := range v.Lines {
				if i > 0 {
					b = append(b, ',')
				}
				b = append(b, `{"account":`...)
				b = appendString(b, l.Account)
				b = appendAmount(b, "debit", l.Debit)
				b = appendAmount(b, "credit", l.Credit)
				b = append(b, '}')
			}
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

func appendFetchCompleted(b []byte, f *FetchCompleted) []byte {
	b = appendHeader(b, f.Header)
	b = appendStrings(b, "operations", f.Operations)
	b = appendIntField(b, "apiCalls", int64(f.APICalls))
	b = append(b, `,"calls":`...)
	if f.Calls == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range f.Calls {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendCall(b, &f.Calls[i])
		}
		b = append(b, ']')
	}
	b = appendStrings(b, "skipped", f.Skipped)
	b = appendIntField(b, "changes", int64(f.Changes))
	if f.SenastUppdaterad != "" {
		b = appendField(b, "senastUppdaterad", f.SenastUppdaterad)
	}
	b = appendStrings(b, "informationstext", f.Informationstext)
	if len(f.RequestIDs) > 0 {
		b = appendStrings(b, "requestIds", f.RequestIDs)
	}
	if len(f.Unavailable) > 0 {
		b = append(b, `,"unavailable":[`...)
		for i, u := range f.Unavailable {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"operation":`...)
			b = appendString(b, u.Operation)
			b = appendIntField(b, "httpStatus", int64(u.HTTPStatus))
			b = appendField(b, "correlationId", u.CorrelationID)
			if u.Skipped {
				b = append(b, `,"skipped":true`...)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

func appendCall(b []byte, c *Call) []byte {
	b = append(b, `{"operation":`...)
	b = appendString(b, c.Operation)
	b = appendField(b, "correlationId", c.CorrelationID)
	b = appendIntField(b, "httpStatus", int64(c.HTTPStatus))
	if c.Felkod != 0 {
		b = appendIntField(b, "felkod", int64(c.Felkod))
	}
	b = appendField(b, "at", c.At)
	b = appendIntField(b, "durationMs", c.DurationMs)
	if c.Sha256 != "" {
		b = appendField(b, "sha256", c.Sha256)
	}
	return append(b, '}')
}
