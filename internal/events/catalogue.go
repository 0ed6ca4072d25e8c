package events

// Type names an event of the catalogue; its CloudEvents type is
// contract.EventType(Type).
type Type string

// The catalogue (CONTRACT §4).
const (
	TypeNewTransaction            Type = "NewTransaction"
	TypeBalanceChanged            Type = "BalanceChanged"
	TypeInterestChanged           Type = "InterestChanged"
	TypeUpcomingDue               Type = "UpcomingDue"
	TypeUpcomingChanged           Type = "UpcomingChanged"
	TypeUpcomingWithdrawn         Type = "UpcomingWithdrawn"
	TypeDueReminder               Type = "DueReminder"
	TypePayoutAccountChanged      Type = "PayoutAccountChanged"
	TypePayoutBlockAdded          Type = "PayoutBlockAdded"
	TypePayoutBlockChanged        Type = "PayoutBlockChanged"
	TypePayoutBlockRemoved        Type = "PayoutBlockRemoved"
	TypeOcrNumberChanged          Type = "OcrNumberChanged"
	TypeReconciliationDateChanged Type = "ReconciliationDateChanged"
	TypeFetchCompleted            Type = "FetchCompleted"
	TypeFetchFailed               Type = "FetchFailed"
	TypeShortfallForecast         Type = "ShortfallForecast"
	TypeAccessProblem             Type = "AccessProblem"
)

// Header carries the fields every event's data has.
type Header struct {
	Omfragad string `json:"omfragad"`
	Baseline bool   `json:"baseline"`
}

// Row holds the fields of an API transaction row as events carry them.
type Row struct {
	Transaktionsdatum    string `json:"transaktionsdatum"`
	Forfallodatum        string `json:"forfallodatum,omitempty"`
	Beslutsdatum         string `json:"beslutsdatum,omitempty"`
	Ranteberakningsdatum string `json:"ranteberakningsdatum,omitempty"`
	Transaktionstext     string `json:"transaktionstext"`
	BeloppSkatteverket   *int64 `json:"beloppSkatteverket,omitempty"`
	BeloppKronofogden    *int64 `json:"beloppKronofogden,omitempty"`
}

// NewTransaction reports a booked transaction not seen before.
type NewTransaction struct {
	Header
	TransaktionID         string   `json:"transaktionId"`
	Transaktionsidentitet string   `json:"transaktionsidentitet,omitempty"`
	Transaktionsdatum     string   `json:"transaktionsdatum"`
	Ranteberakningsdatum  string   `json:"ranteberakningsdatum,omitempty"`
	Transaktionstext      string   `json:"transaktionstext"`
	BeloppSkatteverket    *int64   `json:"beloppSkatteverket,omitempty"`
	BeloppKronofogden     *int64   `json:"beloppKronofogden,omitempty"`
	Voucher               *Voucher `json:"voucher,omitempty"`
}

// Voucher is a booking proposal in whole kronor against account 1630.
type Voucher struct {
	Rules  string        `json:"rules"`
	Status string        `json:"status"`
	Lines  []VoucherLine `json:"lines"`
}

// VoucherLine is one line of a Voucher: exactly one of Debit and Credit is set.
type VoucherLine struct {
	Account string `json:"account"`
	Debit   *int64 `json:"debit,omitempty"`
	Credit  *int64 `json:"credit,omitempty"`
}

// Balance is the account's balance at Skatteverket and Kronofogden.
type Balance struct {
	SaldoSkatteverket *int64 `json:"saldoSkatteverket"`
	SaldoKronofogden  *int64 `json:"saldoKronofogden"`
}

// Equal reports whether two balances are the same.
func (b Balance) Equal(o Balance) bool {
	return eqAmount(b.SaldoSkatteverket, o.SaldoSkatteverket) && eqAmount(b.SaldoKronofogden, o.SaldoKronofogden)
}

// Or returns b with each amount it lacks taken from prev: a balance
// answer without a mandatory amount (drift) keeps the last one known.
func (b Balance) Or(prev Balance) Balance {
	return Balance{SaldoSkatteverket: orAmount(b.SaldoSkatteverket, prev.SaldoSkatteverket),
		SaldoKronofogden: orAmount(b.SaldoKronofogden, prev.SaldoKronofogden)}
}

func orAmount(a, prev *int64) *int64 {
	if a == nil {
		return prev
	}
	return a
}

// Delta is the change between two balances; an absent amount counts as 0.
type Delta struct {
	SaldoSkatteverket int64 `json:"saldoSkatteverket"`
	SaldoKronofogden  int64 `json:"saldoKronofogden"`
}

