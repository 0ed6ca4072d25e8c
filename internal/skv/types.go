package skv

import "time"

// Operation names one of the four read operations of Skattekonto v2.
type Operation string

// The four operations, named as in fetch requests (CONTRACT §3).
const (
	OpUtbetalningskonto   Operation = "utbetalningskonto"
	OpSaldo               Operation = "saldo"
	OpTransaktioner       Operation = "transaktioner"
	OpUtbetalningssparrar Operation = "utbetalningssparrar"
)

// Operations lists all four operations in the order a fetch calls them.
var Operations = []Operation{OpSaldo, OpTransaktioner, OpUtbetalningskonto, OpUtbetalningssparrar}

// Common holds the fields every successful answer carries.
type Common struct {
	NastaAvstamningsdatum string   `json:"nastaAvstamningsdatum"`
	SenastUppdaterad      string   `json:"senastUppdaterad"`
	Informationstext      []string `json:"informationstext,omitempty"`
}

// Saldo is the answer of "Hämta aktuellt dagssaldo". Amounts are whole
// kronor; a nil amount was absent from the answer.
type Saldo struct {
	Common
	SaldoSkatteverket *int64 `json:"saldoSkatteverket,omitempty"`
	SaldoKronofogden  *int64 `json:"saldoKronofogden,omitempty"`
	RantaSkatteverket *int64 `json:"rantaSkatteverket,omitempty"`
	RantaKronofogden  *int64 `json:"rantaKronofogden,omitempty"`
	OcrNummer         string `json:"ocrNummer,omitempty"`
}

// Transaktioner is the answer of "Hämta tidigare och kommande transaktioner".
type Transaktioner struct {
	Common
	OcrNummer string `json:"ocrNummer,omitempty"`
	// DatumFrom is the date the API actually used (YYYY-MM-DD).
	DatumFrom string        `json:"datumFrom,omitempty"`
	Tidigare  []Transaktion `json:"tidigareTransaktioner"`
	Kommande  []Transaktion `json:"kommandeTransaktioner"`
}

// Transaktion is one booked (tidigare) or upcoming (kommande) row.
// Optional fields are empty strings or nil pointers when absent.
type Transaktion struct {
	// Transaktionsidentitet is the API's stable identity (a number in
	// the JSON), kept as its decimal digits; empty when absent.
	Transaktionsidentitet string `json:"transaktionsidentitet,omitempty"`
	Transaktionsdatum     string `json:"transaktionsdatum"`
	Ranteberakningsdatum  string `json:"ranteberakningsdatum,omitempty"`
	Forfallodatum         string `json:"forfallodatum,omitempty"`
	Beslutsdatum          string `json:"beslutsdatum,omitempty"`
	Transaktionstext      string `json:"transaktionstext"`
	BeloppSkatteverket    *int64 `json:"beloppSkatteverket,omitempty"`
	BeloppKronofogden     *int64 `json:"beloppKronofogden,omitempty"`
}

// Utbetalningskonto is the answer of "Hämta anmält utbetalningskonto".
type Utbetalningskonto struct {
	Common
	// Utbetalningskonto is nil when no payout account is registered.
	Utbetalningskonto *string `json:"utbetalningskonto,omitempty"`
}

// Utbetalningssparrar is the answer of "Hämta utbetalningsspärrar på egen begäran".
type Utbetalningssparrar struct {
	Common
	Sparrar []Sparr `json:"utbetalningssparrar"`
}

// Sparr is one payout block.
type Sparr struct {
	// Sparridentitet is the block's identity (a number in the JSON), as digits.
	Sparridentitet string `json:"sparridentitet"`
	DatumFrom      string `json:"datumFrom,omitempty"`
	DatumTom       string `json:"datumTom,omitempty"`
	Sparrbelopp    *int64 `json:"sparrbelopp,omitempty"`
	Totalsparr     *bool  `json:"totalsparr,omitempty"`
}

// Call records one HTTP call made to the API, retries included, for the
// audit trail of FetchCompleted and FetchFailed.
type Call struct {
	Operation     Operation     `json:"operation"`
	CorrelationID string        `json:"correlationId"`
	HTTPStatus    int           `json:"httpStatus"` // 0 when no HTTP answer came
	Felkod        int           `json:"felkod,omitempty"`
	At            time.Time     `json:"at"`
	Duration      time.Duration `json:"-"`
	// Body is the answer's body exactly as received, the evidence behind
	// what it showed (see Sha256); nil when no complete answer came (no
	// HTTP answer, a body that could not be read or was too large).
	Body []byte `json:"-"`
}

// Trace tells what one operation cost: every HTTP call made for it.
// It is returned also when the operation failed.
type Trace struct {
	Calls []Call
	// Drift is how the last decoded answer differed from the service
	// description: unknown fields, missing mandatory fields, an unknown
	// blocks list key. Sorted by path; nil when there was none. It is set
	// also when a missing field failed the operation.
	Drift []Drift
}

// Attempts is the number of HTTP calls made.
func (t Trace) Attempts() int { return len(t.Calls) }

// CorrelationID is the correlation id of the last call, the one whose
// answer the caller got; empty when no call was made.
func (t Trace) CorrelationID() string {
	if len(t.Calls) == 0 {
		return ""
	}
	return t.Calls[len(t.Calls)-1].CorrelationID
}
