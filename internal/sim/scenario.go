package sim

import (
	"bytes"
	"fmt"
	"io"
	"time"
)

// Scenario is the JSON form of a scenario file: accounts to load, and
// steps to run after a delay relative to load time.
type Scenario struct {
	Accounts []Account `json:"accounts,omitempty"`
	// Generate adds RealisticAccount accounts (dated from the sim clock).
	Generate []Generate `json:"generate,omitempty"`
	Steps    []Step     `json:"steps,omitempty"`
}

// Generate asks for a RealisticAccount.
type Generate struct {
	Omfragad     string `json:"omfragad"`
	Seed         int64  `json:"seed"`
	Transactions int    `json:"transactions"`
}

// Step is one scripted action. After is a Go duration ("10s", "1m30s");
// empty or "0s" runs the step during LoadScenario. Action is one of the
// change kinds (post-transaction, add-upcoming, book-upcoming,
// change-upcoming, withdraw-upcoming, set-balance, set-interest, set-payout-account,
// add-block, remove-block, close-account, put-account) or inject-fault
// / clear-faults. Each action reads the fields named in its doc in
// doc.go.
type Step struct {
	After             string       `json:"after,omitempty"`
	Omfragad          string       `json:"omfragad,omitempty"`
	Action            string       `json:"action"`
	Transaction       *Transaction `json:"transaction,omitempty"`
	Account           *Account     `json:"account,omitempty"`
	Index             *int         `json:"index,omitempty"`
	Date              string       `json:"date,omitempty"`
	SaldoSkatteverket *int64       `json:"saldoSkatteverket,omitempty"`
	SaldoKronofogden  *int64       `json:"saldoKronofogden,omitempty"`
	RantaSkatteverket *int64       `json:"rantaSkatteverket,omitempty"`
	RantaKronofogden  *int64       `json:"rantaKronofogden,omitempty"`
	Utbetalningskonto *string      `json:"utbetalningskonto,omitempty"`
	Block             *Block       `json:"block,omitempty"`
	Sparridentitet    int64        `json:"sparridentitet,omitempty"`
	Fault             *Fault       `json:"fault,omitempty"`
}

// Scenario actions besides the change kinds.
const (
	ActionInjectFault = "inject-fault"
	ActionClearFaults = "clear-faults"
)

// check validates a step's shape without touching the simulator.
func (st Step) check() (time.Duration, error) {
	var d time.Duration
	if st.After != "" {
		var err error
		if d, err = time.ParseDuration(st.After); err != nil || d < 0 {
			return 0, fmt.Errorf("%w: after %q is not a non-negative Go duration", ErrInvalid, st.After)
		}
	}
	need := func(ok bool, what string) error {
		if !ok {
			return fmt.Errorf("%w: action %s needs %s", ErrInvalid, st.Action, what)
		}
		return nil
	}
	hasOmf := st.Omfragad != ""
	var err error
	switch st.Action {
	case KindPutAccount:
		err = need(st.Account != nil, "account")
	case KindPostTransaction, KindAddUpcoming:
		err = need(hasOmf && st.Transaction != nil, "omfragad and transaction")
	case KindBookUpcoming, KindWithdrawUpcoming:
		err = need(hasOmf && st.Index != nil, "omfragad and index")
	case KindChangeUpcoming:
		err = need(hasOmf && st.Index != nil && st.Transaction != nil, "omfragad, index and transaction")
	case KindSetBalance:
		err = need(hasOmf && st.SaldoSkatteverket != nil && st.SaldoKronofogden != nil, "omfragad, saldoSkatteverket and saldoKronofogden")
	case KindSetInterest:
		err = need(hasOmf && st.RantaSkatteverket != nil && st.RantaKronofogden != nil, "omfragad, rantaSkatteverket and rantaKronofogden")
	case KindSetPayoutAccount, KindCloseAccount:
		err = need(hasOmf, "omfragad")
	case KindAddBlock:
		err = need(hasOmf && st.Block != nil, "omfragad and block")
	case KindRemoveBlock:
		err = need(hasOmf && st.Sparridentitet != 0, "omfragad and sparridentitet")
	case ActionInjectFault:
		if err = need(st.Fault != nil, "fault"); err == nil {
			err = st.Fault.Validate()
		}
	case ActionClearFaults:
	default:
		err = fmt.Errorf("%w: unknown action %q", ErrInvalid, st.Action)
	}
	return d, err
}

