package login

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"golang.org/x/oauth2"

	"github.com/skattekonto-events/skattekonto-events/internal/skv"
)

// tokens is the oauth2.TokenSource of a login's API client in this
// process: every replica's client of the login takes the newest token
// from the bucket.
type tokens struct {
	m   *Manager
	ref string
}

func (t *tokens) Token() (*oauth2.Token, error) {
	ctx, cancel := context.WithTimeout(t.m.octx, claimTTL)
	defer cancel()
	return t.m.token(ctx, t.ref)
}

// token returns the login's access token, refreshing it when due.
//
// A refresh token is good for one use, and any replica may find the
// access token due, so a refresh goes by compare-and-set on the record:
// the replica that writes its claim spends the refresh token and writes
// the new tokens; the others wait for them. A refusal ends the login only
// if the record still holds the refused refresh token: when another
// replica replaced it meanwhile, its tokens are used instead.
func (m *Manager) token(ctx context.Context, ref string) (*oauth2.Token, error) {
	l, err := m.lookup(ctx, ref)
	if errors.Is(err, ErrUnknownSession) {
		return nil, fmt.Errorf("%w: %w", skv.ErrLoginEnded, err)
	}
	if err != nil {
		return nil, err
	}
	if rec, _ := l.snapshot(); rec.End == nil && rec.fresh(m.cfg.Now()) {
		return copyToken(rec.Token), nil
	}
	l.refreshMu.Lock()
	defer l.refreshMu.Unlock()
	for conflicts := 0; conflicts < 100; {
		rec, rev, err := m.load(ctx, ref)
		switch {
		case errors.Is(err, errNotFound):
			return nil, fmt.Errorf("%w: login %s is no longer stored", skv.ErrLoginEnded, ref)
		case err != nil:
			return nil, err
		case rec.End != nil:
			return nil, fmt.Errorf("%w: %s", skv.ErrLoginEnded, rec.End.reason(langEN))
		}
		now := m.cfg.Now()
		if rec.fresh(now) {
			return copyToken(rec.Token), nil
		}
		if rec.Token == nil || rec.Token.RefreshToken == "" {
			e := end{Kind: endNoRefresh, At: now}
			if err := m.finish(ctx, ref, "", e); err != nil && !errors.Is(err, errEnded) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %s", skv.ErrLoginEnded, e.reason(langEN))
		}
		if c := rec.Claim; c != nil && c.By != m.cfg.Instance && now.Before(c.Until) {
			// Another replica is refreshing: wait for its tokens (or for its
			// claim to lapse), looking again at least every second.
			if err := l.waitChange(ctx, rev, min(c.Until.Sub(now), time.Second)); err != nil {
				return nil, err
			}
			continue
		}
		tok, err := m.refresh(ctx, l, rec, rev)
		if errors.Is(err, errConflict) || errors.Is(err, errMoved) {
			conflicts++
			continue
		}
		return tok, err
	}
	return nil, fmt.Errorf("login %s: the token kept changing while refreshing it", ref)
}

