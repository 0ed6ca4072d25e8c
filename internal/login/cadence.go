package login

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/skv"
)

// retryAfter is how long the owner waits after a refresh or a round that
// failed for a passing reason.
func (m *Manager) retryAfter() time.Duration { return min(m.cfg.Cadence, 30*time.Second) }

// run is the owner's part of a login, while this process holds its
// lease: a round of fetch requests at once (or a Cadence after the last
// round, whoever sent it) and every Cadence, and the token refreshed
// before it expires, so that the replicas serving the requests find it
// fresh.
func (m *Manager) run(ctx context.Context, l *login) {
	m.cfg.Logger.Info().Str("login", l.ref).Str("instance", m.cfg.Instance).Dur("cadence", m.cfg.Cadence).
		Msg("running a user login on this replica")
	var refreshAt, roundAt time.Time // after failures
	for {
		rec, changed := l.snapshot()
		if rec.End != nil {
			return
		}
		now := m.cfg.Now()
		next := rec.LastRound.Add(m.cfg.Cadence)
		if next.Before(roundAt) {
			next = roundAt
		}
		due := rec.refreshDue()
		if !due.IsZero() && due.Before(refreshAt) {
			due = refreshAt
		}
		wake := next
		if !due.IsZero() && due.Before(wake) {
			wake = due
		}
		if d := wake.Sub(now); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-changed:
				t.Stop()
				continue
			case <-t.C:
			}
			now = m.cfg.Now()
		}
		if !due.IsZero() && !now.Before(due) {
			if _, err := m.token(ctx, l.ref); err != nil {
				if errors.Is(err, skv.ErrLoginEnded) || ctx.Err() != nil {
					return
				}
				m.cfg.Logger.Warn().Str("login", l.ref).Err(err).Msg("could not refresh the user's token; trying again")
				refreshAt = now.Add(m.retryAfter())
				continue
			}
			refreshAt = time.Time{}
		}
		if !now.Before(next) {
			if err := m.round(ctx, l); err != nil {
				if errors.Is(err, skv.ErrLoginEnded) || ctx.Err() != nil {
					return
				}
				m.cfg.Logger.Warn().Str("login", l.ref).Err(err).Msg("could not send the login's fetch requests; trying again")
				roundAt = now.Add(m.retryAfter())
				continue
			}
			roundAt = time.Time{}
		}
	}
}

// errNotOwner means the lease was lost: the round is another replica's.
var errNotOwner = errors.New("this replica no longer holds the login's lease")

// round publishes one fetch request per account of the login, after
// making sure it still has a token. The requests are counted in the
// record first (by compare-and-set), so their ids never repeat whichever
// replica sends them, and each is signed with the login's secret.
func (m *Manager) round(ctx context.Context, l *login) error {
	if !m.holds(ctx, l) {
		return errNotOwner
	}
	if _, err := m.token(ctx, l.ref); err != nil {
		return err
	}
	now := m.cfg.Now()
	rec, err := m.modify(ctx, l.ref, func(r *record) error {
		if r.End != nil {
			return errEnded
		}
		r.Published += len(r.Accounts)
		r.LastRound = now
		return nil
	})
	if errors.Is(err, errEnded) {
		return skv.ErrLoginEnded
	}
	if err != nil {
		return err
	}
	first := rec.Published - len(rec.Accounts) + 1
	var errs []error
	for i, a := range rec.Accounts {
		id := requestPrefix(rec.Ref) + strconv.Itoa(first+i)
		msg, err := fetchRequest(&rec, a, id, now)
		if err != nil {
			return err
		}
		if _, err := m.js.PublishMsg(ctx, msg, jetstream.WithMsgID(id)); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			m.cfg.Logger.Warn().Str("login", rec.Ref).Str("account", maskAccount(a)).Err(err).Msg("could not publish a fetch request")
			errs = append(errs, err)
		}
	}
	if len(errs) == len(rec.Accounts) {
		return errors.Join(errs...)
	}
	return nil
}

// requestPrefix starts the requestId of every fetch request of a login.
func requestPrefix(ref string) string { return "login-" + ref + "-" }

// fetchRequest is the signed fetch request of a login for one account.
func fetchRequest(rec *record, acct, requestID string, now time.Time) (*nats.Msg, error) {
	body, err := json.Marshal(contract.FetchRequest{Auth: new(contract.AuthUser), Session: new(rec.Ref), RequestID: new(requestID)})
	if err != nil {
		return nil, err
	}
	subj := contract.FetchSubject(acct)
	msg := &nats.Msg{Subject: subj, Data: body, Header: nats.Header{}}
	msg.Header.Set(contract.LoginProofHeader, sign(rec.Secret, now, subj, body))
	return msg, nil
}