// run performs the step.
func (s *Sim) runStep(st Step) error {
	o := st.Omfragad
	switch st.Action {
	case KindPutAccount:
		a := *st.Account
		if a.Omfragad == "" {
			a.Omfragad = o
		}
		return s.PutAccount(a)
	case KindPostTransaction:
		return s.PostTransaction(o, *st.Transaction)
	case KindAddUpcoming:
		return s.AddUpcoming(o, *st.Transaction)
	case KindBookUpcoming:
		return s.BookUpcoming(o, *st.Index, st.Date)
	case KindWithdrawUpcoming:
		return s.WithdrawUpcoming(o, *st.Index)
	case KindChangeUpcoming:
		return s.ChangeUpcoming(o, *st.Index, *st.Transaction)
	case KindSetBalance:
		return s.SetBalance(o, *st.SaldoSkatteverket, *st.SaldoKronofogden)
	case KindSetInterest:
		return s.SetInterest(o, *st.RantaSkatteverket, *st.RantaKronofogden)
	case KindSetPayoutAccount:
		return s.SetPayoutAccount(o, st.Utbetalningskonto)
	case KindAddBlock:
		return s.AddBlock(o, *st.Block)
	case KindRemoveBlock:
		return s.RemoveBlock(o, st.Sparridentitet)
	case KindCloseAccount:
		return s.CloseAccount(o)
	case ActionInjectFault:
		s.InjectFault(*st.Fault)
	case ActionClearFaults:
		s.ClearFaults()
	}
	return nil
}

// LoadScenario reads a JSON scenario, loads its accounts, runs its
// immediate steps (after empty or 0) in order and schedules the others
// relative to now on wall-clock timers, which Close stops. A malformed
// scenario changes nothing. YAML is not supported.
func (s *Sim) LoadScenario(r io.Reader) error {
	body, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("read scenario: %w", err)
	}
	var sc Scenario
	if err := decodeStrict(body, &sc); err != nil {
		return fmt.Errorf("scenario: %w", err)
	}
	delays := make([]time.Duration, len(sc.Steps))
	for i, st := range sc.Steps {
		d, err := st.check()
		if err != nil {
			return fmt.Errorf("scenario step %d: %w", i, err)
		}
		delays[i] = d
	}
	for i, g := range sc.Generate {
		if !ValidOmfragad(g.Omfragad) {
			return fmt.Errorf("scenario generate %d: %w: omfragad %s is not valid", i, ErrInvalid, Mask(g.Omfragad))
		}
	}
	for i, a := range sc.Accounts {
		if err := s.PutAccount(a); err != nil {
			return fmt.Errorf("scenario account %d: %w", i, err)
		}
	}
	for _, g := range sc.Generate {
		if err := s.PutAccount(RealisticAccount(g.Omfragad, g.Seed, g.Transactions, s.now())); err != nil {
			return fmt.Errorf("scenario generate %s: %w", Mask(g.Omfragad), err)
		}
	}
	for i, st := range sc.Steps {
		if delays[i] == 0 {
			if err := s.runStep(st); err != nil {
				return fmt.Errorf("scenario step %d (%s): %w", i, st.Action, err)
			}
			continue
		}
		stop := s.afterFunc(delays[i], func() {
			if err := s.runStep(st); err != nil {
				s.log.Warn().Int("step", i).Str("action", st.Action).Str("error", err.Error()).Msg("sim: scenario step failed")
			}
		})
		s.mu.Lock()
		closed := s.closed
		if !closed {
			s.timers = append(s.timers, stop)
		}
		s.mu.Unlock()
		if closed {
			stop()
			return fmt.Errorf("scenario: simulator closed")
		}
	}
	return nil
}

// LoadScenarioJSON is LoadScenario for a byte slice.
func (s *Sim) LoadScenarioJSON(b []byte) error { return s.LoadScenario(bytes.NewReader(b)) }