// BalanceChanged reports a change of saldoSkatteverket or saldoKronofogden.
type BalanceChanged struct {
	Header
	Previous         *Balance `json:"previous"`
	Current          Balance  `json:"current"`
	Delta            Delta    `json:"delta"`
	OcrNummer        string   `json:"ocrNummer,omitempty"`
	SenastUppdaterad string   `json:"senastUppdaterad"`
}

// Interest is the preliminary interest at Skatteverket and Kronofogden.
type Interest struct {
	RantaSkatteverket *int64 `json:"rantaSkatteverket"`
	RantaKronofogden  *int64 `json:"rantaKronofogden"`
}

// Equal reports whether two interest amounts are the same.
func (i Interest) Equal(o Interest) bool {
	return eqAmount(i.RantaSkatteverket, o.RantaSkatteverket) && eqAmount(i.RantaKronofogden, o.RantaKronofogden)
}

// Or returns i with each amount it lacks taken from prev, as Balance.Or.
func (i Interest) Or(prev Interest) Interest {
	return Interest{RantaSkatteverket: orAmount(i.RantaSkatteverket, prev.RantaSkatteverket),
		RantaKronofogden: orAmount(i.RantaKronofogden, prev.RantaKronofogden)}
}

// InterestChanged reports a change of rantaSkatteverket or rantaKronofogden.
type InterestChanged struct {
	Header
	Previous         *Interest `json:"previous"`
	Current          Interest  `json:"current"`
	SenastUppdaterad string    `json:"senastUppdaterad"`
}

// UpcomingDue reports an upcoming transaction that appeared.
type UpcomingDue struct {
	Header
	TransaktionID string `json:"transaktionId"`
	Row
	OcrNummer string `json:"ocrNummer,omitempty"`
}

// UpcomingChanged reports an upcoming transaction whose amount or dates changed.
type UpcomingChanged struct {
	Header
	TransaktionID string `json:"transaktionId"`
	Previous      Row    `json:"previous"`
	Current       Row    `json:"current"`
}

// UpcomingWithdrawn reports an upcoming transaction that vanished without being booked.
type UpcomingWithdrawn struct {
	Header
	TransaktionID string `json:"transaktionId"`
	Row
}

// DueReminder reports an upcoming transaction within a configured number of days of its due date.
type DueReminder struct {
	Header
	TransaktionID      string `json:"transaktionId"`
	Forfallodatum      string `json:"forfallodatum"`
	DaysLeft           int    `json:"daysLeft"`
	Transaktionstext   string `json:"transaktionstext"`
	BeloppSkatteverket *int64 `json:"beloppSkatteverket,omitempty"`
	BeloppKronofogden  *int64 `json:"beloppKronofogden,omitempty"`
	OcrNummer          string `json:"ocrNummer,omitempty"`
}

// PayoutAccountChanged reports a payout account registered, changed or removed.
type PayoutAccountChanged struct {
	Header
	Previous *string `json:"previous"`
	Current  *string `json:"current"`
}

// Block holds a payout block's fields.
type Block struct {
	Sparridentitet string `json:"sparridentitet"`
	DatumFrom      string `json:"datumFrom,omitempty"`
	DatumTom       string `json:"datumTom,omitempty"`
	Sparrbelopp    *int64 `json:"sparrbelopp,omitempty"`
	Totalsparr     *bool  `json:"totalsparr,omitempty"`
}

// PayoutBlockAdded reports a payout block that appeared.
type PayoutBlockAdded struct {
	Header
	Block
}

// PayoutBlockChanged reports a payout block whose fields changed.
type PayoutBlockChanged struct {
	Header
	Block
	Previous Block `json:"previous"`
}

// PayoutBlockRemoved reports a payout block that disappeared.
type PayoutBlockRemoved struct {
	Header
	Block
}

// OcrNumberChanged reports a change of the account's OCR number.
type OcrNumberChanged struct {
	Header
	Previous *string `json:"previous"`
	Current  *string `json:"current"`
}

// ReconciliationDateChanged reports a change of nastaAvstamningsdatum.
type ReconciliationDateChanged struct {
	Header
	Previous *string `json:"previous"`
	Current  *string `json:"current"`
}

// Call is one HTTP call made to the API, as FetchCompleted and FetchFailed list it.
type Call struct {
	Operation     string `json:"operation"`
	CorrelationID string `json:"correlationId"`
	HTTPStatus    int    `json:"httpStatus"`
	Felkod        int    `json:"felkod,omitempty"`
	At            string `json:"at"`
	DurationMs    int64  `json:"durationMs"`
	// Sha256 names the answer kept as received in the audit bucket
	// (lower-case hex SHA-256 of its bytes); empty when no answer came or
	// none was kept.
	Sha256 string `json:"sha256,omitempty"`
}

