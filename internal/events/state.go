package events

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
)

// stateVersion is the version of the state encoding; Decode refuses others.
const stateVersion = 1

// Operation bits of State.Seen: an operation's first answer is a baseline.
const (
	SeenSaldo uint8 = 1 << iota
	SeenTransaktioner
	SeenUtbetalningskonto
	SeenUtbetalningssparrar
)

// maxRecentFetches bounds the fetch ids a state remembers: enough for a
// round of coalesced requests (at most 32) and the fetches after it
// while its members may still be redelivered.
const maxRecentFetches = 48

// State is what the worker remembers of one account between fetches: the
// last values seen, fingerprints of the booked transactions seen (not the
// rows), the upcoming rows and blocks (few, kept whole so that changes can
// be described), and the ids of recent fetches so that a redelivered
// request is recognised as done.
type State struct {
	V          int    `json:"v"`
	Generation uint64 `json:"g"`
	Seen       uint8  `json:"seen,omitempty"`

	Balance               Balance  `json:"balance"`
	Interest              Interest `json:"interest"`
	OcrNummer             string   `json:"ocr,omitempty"`
	NastaAvstamningsdatum string   `json:"recon,omitempty"`
	// SenastUppdaterad is the saldo answer's timestamp; TxSenastUppdaterad
	// the transactions answer's. Equal values mean the data cannot have changed.
	SenastUppdaterad   string `json:"upd,omitempty"`
	TxSenastUppdaterad string `json:"txUpd,omitempty"`
	TxFetchedOn        string `json:"txOn,omitempty"`
	// TxAt is when (Unix seconds) the transactions were last fetched,
	// not skipped: it bounds how long an unchanged senastUppdaterad may
	// save the transactions call (Stale).
	TxAt int64 `json:"txAt,omitempty"`

	// ForecastLevel is the shortfall level last reported.
	ForecastLevel string `json:"level,omitempty"`
	// Problems maps an access problem's kind to the day (YYYY-MM-DD) it
	// was last reported, so it is reported at most once a day.
	Problems map[string]string `json:"problems,omitempty"`

	Known    Fingerprints `json:"known,omitempty"`
	Upcoming []Upcoming   `json:"upcoming,omitempty"`
	Payout   *string      `json:"payout,omitempty"`
	Blocks   []Block      `json:"blocks,omitempty"`

	// FetchedAt is when (Unix nanoseconds) the last successful call of
	// each operation started: a request published before that is served.
	FetchedAt map[string]int64 `json:"at,omitempty"`

	// Unavailable is kept in the deployment's service state only: the
	// operations that answered as if their path did not exist, by name.
	Unavailable map[string]UnavailableMark `json:"unavail,omitempty"`

	// Fetches holds 64-bit hashes of the recent fetch ids, 8 bytes each,
	// newest last (base64 in JSON).
	Fetches []byte `json:"fetches,omitempty"`
}

// Upcoming is a remembered upcoming row with its assigned id and the
// reminder offsets already sent (a bit per index of Options.ReminderDays).
type Upcoming struct {
	ID       string
	Row      Row
	Reminded uint32
}

// TxOlderThan reports whether the account's transactions were last
// fetched maxAge or longer before now, or never. A state stored before
// TxAt existed counts from the start of the day of TxFetchedOn.
func (s *State) TxOlderThan(maxAge time.Duration, now time.Time) bool {
	at := time.Unix(s.TxAt, 0)
	if s.TxAt == 0 {
		day, err := time.ParseInLocation(time.DateOnly, s.TxFetchedOn, contract.Stockholm)
		if err != nil {
			return true
		}
		at = day
	}
	return now.Sub(at) >= maxAge
}

// HasFetch reports whether the state records the fetch id as done.
func (s *State) HasFetch(id string) bool {
	h := fnv64(id)
	for i := 0; i+8 <= len(s.Fetches); i += 8 {
		if binary.BigEndian.Uint64(s.Fetches[i:]) == h {
			return true
		}
	}
	return false
}

// recordFetch remembers a finished fetch and the fetches coalesced into it.
func (s *State) recordFetch(fetchIDs []string) {
	out := slices.Clone(s.Fetches)
	for _, id := range fetchIDs {
		out = binary.BigEndian.AppendUint64(out, fnv64(id))
	}
	if n := len(out) / 8; n > maxRecentFetches {
		out = out[(n-maxRecentFetches)*8:]
	}
	s.Fetches = out
}

// Encode returns the state's stored form.
func (s *State) Encode() ([]byte, error) {
	c := *s
	c.V = stateVersion
	return json.Marshal(&c)
}

