package sim

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"
	"unicode/utf8"
)

const (
	dateLayout      = "2006-01-02"
	timestampLayout = "2006-01-02T15:04:05"
)

// Account is one simulated tax account, as the scripting and admin APIs
// see it. Its JSON form is what PUT /admin/accounts/{omfragad} accepts.
type Account struct {
	Omfragad          string `json:"omfragad"`
	SaldoSkatteverket int64  `json:"saldoSkatteverket"`
	SaldoKronofogden  int64  `json:"saldoKronofogden"`
	RantaSkatteverket int64  `json:"rantaSkatteverket"`
	RantaKronofogden  int64  `json:"rantaKronofogden"`
	// OcrNummer defaults to OCR(Omfragad).
	OcrNummer string `json:"ocrNummer,omitempty"`
	// NastaAvstamningsdatum is the next monthly reconciliation. Empty, or
	// once the date has passed, it is computed from the simulator's clock:
	// the first Saturday of this month, or of next month when that has
	// passed. Account and Accounts show the date the API answers.
	NastaAvstamningsdatum string `json:"nastaAvstamningsdatum,omitempty"`
	// SenastUppdaterad is set by the simulator on every mutation
	// (Swedish local time, "2006-01-02T15:04:05"); input is ignored.
	SenastUppdaterad  string        `json:"senastUppdaterad,omitempty"`
	Utbetalningskonto *string       `json:"utbetalningskonto,omitempty"`
	Tidigare          []Transaction `json:"tidigareTransaktioner,omitempty"`
	Kommande          []Transaction `json:"kommandeTransaktioner,omitempty"`
	Sparrar           []Block       `json:"utbetalningssparrar,omitempty"`
	Informationstext  []string      `json:"informationstext,omitempty"`
	// Closed makes the account answer felkod 5 (HTTP 503).
	Closed bool `json:"closed,omitempty"`
	// Unauthorized makes the account answer felkod 6 (HTTP 403).
	Unauthorized bool `json:"unauthorized,omitempty"`
	// NoIdentities omits transaktionsidentitet from the API's answers,
	// like older API versions, and stops PostTransaction assigning one.
	NoIdentities bool `json:"noIdentities,omitempty"`
}

// Transaction is a booked (tidigare) or upcoming (kommande) row. Dates are
// YYYY-MM-DD. A nil amount is omitted from the API's JSON.
type Transaction struct {
	// Transaktionsidentitet 0 is omitted from the JSON.
	Transaktionsidentitet int64 `json:"transaktionsidentitet,omitempty"`
	// Transaktionsdatum defaults to today in PostTransaction.
	Transaktionsdatum string `json:"transaktionsdatum,omitempty"`
	// Ranteberakningsdatum defaults to Forfallodatum, else Transaktionsdatum.
	Ranteberakningsdatum string `json:"ranteberakningsdatum,omitempty"`
	Forfallodatum        string `json:"forfallodatum,omitempty"`
	Beslutsdatum         string `json:"beslutsdatum,omitempty"`
	Transaktionstext     string `json:"transaktionstext"`
	BeloppSkatteverket   *int64 `json:"beloppSkatteverket,omitempty"`
	BeloppKronofogden    *int64 `json:"beloppKronofogden,omitempty"`
}

// Block is a payout block (utbetalningsspärr).
type Block struct {
	// Sparridentitet 0 gets a fresh identity in AddBlock and PutAccount.
	Sparridentitet int64  `json:"sparridentitet"`
	DatumFrom      string `json:"datumFrom"`
	DatumTom       string `json:"datumTom,omitempty"`
	Sparrbelopp    *int64 `json:"sparrbelopp,omitempty"`
	Totalsparr     *bool  `json:"totalsparr,omitempty"`
}

// Change is one entry of the change log.
type Change struct {
	Seq      int64           `json:"seq"`
	At       time.Time       `json:"at"`
	Omfragad string          `json:"omfragad"`
	Kind     string          `json:"kind"`
	Detail   json.RawMessage `json:"detail,omitempty"`
}

