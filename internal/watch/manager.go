package watch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/idnr"
)

// Registration is one watched account.
type Registration struct {
	Omfragad   string     `json:"omfragad"`
	Schedules  []Schedule `json:"schedules"`
	Operations []string   `json:"operations,omitempty"`
}

// Manager registers and removes accounts' schedules.
type Manager struct {
	js     jetstream.JetStream
	stream jetstream.Stream
	limits limits
}

// NewManager opens the fetch stream, which the worker creates. The
// options set the limits of Register; requests over NATS (Serve) are
// bounded by the defaults where no option is given.
func NewManager(ctx context.Context, js jetstream.JetStream, opts ...Option) (*Manager, error) {
	m := &Manager{js: js}
	for _, o := range opts {
		if err := o(&m.limits); err != nil {
			return nil, err
		}
	}
	st, err := js.Stream(ctx, contract.FetchStream)
	if err != nil {
		return nil, fmt.Errorf("watch: open stream %s: %w", contract.FetchStream, err)
	}
	m.stream = st
	return m, nil
}

// Register watches an account on a cadence (see ParseCadence), replacing
// any earlier cadence. ops, when not empty, limits the scheduled fetches
// to those operations. It refuses what the Manager's options do not
// allow: a cadence firing more often than WithMinInterval
// (ErrTooFrequent), an account beyond WithMaxAccounts
// (ErrTooManyAccounts).
func (m *Manager) Register(ctx context.Context, omfragad, cadence string, ops []string) (Registration, error) {
	return m.register(ctx, omfragad, cadence, ops, m.limits)
}

func (m *Manager) register(ctx context.Context, omfragad, cadence string, ops []string, lim limits) (Registration, error) {
	acct, err := idnr.Parse(omfragad)
	if err != nil {
		return Registration{}, fmt.Errorf("watch: omfragad: %w", err)
	}
	scheds, err := ParseCadence(cadence)
	if err != nil {
		return Registration{}, fmt.Errorf("watch: %w", err)
	}
	// Cron fires at most once a second: a minimum up to 1s holds anyway.
	if lim.minInterval > time.Second {
		if gap := minGap(scheds, lim.minInterval); gap < lim.minInterval {
			return Registration{}, fmt.Errorf("watch: %w: cadence %q fires %v apart, the minimum is %v", ErrTooFrequent, cadence, gap, lim.minInterval)
		}
	}
	for i, op := range ops {
		if !contract.KnownOperation(op) {
			return Registration{}, fmt.Errorf("watch: unknown operation %q", op)
		}
		if contains(ops[:i], op) {
			return Registration{}, fmt.Errorf("watch: operation %q listed twice", op)
		}
	}
	if lim.maxAccounts > 0 {
		watched, err := m.accounts(ctx)
		if err != nil {
			return Registration{}, err
		}
		if !watched[acct.String()] && len(watched) >= lim.maxAccounts {
			return Registration{}, fmt.Errorf("watch: %w: %d accounts, the maximum; remove one first", ErrTooManyAccounts, len(watched))
		}
	}
	var req contract.FetchRequest
	if len(ops) > 0 {
		req.Operations = &ops
	}
	body, _ := json.Marshal(req) // {} when ops is empty
	if _, err := m.Unregister(ctx, acct.String()); err != nil {
		return Registration{}, err
	}
	for _, s := range scheds {
		msg := nats.NewMsg(contract.ScheduleSubject(acct.String(), s.Name))
		msg.Data = body
		msg.Header.Set("Nats-Schedule", s.Spec)
		msg.Header.Set("Nats-Schedule-Target", contract.FetchSubject(acct.String()))
		if s.Cron() {
			msg.Header.Set("Nats-Schedule-Time-Zone", contract.ZoneName)
		}
		if _, err := m.js.PublishMsg(ctx, msg, jetstream.WithExpectStream(contract.FetchStream)); err != nil {
			return Registration{}, fmt.Errorf("watch: publish schedule %s: %w", s.Name, err)
		}
	}
	return Registration{Omfragad: acct.String(), Schedules: scheds, Operations: ops}, nil
}

// Unregister stops watching an account; it reports whether it was watched.
func (m *Manager) Unregister(ctx context.Context, omfragad string) (bool, error) {
	acct, err := idnr.Parse(omfragad)
	if err != nil {
		return false, fmt.Errorf("watch: omfragad: %w", err)
	}
	subj := contract.AccountSchedules(acct.String())
	info, err := m.stream.Info(ctx, jetstream.WithSubjectFilter(subj))
	if err != nil {
		return false, fmt.Errorf("watch: %w", err)
	}
	if len(info.State.Subjects) == 0 {
		return false, nil
	}
	if err := m.stream.Purge(ctx, jetstream.WithPurgeSubject(subj)); err != nil {
		return false, fmt.Errorf("watch: remove schedules: %w", err)
	}
	return true, nil
}

// accounts returns the set of watched accounts. Requests answered at the
// same time by several replicas may each see the list one short of a
// limit: the maximum is exceeded by at most the requests in flight.
func (m *Manager) accounts(ctx context.Context) (map[string]bool, error) {
	info, err := m.stream.Info(ctx, jetstream.WithSubjectFilter(contract.SchedulePrefix+">"))
	if err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	out := make(map[string]bool, len(info.State.Subjects))
	for subj := range info.State.Subjects {
		if acct, _, ok := strings.Cut(strings.TrimPrefix(subj, contract.SchedulePrefix), "."); ok {
			out[acct] = true
		}
	}
	return out, nil
}

// List returns the watched accounts, ordered by identity number.
func (m *Manager) List(ctx context.Context) ([]Registration, error) {
	info, err := m.stream.Info(ctx, jetstream.WithSubjectFilter(contract.SchedulePrefix+">"))
	if err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	byAcct := map[string]*Registration{}
	for subj := range info.State.Subjects {
		rest := strings.TrimPrefix(subj, contract.SchedulePrefix)
		acct, name, ok := strings.Cut(rest, ".")
		if !ok {
			continue
		}
		msg, err := m.stream.GetLastMsgForSubject(ctx, subj)
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				continue
			}
			return nil, fmt.Errorf("watch: read %s: %w", subj, err)
		}
		r := byAcct[acct]
		if r == nil {
			r = &Registration{Omfragad: acct}
			byAcct[acct] = r
			var body contract.FetchRequest
			if json.Unmarshal(msg.Data, &body) == nil && body.Operations != nil {
				r.Operations = *body.Operations
			}
		}
		r.Schedules = append(r.Schedules, Schedule{Name: name, Spec: msg.Header.Get("Nats-Schedule")})
	}
	out := make([]Registration, 0, len(byAcct))
	for _, r := range byAcct {
		sort.Slice(r.Schedules, func(i, j int) bool { return r.Schedules[i].Name < r.Schedules[j].Name })
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Omfragad < out[j].Omfragad })
	return out, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