// DecodeState parses a stored state. An empty body is an empty state.
func DecodeState(b []byte) (State, error) {
	var s State
	if len(b) == 0 {
		return s, nil
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return State{}, fmt.Errorf("decode state: %w", err)
	}
	if s.V != stateVersion {
		return State{}, fmt.Errorf("decode state: unknown version %d", s.V)
	}
	if err := s.Known.validate(); err != nil {
		return State{}, fmt.Errorf("decode state: %w", err)
	}
	if len(s.Fetches)%8 != 0 {
		return State{}, fmt.Errorf("decode state: fetch ids: length %d is not a multiple of 8", len(s.Fetches))
	}
	return s, nil
}

// fpSize is the stored size of one fingerprint: a 64-bit hash of the
// transaction id and the transaction's day (days since 2000-01-01), so
// that fingerprints older than the API can return are pruned.
const fpSize = 10

// Fingerprints is a compact sorted set of booked-transaction fingerprints:
// fpSize bytes each, ordered by hash. Its JSON form is base64.
type Fingerprints []byte

// Len is the number of fingerprints.
func (f Fingerprints) Len() int { return len(f) / fpSize }

func (f Fingerprints) hash(i int) uint64 { return binary.BigEndian.Uint64(f[i*fpSize:]) }
func (f Fingerprints) day(i int) uint16  { return binary.BigEndian.Uint16(f[i*fpSize+8:]) }

// Contains reports whether h is in the set.
func (f Fingerprints) Contains(h uint64) bool {
	n := f.Len()
	i := sort.Search(n, func(i int) bool { return f.hash(i) >= h })
	return i < n && f.hash(i) == h
}

type fp struct {
	hash uint64
	day  uint16
}

// with returns a new set holding f, add, and none older than minDay.
func (f Fingerprints) with(add []fp, minDay uint16) Fingerprints {
	all := make([]fp, 0, f.Len()+len(add))
	for i := 0; i < f.Len(); i++ {
		all = append(all, fp{f.hash(i), f.day(i)})
	}
	all = append(all, add...)
	slices.SortFunc(all, func(a, b fp) int {
		switch {
		case a.hash < b.hash:
			return -1
		case a.hash > b.hash:
			return 1
		}
		return 0
	})
	out := make(Fingerprints, 0, len(all)*fpSize)
	var last uint64
	have := false
	for _, e := range all {
		if (have && e.hash == last) || e.day < minDay {
			continue
		}
		last, have = e.hash, true
		out = binary.BigEndian.AppendUint64(out, e.hash)
		out = binary.BigEndian.AppendUint16(out, e.day)
	}
	return out
}

// oldest is the smallest day in the set (65535 when empty).
func (f Fingerprints) oldest() uint16 {
	m := uint16(65535)
	for i := 0; i < f.Len(); i++ {
		m = min(m, f.day(i))
	}
	return m
}

func (f Fingerprints) validate() error {
	if len(f)%fpSize != 0 {
		return fmt.Errorf("fingerprints: length %d is not a multiple of %d", len(f), fpSize)
	}
	for i := 1; i < f.Len(); i++ {
		if f.hash(i-1) >= f.hash(i) {
			return fmt.Errorf("fingerprints: not strictly ordered at %d", i)
		}
	}
	return nil
}

// Equal reports whether two sets hold the same fingerprints.
func (f Fingerprints) Equal(g Fingerprints) bool { return bytes.Equal(f, g) }

// upcomingJSON is the stored form of an Upcoming row, with short keys:
// every state carries its account's upcoming rows.
type upcomingJSON struct {
	ID       string `json:"i"`
	Date     string `json:"d"`
	Due      string `json:"f,omitempty"`
	Decided  string `json:"b,omitempty"`
	Interest string `json:"r,omitempty"`
	Text     string `json:"t"`
	SKV      *int64 `json:"s,omitempty"`
	KFM      *int64 `json:"k,omitempty"`
	Reminded uint32 `json:"m,omitempty"`
}

// MarshalJSON writes the short stored form.
func (u Upcoming) MarshalJSON() ([]byte, error) {
	return json.Marshal(upcomingJSON{ID: u.ID, Date: u.Row.Transaktionsdatum, Due: u.Row.Forfallodatum, Decided: u.Row.Beslutsdatum,
		Interest: u.Row.Ranteberakningsdatum, Text: u.Row.Transaktionstext, SKV: u.Row.BeloppSkatteverket, KFM: u.Row.BeloppKronofogden,
		Reminded: u.Reminded})
}

// UnmarshalJSON reads the short stored form.
func (u *Upcoming) UnmarshalJSON(b []byte) error {
	var j upcomingJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*u = Upcoming{ID: j.ID, Reminded: j.Reminded, Row: Row{Transaktionsdatum: j.Date, Forfallodatum: j.Due, Beslutsdatum: j.Decided,
		Ranteberakningsdatum: j.Interest, Transaktionstext: j.Text, BeloppSkatteverket: j.SKV, BeloppKronofogden: j.KFM}}
	return nil
}