// Change kinds; they are also the action names of scenario steps.
const (
	KindPutAccount       = "put-account"
	KindPostTransaction  = "post-transaction"
	KindAddUpcoming      = "add-upcoming"
	KindBookUpcoming     = "book-upcoming"
	KindWithdrawUpcoming = "withdraw-upcoming"
	KindChangeUpcoming   = "change-upcoming"
	KindSetBalance       = "set-balance"
	KindSetInterest      = "set-interest"
	KindSetPayoutAccount = "set-payout-account"
	KindAddBlock         = "add-block"
	KindRemoveBlock      = "remove-block"
	KindCloseAccount     = "close-account"
	KindSetGrant         = "set-grant"
)

func ptr[T any](v T) *T { return &v }

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	return ptr(*p)
}

func (t Transaction) clone() Transaction {
	t.BeloppSkatteverket = clonePtr(t.BeloppSkatteverket)
	t.BeloppKronofogden = clonePtr(t.BeloppKronofogden)
	return t
}

func (b Block) clone() Block {
	b.Sparrbelopp = clonePtr(b.Sparrbelopp)
	b.Totalsparr = clonePtr(b.Totalsparr)
	return b
}

func (a Account) clone() Account {
	a.Utbetalningskonto = clonePtr(a.Utbetalningskonto)
	a.Tidigare = cloneTxs(a.Tidigare)
	a.Kommande = cloneTxs(a.Kommande)
	if a.Sparrar != nil {
		bs := make([]Block, len(a.Sparrar))
		for i, b := range a.Sparrar {
			bs[i] = b.clone()
		}
		a.Sparrar = bs
	}
	if a.Informationstext != nil {
		a.Informationstext = append([]string(nil), a.Informationstext...)
	}
	return a
}

func cloneTxs(ts []Transaction) []Transaction {
	if ts == nil {
		return nil
	}
	out := make([]Transaction, len(ts))
	for i, t := range ts {
		out[i] = t.clone()
	}
	return out
}

func validDate(s string) bool {
	t, err := time.Parse(dateLayout, s)
	return err == nil && t.Format(dateLayout) == s
}

// normalize validates a row and fills its defaulted dates.
func (t *Transaction) normalize(upcoming bool) error {
	if t.Transaktionstext == "" {
		return fmt.Errorf("%w: transaktionstext is required", ErrInvalid)
	}
	if n := utf8.RuneCountInString(t.Transaktionstext); n > 50 {
		return fmt.Errorf("%w: transaktionstext has %d characters, at most 50", ErrInvalid, n)
	}
	if upcoming && t.Transaktionsdatum == "" {
		t.Transaktionsdatum = t.Forfallodatum
	}
	if t.Ranteberakningsdatum == "" {
		if upcoming && t.Forfallodatum != "" {
			t.Ranteberakningsdatum = t.Forfallodatum
		} else {
			t.Ranteberakningsdatum = t.Transaktionsdatum
		}
	}
	for name, d := range map[string]string{"transaktionsdatum": t.Transaktionsdatum, "ranteberakningsdatum": t.Ranteberakningsdatum} {
		if !validDate(d) {
			return fmt.Errorf("%w: %s %q is not YYYY-MM-DD", ErrInvalid, name, d)
		}
	}
	for name, d := range map[string]string{"forfallodatum": t.Forfallodatum, "beslutsdatum": t.Beslutsdatum} {
		if d != "" && !validDate(d) {
			return fmt.Errorf("%w: %s %q is not YYYY-MM-DD", ErrInvalid, name, d)
		}
	}
	if !upcoming {
		t.Forfallodatum, t.Beslutsdatum = "", ""
	} else {
		t.Transaktionsidentitet = 0
	}
	return nil
}

