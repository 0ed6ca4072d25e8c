package sie

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/skattekonto-events/skattekonto-events/internal/booking"
	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/events"
	"github.com/skattekonto-events/skattekonto-events/internal/idnr"
)

// Program is the program name of #PROGRAM.
const Program = "skattekonto-events"

// DefaultSeries is the verification series when none is chosen: "A", the
// one every bookkeeping program has.
const DefaultSeries = "A"

// Config is an Exporter's settings; the zero value means the defaults.
type Config struct {
	// Stream is the events stream; default contract.EventsStream.
	Stream string
	// Company is #FNAMN when a query names none.
	Company string
	// Series is the verification series when a query names none;
	// default DefaultSeries.
	Series string
	// Rules is the rule table whose account names go into #KONTO;
	// default booking.Default().
	Rules *booking.Table
	// Version is #PROGRAM's version; default the module's version from
	// the build information.
	Version string
	// Now is the clock of #GEN; default time.Now.
	Now func() time.Time
}

// Exporter writes SIE files of the NewTransaction events of an events
// stream. It is safe for concurrent use.
type Exporter struct {
	js  jetstream.JetStream
	cfg Config
}

// New returns an Exporter reading from js. It fails when cfg.Series is
// set and not a series (see CheckSeries).
func New(js jetstream.JetStream, cfg Config) (*Exporter, error) {
	if cfg.Stream == "" {
		cfg.Stream = contract.EventsStream
	}
	if cfg.Series == "" {
		cfg.Series = DefaultSeries
	}
	if err := CheckSeries(cfg.Series); err != nil {
		return nil, err
	}
	if cfg.Rules == nil {
		cfg.Rules = booking.Default()
	}
	if cfg.Version == "" {
		cfg.Version = buildVersion()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Exporter{js: js, cfg: cfg}, nil
}

func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// Query asks for the vouchers of one account whose transaktionsdatum lies
// in [From, To].
type Query struct {
	Account idnr.Number
	// From and To are dates YYYY-MM-DD, both included.
	From, To string
	// Series of every voucher; "" means the Exporter's.
	Series string
	// Company is #FNAMN; "" means the Exporter's.
	Company string
}

// Result is an export: the file and what it left out.
type Result struct {
	// File is the SIE file, code page 437.
	File []byte
	// Vouchers is the number of #VER in File.
	Vouchers int
	// Replaced counts the characters code page 437 could not hold as
	// given (see Encode).
	Replaced int
	// Unmapped are the transactions of the period left out of File, in
	// the order of their dates; never nil.
	Unmapped []Unmapped
}

// Unmapped is a transaction of the period that the file leaves out, and
// why. The bookkeeper books it by hand.
type Unmapped struct {
	EventID            string `json:"eventId"`
	TransaktionID      string `json:"transaktionId"`
	Transaktionsdatum  string `json:"transaktionsdatum"`
	Transaktionstext   string `json:"transaktionstext"`
	BeloppSkatteverket *int64 `json:"beloppSkatteverket,omitempty"`
	BeloppKronofogden  *int64 `json:"beloppKronofogden,omitempty"`
	// Reason is one of the Reason constants.
	Reason string `json:"reason"`
}

// Reasons a transaction is left out.
const (
	// ReasonUnmapped: the voucher's status is unmapped (no rule, a rule
	// that leaves the text to the bookkeeper, a zero amount, or an amount
	// at Kronofogden only).
	ReasonUnmapped = "unmapped"
	// ReasonNoVoucher: the event carries no voucher (published without a
	// booking proposer).
	ReasonNoVoucher = "no-voucher"
	// ReasonInvalidVoucher: the voucher is mapped but does not balance or
	// has malformed lines.
	ReasonInvalidVoucher = "invalid-voucher"
	// ReasonInvalidEvent: the event does not decode or its
	// transaktionsdatum is not a date, so the period cannot be told.
	ReasonInvalidEvent = "invalid-event"
)

// ErrNoCompany is returned when neither the query nor the Exporter names
// the company for #FNAMN, which the format requires.
var ErrNoCompany = errors.New("no company name for #FNAMN")

// Export reads q.Account's NewTransaction events and returns the SIE file
// of the mapped vouchers of the period, ordered by date, and the
// transactions of the period it left out.
func (x *Exporter) Export(ctx context.Context, q Query) (*Result, error) {
	q, err := x.complete(q)
	if err != nil {
		return nil, err
	}
	txs, err := x.read(ctx, q.Account.String())
	if err != nil {
		return nil, err
	}
	res := &Result{Unmapped: []Unmapped{}}
	var vouchers []Voucher
	for _, t := range txs {
		if t.reason == "" && (t.date < q.From || t.date > q.To) {
			continue
		}
		if t.reason != "" {
			res.Unmapped = append(res.Unmapped, t.unmapped(t.reason))
			continue
		}
		lines, reason := linesOf(t.ev.Voucher)
		if reason != "" {
			res.Unmapped = append(res.Unmapped, t.unmapped(reason))
			continue
		}
		vouchers = append(vouchers, Voucher{Series: q.Series, Date: t.date, Text: text(t.ev), Lines: lines})
	}
	slices.SortStableFunc(vouchers, func(a, b Voucher) int { return cmp.Compare(a.Date, b.Date) })
	slices.SortStableFunc(res.Unmapped, func(a, b Unmapped) int { return cmp.Compare(a.Transaktionsdatum, b.Transaktionsdatum) })
	h := Header{
		Program:   Program,
		Version:   x.cfg.Version,
		Generated: x.cfg.Now(),
		OrgNr:     OrgNr(q.Account, x.cfg.Now()),
		Company:   q.Company,
		Accounts:  x.cfg.Rules.Accounts,
	}
	res.File, res.Replaced, err = Encode(h, vouchers)
	if err != nil {
		return nil, err
	}
	res.Vouchers = len(vouchers)
	return res, nil
}

// complete checks the query and fills in the Exporter's defaults.
func (x *Exporter) complete(q Query) (Query, error) {
	if q.Account.IsZero() {
		return q, &FieldError{Field: "omfragad", Err: errors.New("required")}
	}
	if err := q.check(); err != nil {
		return q, err
	}
	if q.Series == "" {
		q.Series = x.cfg.Series
	}
	if q.Company == "" {
		q.Company = x.cfg.Company
	}
	if q.Company == "" {
		return q, ErrNoCompany
	}
	return q, nil
}

// OrgNr is #ORGNR of the account n: an organisation number as
// NNNNNN-NNNN; a sole trader's personnummer (their firm's organisation
// number) as YYMMDD-NNNN, with "+" from the year they turn 100 as the
// 10-digit form has it. A samordningsnummer is written the same way.
func OrgNr(n idnr.Number, now time.Time) string {
	s := n.String()
	if len(s) != 12 {
		return ""
	}
	sep := "-"
	if n.IsPerson() {
		if year, err := strconv.Atoi(s[:4]); err == nil && now.In(contract.Stockholm).Year()-year >= 100 {
			sep = "+"
		}
	}
	return s[2:8] + sep + s[8:]
}

// text is a voucher's text: the transaction's text and its id, so that
// a voucher imported twice can be spotted.
func text(ev *events.NewTransaction) string {
	return ev.Transaktionstext + " [" + ev.TransaktionID + "]"
}

// linesOf returns the #TRANS lines of a voucher, or why it is left out:
// it must be mapped, and each line an account of 4 digits with exactly
// one of debit and credit, positive and at most MaxAmount, the debits
// equal to the credits.
func linesOf(v *events.Voucher) ([]Line, string) {
	switch {
	case v == nil:
		return nil, ReasonNoVoucher
	case v.Status != booking.StatusMapped:
		return nil, ReasonUnmapped
	case len(v.Lines) < 2 || len(v.Lines) > MaxLines:
		return nil, ReasonInvalidVoucher
	}
	lines := make([]Line, 0, len(v.Lines))
	var sum int64
	for _, l := range v.Lines {
		var amt int64
		switch {
		case l.Debit != nil && l.Credit == nil && *l.Debit > 0 && *l.Debit <= MaxAmount:
			amt = *l.Debit
		case l.Credit != nil && l.Debit == nil && *l.Credit > 0 && *l.Credit <= MaxAmount:
			amt = -*l.Credit
		default:
			return nil, ReasonInvalidVoucher
		}
		if !isAccount(l.Account) {
			return nil, ReasonInvalidVoucher
		}
		sum += amt
		lines = append(lines, Line{Account: l.Account, Amount: amt})
	}
	if sum != 0 {
		return nil, ReasonInvalidVoucher
	}
	return lines, ""
}

// tx is one NewTransaction event as read from the stream.
type tx struct {
	id   string
	date string
	ev   *events.NewTransaction
	// reason is ReasonInvalidEvent when the event cannot be read.
	reason string
}

func (t tx) unmapped(reason string) Unmapped {
	u := Unmapped{EventID: t.id, Reason: reason}
	if t.ev != nil {
		u.TransaktionID = t.ev.TransaktionID
		u.Transaktionsdatum = t.ev.Transaktionsdatum
		u.Transaktionstext = t.ev.Transaktionstext
		u.BeloppSkatteverket = t.ev.BeloppSkatteverket
		u.BeloppKronofogden = t.ev.BeloppKronofogden
	}
	return u
}

// envelope is the part of a stored event the export reads.
type envelope struct {
	ID   string                 `json:"id"`
	Type string                 `json:"type"`
	Data *events.NewTransaction `json:"data"`
}

// read returns acct's NewTransaction events stored when it starts, in
// stream order, each event id once.
func (x *Exporter) read(ctx context.Context, acct string) ([]tx, error) {
	subject := contract.EventSubject(acct, string(events.TypeNewTransaction))
	stream, err := x.js.Stream(ctx, x.cfg.Stream)
	if err != nil {
		return nil, fmt.Errorf("sie: stream %s: %w", x.cfg.Stream, err)
	}
	last, err := stream.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil // no events: an empty file
	}
	if err != nil {
		return nil, fmt.Errorf("sie: last event of %s: %w", x.cfg.Stream, err)
	}
	cons, err := x.js.OrderedConsumer(ctx, x.cfg.Stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subject},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("sie: read %s: %w", x.cfg.Stream, err)
	}
	it, err := cons.Messages()
	if err != nil {
		return nil, fmt.Errorf("sie: read %s: %w", x.cfg.Stream, err)
	}
	defer it.Stop()
	var out []tx
	seen := map[string]bool{}
	for {
		m, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return nil, fmt.Errorf("sie: read %s: %w", x.cfg.Stream, err)
		}
		meta, err := m.Metadata()
		if err != nil {
			return nil, fmt.Errorf("sie: read %s: %w", x.cfg.Stream, err)
		}
		if t := decode(m, meta.Sequence.Stream); !seen[t.id] {
			seen[t.id] = true
			out = append(out, t)
		}
		if meta.Sequence.Stream >= last.Sequence {
			return out, nil
		}
	}
}

// decode reads the stored event at stream sequence seq; one that does
// not decode as a NewTransaction is kept with ReasonInvalidEvent under its
// id, else its Nats-Msg-Id, else its sequence.
func decode(m jetstream.Msg, seq uint64) tx {
	var e envelope
	err := json.Unmarshal(m.Data(), &e)
	if err != nil || e.ID == "" || e.Type != contract.EventType(string(events.TypeNewTransaction)) || e.Data == nil {
		id := e.ID
		if id == "" {
			id = m.Headers().Get(jetstream.MsgIDHeader)
		}
		if id == "" {
			id = "stream-sequence-" + strconv.FormatUint(seq, 10)
		}
		if err != nil || e.Data == nil {
			return tx{id: id, reason: ReasonInvalidEvent}
		}
		return tx{id: id, ev: e.Data, reason: ReasonInvalidEvent}
	}
	t := tx{id: e.ID, ev: e.Data, date: e.Data.Transaktionsdatum}
	if _, err := time.Parse(time.DateOnly, t.date); err != nil {
		t.reason = ReasonInvalidEvent
	}
	return t
}