// FetchCompleted closes every successful fetch.
type FetchCompleted struct {
	Header
	Operations       []string `json:"operations"`
	APICalls         int      `json:"apiCalls"`
	Calls            []Call   `json:"calls"`
	Skipped          []string `json:"skipped"`
	Changes          int      `json:"changes"`
	SenastUppdaterad string   `json:"senastUppdaterad,omitempty"`
	Informationstext []string `json:"informationstext"`
	RequestIDs       []string `json:"requestIds,omitempty"`
	// Unavailable lists the operations the fetch could not ask because
	// their path does not exist (404 without a felkod); absent when none.
	Unavailable []Unavailable `json:"unavailable,omitempty"`
}

// Unavailable is an operation a fetch could not ask: it answered 404
// without a felkod (its path does not exist), or it did so recently and
// was not called again (Skipped). A skipped operation carries the status
// and correlation id of the call that found it unavailable.
type Unavailable struct {
	Operation     string `json:"operation"`
	HTTPStatus    int    `json:"httpStatus"`
	CorrelationID string `json:"correlationId"`
	Skipped       bool   `json:"skipped,omitempty"`
}

// Reasons a fetch failed.
const (
	ReasonInvalidRequest = "invalid-request"
	ReasonRejected       = "rejected"
	ReasonExhausted      = "exhausted"
)

// FetchFailed closes every fetch that ended without success.
type FetchFailed struct {
	Header
	Reason        string `json:"reason"`
	Error         string `json:"error"`
	Operation     string `json:"operation,omitempty"`
	Felkod        int    `json:"felkod,omitempty"`
	Felmeddelande string `json:"felmeddelande,omitempty"`
	HTTPStatus    int    `json:"httpStatus,omitempty"`
	Attempts      int    `json:"attempts"`
	Calls         []Call `json:"calls"`
	// Request is the request as received: a JSON object when it parsed,
	// else a JSON string.
	Request    any      `json:"request"`
	RequestIDs []string `json:"requestIds,omitempty"`
}

// Shortfall levels: what the projected balance at the next reconciliation
// date will bring.
const (
	LevelNone                = "none"
	LevelBetalningsuppmaning = "betalningsuppmaning"
	LevelBetalningskrav      = "betalningskrav"
)

// ShortfallForecast reports that the projected balance at the next
// reconciliation date changed level.
type ShortfallForecast struct {
	Header
	Level              string        `json:"level"`
	PreviousLevel      string        `json:"previousLevel"`
	ProjectedBalance   int64         `json:"projectedBalance"`
	ReconciliationDate string        `json:"reconciliationDate"`
	AmountToPay        int64         `json:"amountToPay"`
	OcrNummer          string        `json:"ocrNummer,omitempty"`
	BasedOn            []ForecastRow `json:"basedOn"`
}

// ForecastRow is an upcoming row counted in a forecast.
type ForecastRow struct {
	TransaktionID     string `json:"transaktionId"`
	Forfallodatum     string `json:"forfallodatum,omitempty"`
	Transaktionsdatum string `json:"transaktionsdatum"`
	Belopp            int64  `json:"belopp"`
}

// Access problem kinds.
const (
	ProblemTokenRefused         = "token-refused"
	ProblemScopeMissing         = "scope-missing"
	ProblemCertificateExpiring  = "certificate-expiring"
	ProblemCertificateInvalid   = "certificate-invalid"
	ProblemAuthorisationMissing = "authorisation-missing"
	// ProblemOperationUnavailable: an operation's path answered 404
	// without a felkod; once per operation and day.
	ProblemOperationUnavailable = "operation-unavailable"
	// ProblemAPIDrift: an answer differs from the service description
	// (unknown or missing fields, an unknown list key); once per
	// operation, set of differences and day.
	ProblemAPIDrift = "api-drift"
)

// Drift is one difference between an API answer and the service
// description, as an api-drift AccessProblem lists it: the field's path,
// never its value.
type Drift struct {
	Kind string `json:"kind"`
	Path string `json:"path"`
}

// AccessProblem reports something that will stop or has stopped fetches.
type AccessProblem struct {
	Header
	Kind      string `json:"kind"`
	Detail    string `json:"detail"`
	Since     string `json:"since"`
	ExpiresAt string `json:"expiresAt,omitempty"`
	// Operation is the API operation of operation-unavailable and api-drift.
	Operation string `json:"operation,omitempty"`
	// Drift lists the differences of api-drift, sorted by path and kind.
	Drift []Drift `json:"drift,omitempty"`
}