func (b *Block) validate() error {
	if !validDate(b.DatumFrom) {
		return fmt.Errorf("%w: block datumFrom %q is not YYYY-MM-DD", ErrInvalid, b.DatumFrom)
	}
	if b.DatumTom != "" && (!validDate(b.DatumTom) || b.DatumTom < b.DatumFrom) {
		return fmt.Errorf("%w: block datumTom %q is not a YYYY-MM-DD on or after datumFrom", ErrInvalid, b.DatumTom)
	}
	return nil
}

// insertBooked inserts t keeping Tidigare sorted by transaktionsdatum,
// after rows of the same date. Always allocates a new slice so that
// snapshots taken earlier stay intact.
func insertBooked(rows []Transaction, t Transaction) []Transaction {
	i := sort.Search(len(rows), func(i int) bool { return rows[i].Transaktionsdatum > t.Transaktionsdatum })
	out := make([]Transaction, 0, len(rows)+1)
	out = append(out, rows[:i]...)
	out = append(out, t)
	return append(out, rows[i:]...)
}

// stamp sets senastUppdaterad to now, and at least one second after its
// previous value: every change shows in the timestamp, as clients that
// skip calls on an unchanged senastUppdaterad rely on.
func (s *Sim) stamp(a *Account) {
	now := s.now().In(stockholm).Truncate(time.Second)
	if prev, err := time.ParseInLocation(timestampLayout, a.SenastUppdaterad, stockholm); err == nil && !now.After(prev) {
		now = prev.Add(time.Second)
	}
	a.SenastUppdaterad = now.Format(timestampLayout)
}

// logChange appends to the change log. Called with s.mu held.
func (s *Sim) logChange(omf, kind string, detail any) {
	s.seq++
	var raw json.RawMessage
	if detail != nil {
		raw, _ = json.Marshal(detail)
	}
	s.changes = append(s.changes, Change{Seq: s.seq, At: s.now(), Omfragad: omf, Kind: kind, Detail: raw})
}

// Changes returns the change log, oldest first.
func (s *Sim) Changes() []Change {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Change(nil), s.changes...)
}

// nextReconciliation is the nastaAvstamningsdatum shown on today: pinned
// while it has not passed, else the next first Saturday of a month on or
// after today.
func nextReconciliation(pinned string, today time.Time) string {
	t := today.Format(dateLayout)
	if pinned >= t {
		return pinned
	}
	d := firstSaturday(today.Year(), today.Month())
	if d.Format(dateLayout) < t {
		d = firstSaturday(today.Year(), today.Month()+1)
	}
	return d.Format(dateLayout)
}