// refresh claims the refresh of rec (at revision rev), spends its
// refresh token and stores the new tokens. errConflict or errMoved mean
// another replica got there first: look again.
func (m *Manager) refresh(ctx context.Context, l *login, rec record, rev uint64) (*oauth2.Token, error) {
	now := m.cfg.Now()
	rec.Claim = &claim{By: m.cfg.Instance, Until: now.Add(claimTTL)}
	val, err := m.seal(&rec)
	if err != nil {
		return nil, err
	}
	crev, err := m.bucket.update(ctx, loginKey(l.ref), val, rev, rec.ttl(now))
	if err != nil {
		return nil, err
	}
	m.apply(rec, crev)
	spent := rec.Token.RefreshToken
	rctx, cancel := context.WithTimeout(context.WithValue(ctx, oauth2.HTTPClient, m.cfg.HTTPClient), refreshTimeout)
	nt, err := m.oauth.TokenSource(rctx, &oauth2.Token{RefreshToken: spent}).Token()
	cancel()
	if err != nil {
		if status, code, refused := refusal(err); refused {
			e := end{Kind: endRefused, At: m.cfg.Now(), Refreshes: rec.Refreshes, HTTP: status, Code: code}
			switch err := m.finish(ctx, l.ref, spent, e); {
			case errors.Is(err, errMoved):
				m.cfg.Logger.Debug().Str("login", l.ref).Msg("refresh refused, but another replica had refreshed the login: using its tokens")
				return nil, err
			case err != nil && !errors.Is(err, errEnded):
				return nil, err
			}
			return nil, fmt.Errorf("%w: %s", skv.ErrLoginEnded, e.reason(langEN))
		}
		m.unclaim(ctx, l.ref)
		return nil, fmt.Errorf("refresh user token: %s", tokenErrText(err))
	}
	done := m.cfg.Now()
	stored, err := m.modify(ctx, l.ref, func(r *record) error {
		if r.End != nil {
			return errEnded // logged out meanwhile
		}
		if r.Token == nil || r.Token.RefreshToken != spent {
			return errMoved
		}
		r.Token, r.Issued, r.RefreshExpires, r.Claim = nt, done, done.Add(refreshTTL(nt)), nil
		r.Refreshes++
		return nil
	})
	switch {
	case errors.Is(err, errEnded):
		return nil, fmt.Errorf("%w: %s", skv.ErrLoginEnded, stored.End.reason(langEN))
	case errors.Is(err, errMoved):
		return nil, err
	case err != nil:
		// The new refresh token is lost to the other replicas: once the
		// claim lapses the login ends at the next refresh.
		m.cfg.Logger.Error().Str("login", l.ref).Err(err).Msg("could not store the refreshed login: other replicas cannot use it")
		return copyToken(nt), nil
	}
	m.cfg.Logger.Debug().Str("login", l.ref).Int("refreshes", stored.Refreshes).Time("expires", nt.Expiry).Msg("user token refreshed")
	return copyToken(nt), nil
}

// unclaim drops this process's claim after a refresh that failed for a
// passing reason, so another try need not wait for it to lapse.
func (m *Manager) unclaim(ctx context.Context, ref string) {
	_, _ = m.modify(ctx, ref, func(r *record) error {
		if r.Claim == nil || r.Claim.By != m.cfg.Instance {
			return errMoved
		}
		r.Claim = nil
		return nil
	})
}

// waitChange waits until the login has a revision newer than rev, at
// most d.
func (l *login) waitChange(ctx context.Context, rev uint64, d time.Duration) error {
	l.mu.Lock()
	newer, changed := l.rev > rev, l.changed
	l.mu.Unlock()
	if newer {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-changed:
	case <-t.C:
	}
	return nil
}

// refusal tells a refused refresh (a 4xx answer other than 408 and 429)
// from a passing failure.
func refusal(err error) (status int, code string, refused bool) {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response == nil {
		return 0, "", false
	}
	st := re.Response.StatusCode
	if st < 400 || st >= 500 || st == http.StatusTooManyRequests || st == http.StatusRequestTimeout {
		return 0, "", false
	}
	return st, safeCode(re.ErrorCode), true
}

func copyToken(t *oauth2.Token) *oauth2.Token {
	c := *t
	return &c
}

// tokenErrText describes a token endpoint failure without its body, which
// could echo secrets.
func tokenErrText(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		st := 0
		if re.Response != nil {
			st = re.Response.StatusCode
		}
		return fmt.Sprintf("token endpoint answered http %d %s", st, safeCode(re.ErrorCode))
	}
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			return "token endpoint unreachable: " + inner.Error()
		}
	}
	return "token endpoint unreachable"
}

// safeCode keeps an OAuth2 error code if it looks like one.
func safeCode(code string) string {
	if len(code) > 40 {
		return "(error)"
	}
	for _, r := range code {
		if (r < 'a' || r > 'z') && r != '_' {
			return "(error)"
		}
	}
	if code == "" {
		return "(no error code)"
	}
	return code
}