// PutAccount creates or replaces an account. Missing defaults are filled
// in, Tidigare is sorted by date (stably) and blocks without an identity
// get one.
func (s *Sim) PutAccount(a Account) error {
	if !ValidOmfragad(a.Omfragad) {
		return fmt.Errorf("%w: omfragad %s is not 12 digits with a valid check digit over the last 10", ErrInvalid, Mask(a.Omfragad))
	}
	a = a.clone()
	if a.OcrNummer == "" {
		a.OcrNummer = OCR(a.Omfragad)
	}
	if len(a.OcrNummer) > 25 {
		return fmt.Errorf("%w: ocrNummer longer than 25 characters", ErrInvalid)
	}
	if a.NastaAvstamningsdatum != "" && !validDate(a.NastaAvstamningsdatum) {
		return fmt.Errorf("%w: nastaAvstamningsdatum %q is not YYYY-MM-DD", ErrInvalid, a.NastaAvstamningsdatum)
	}
	if a.Utbetalningskonto != nil && utf8.RuneCountInString(*a.Utbetalningskonto) > 100 {
		return fmt.Errorf("%w: utbetalningskonto longer than 100 characters", ErrInvalid)
	}
	for _, txt := range a.Informationstext {
		if utf8.RuneCountInString(txt) > 200 {
			return fmt.Errorf("%w: informationstext longer than 200 characters", ErrInvalid)
		}
	}
	var maxID int64
	for i := range a.Tidigare {
		if err := a.Tidigare[i].normalize(false); err != nil {
			return fmt.Errorf("tidigareTransaktioner[%d]: %w", i, err)
		}
		maxID = max(maxID, a.Tidigare[i].Transaktionsidentitet)
	}
	sort.SliceStable(a.Tidigare, func(i, j int) bool { return a.Tidigare[i].Transaktionsdatum < a.Tidigare[j].Transaktionsdatum })
	for i := range a.Kommande {
		if err := a.Kommande[i].normalize(true); err != nil {
			return fmt.Errorf("kommandeTransaktioner[%d]: %w", i, err)
		}
	}
	seen := map[int64]bool{}
	for i := range a.Sparrar {
		if err := a.Sparrar[i].validate(); err != nil {
			return fmt.Errorf("utbetalningssparrar[%d]: %w", i, err)
		}
		id := a.Sparrar[i].Sparridentitet
		if id != 0 && seen[id] {
			return fmt.Errorf("%w: duplicate sparridentitet %d", ErrInvalid, id)
		}
		seen[id] = true
		maxID = max(maxID, id)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID = max(s.nextID, maxID+1)
	for i := range a.Sparrar {
		if a.Sparrar[i].Sparridentitet == 0 {
			a.Sparrar[i].Sparridentitet = s.newID()
		}
	}
	a.SenastUppdaterad = ""
	if old, ok := s.accounts[a.Omfragad]; ok {
		a.SenastUppdaterad = old.SenastUppdaterad
	}
	s.stamp(&a)
	s.accounts[a.Omfragad] = &a
	s.logChange(a.Omfragad, KindPutAccount, map[string]any{
		"tidigare": len(a.Tidigare), "kommande": len(a.Kommande), "sparrar": len(a.Sparrar),
	})
	return nil
}

func (s *Sim) newID() int64 {
	id := s.nextID
	s.nextID++
	return id
}

// Account returns a copy of an account.
func (s *Sim) Account(omfragad string) (Account, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[omfragad]
	if !ok {
		return Account{}, false
	}
	return s.shown(a), true
}

// shown is the copy of a that Account and Accounts return: with the
// nastaAvstamningsdatum the API answers. Called with s.mu held.
func (s *Sim) shown(a *Account) Account {
	c := a.clone()
	c.NastaAvstamningsdatum = nextReconciliation(a.NastaAvstamningsdatum, s.today())
	return c
}

// Accounts returns copies of all accounts, ordered by omfragad.
func (s *Sim) Accounts() []Account {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Account, 0, len(s.accounts))
	for _, a := range s.accounts {
		out = append(out, s.shown(a))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Omfragad < out[j].Omfragad })
	return out
}

// mutate runs f on an existing account under the lock; on success it
// stamps senastUppdaterad (not for a change of upcoming rows while
// SetQuietUpcoming is on) and logs the change returned by f.
func (s *Sim) mutate(omf, kind string, f func(a *Account) (detail any, err error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[omf]
	if !ok {
		return fmt.Errorf("account %s: %w", Mask(omf), ErrNotFound)
	}
	detail, err := f(a)
	if err != nil {
		return err
	}
	upcomingOnly := kind == KindAddUpcoming || kind == KindChangeUpcoming || kind == KindWithdrawUpcoming
	if !(upcomingOnly && s.quietUpcoming) {
		s.stamp(a)
	}
	s.logChange(omf, kind, detail)
	return nil
}

func (s *Sim) book(a *Account, t Transaction) Transaction {
	if t.Transaktionsidentitet == 0 && !a.NoIdentities {
		t.Transaktionsidentitet = s.newID()
	}
	if t.BeloppSkatteverket != nil {
		a.SaldoSkatteverket += *t.BeloppSkatteverket
	}
	if t.BeloppKronofogden != nil {
		a.SaldoKronofogden += *t.BeloppKronofogden
	}
	a.Tidigare = insertBooked(a.Tidigare, t)
	return t
}

// PostTransaction books a row: it gets a fresh transaktionsidentitet
// when it has none (unless the account has NoIdentities), its amounts
// are added to the balances, and an empty transaktionsdatum means today.
func (s *Sim) PostTransaction(omfragad string, t Transaction) error {
	_, err := s.postTransaction(omfragad, t)
	return err
}

func (s *Sim) postTransaction(omf string, t Transaction) (Transaction, error) {
	t = t.clone()
	if t.Transaktionsdatum == "" {
		t.Transaktionsdatum = s.today().Format(dateLayout)
	}
	if err := t.normalize(false); err != nil {
		return Transaction{}, err
	}
	var booked Transaction
	err := s.mutate(omf, KindPostTransaction, func(a *Account) (any, error) {
		booked = s.book(a, t)
		return booked, nil
	})
	return booked, err
}

// AddUpcoming appends an upcoming row. It has no identity and does not
// affect the balance. Transaktionsdatum defaults to Forfallodatum.
func (s *Sim) AddUpcoming(omfragad string, t Transaction) error {
	t = t.clone()
	if err := t.normalize(true); err != nil {
		return err
	}
	return s.mutate(omfragad, KindAddUpcoming, func(a *Account) (any, error) {
		a.Kommande = append(a.Kommande[:len(a.Kommande):len(a.Kommande)], t)
		return map[string]any{"index": len(a.Kommande) - 1, "transaction": t}, nil
	})
}

func removeAt[T any](s []T, i int) []T {
	out := make([]T, 0, len(s)-1)
	out = append(out, s[:i]...)
	return append(out, s[i+1:]...)
}

// BookUpcoming moves kommande[index] to tidigare on bookDate (empty:
// its transaktionsdatum), giving it an identity and applying its amounts.
func (s *Sim) BookUpcoming(omfragad string, index int, bookDate string) error {
	if bookDate != "" && !validDate(bookDate) {
		return fmt.Errorf("%w: book date %q is not YYYY-MM-DD", ErrInvalid, bookDate)
	}
	return s.mutate(omfragad, KindBookUpcoming, func(a *Account) (any, error) {
		if index < 0 || index >= len(a.Kommande) {
			return nil, fmt.Errorf("upcoming index %d of %d: %w", index, len(a.Kommande), ErrNotFound)
		}
		t := a.Kommande[index]
		a.Kommande = removeAt(a.Kommande, index)
		if bookDate != "" {
			t.Transaktionsdatum = bookDate
		}
		t.Forfallodatum, t.Beslutsdatum = "", ""
		booked := s.book(a, t)
		return map[string]any{"index": index, "transaction": booked}, nil
	})
}

// ChangeUpcoming replaces kommande[index] with t, as a new decision on an
// upcoming row does. Transaktionsdatum defaults to Forfallodatum.
func (s *Sim) ChangeUpcoming(omfragad string, index int, t Transaction) error {
	t = t.clone()
	if err := t.normalize(true); err != nil {
		return err
	}
	return s.mutate(omfragad, KindChangeUpcoming, func(a *Account) (any, error) {
		if index < 0 || index >= len(a.Kommande) {
			return nil, fmt.Errorf("upcoming index %d of %d: %w", index, len(a.Kommande), ErrNotFound)
		}
		rows := append([]Transaction(nil), a.Kommande...)
		rows[index] = t
		a.Kommande = rows
		return map[string]any{"index": index, "transaction": t}, nil
	})
}

// WithdrawUpcoming removes kommande[index] without booking it.
func (s *Sim) WithdrawUpcoming(omfragad string, index int) error {
	return s.mutate(omfragad, KindWithdrawUpcoming, func(a *Account) (any, error) {
		if index < 0 || index >= len(a.Kommande) {
			return nil, fmt.Errorf("upcoming index %d of %d: %w", index, len(a.Kommande), ErrNotFound)
		}
		t := a.Kommande[index]
		a.Kommande = removeAt(a.Kommande, index)
		return map[string]any{"index": index, "transaction": t}, nil
	})
}

// SetBalance sets saldoSkatteverket and saldoKronofogden.
func (s *Sim) SetBalance(omfragad string, skv, kfm int64) error {
	return s.mutate(omfragad, KindSetBalance, func(a *Account) (any, error) {
		a.SaldoSkatteverket, a.SaldoKronofogden = skv, kfm
		return map[string]int64{"saldoSkatteverket": skv, "saldoKronofogden": kfm}, nil
	})
}

// SetInterest sets rantaSkatteverket and rantaKronofogden.
func (s *Sim) SetInterest(omfragad string, skv, kfm int64) error {
	return s.mutate(omfragad, KindSetInterest, func(a *Account) (any, error) {
		a.RantaSkatteverket, a.RantaKronofogden = skv, kfm
		return map[string]int64{"rantaSkatteverket": skv, "rantaKronofogden": kfm}, nil
	})
}

// SetPayoutAccount registers (or with nil removes) the payout account.
func (s *Sim) SetPayoutAccount(omfragad string, konto *string) error {
	if konto != nil && utf8.RuneCountInString(*konto) > 100 {
		return fmt.Errorf("%w: utbetalningskonto longer than 100 characters", ErrInvalid)
	}
	konto = clonePtr(konto)
	return s.mutate(omfragad, KindSetPayoutAccount, func(a *Account) (any, error) {
		a.Utbetalningskonto = konto
		return map[string]*string{"utbetalningskonto": konto}, nil
	})
}

// AddBlock adds a payout block; identity 0 gets a fresh one.
func (s *Sim) AddBlock(omfragad string, b Block) error {
	_, err := s.addBlock(omfragad, b)
	return err
}

func (s *Sim) addBlock(omf string, b Block) (Block, error) {
	b = b.clone()
	if err := b.validate(); err != nil {
		return Block{}, err
	}
	err := s.mutate(omf, KindAddBlock, func(a *Account) (any, error) {
		for _, x := range a.Sparrar {
			if b.Sparridentitet != 0 && x.Sparridentitet == b.Sparridentitet {
				return nil, fmt.Errorf("%w: sparridentitet %d exists", ErrInvalid, b.Sparridentitet)
			}
		}
		if b.Sparridentitet == 0 {
			b.Sparridentitet = s.newID()
		} else {
			s.nextID = max(s.nextID, b.Sparridentitet+1)
		}
		a.Sparrar = append(a.Sparrar[:len(a.Sparrar):len(a.Sparrar)], b)
		return b, nil
	})
	return b, err
}

// RemoveBlock removes the payout block with the given sparridentitet.
func (s *Sim) RemoveBlock(omfragad string, id int64) error {
	return s.mutate(omfragad, KindRemoveBlock, func(a *Account) (any, error) {
		for i, b := range a.Sparrar {
			if b.Sparridentitet == id {
				a.Sparrar = removeAt(a.Sparrar, i)
				return b, nil
			}
		}
		return nil, fmt.Errorf("block %d: %w", id, ErrNotFound)
	})
}

// CloseAccount makes the account answer felkod 5 from now on.
func (s *Sim) CloseAccount(omfragad string) error {
	return s.mutate(omfragad, KindCloseAccount, func(a *Account) (any, error) {
		a.Closed = true
		return nil, nil
	})
}

// SetGrant grants (true) or revokes (false) the agent's authorisation for
// the account: without it the API answers felkod 6.
func (s *Sim) SetGrant(omfragad string, granted bool) error {
	return s.mutate(omfragad, KindSetGrant, func(a *Account) (any, error) {
		a.Unauthorized = !granted
		return map[string]bool{"granted": granted}, nil
	})
}
