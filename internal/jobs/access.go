package jobs

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/events"
	"github.com/skattekonto-events/skattekonto-events/internal/skv"
)

// accessProblems is what this process currently knows is wrong with its
// access to the API, for readiness; kind → since and detail.
type accessProblems struct {
	mu     sync.Mutex
	active map[string]activeProblem
}

type activeProblem struct {
	since  time.Time
	detail string
}

// set records a problem and returns when it was first seen.
func (a *accessProblems) set(kind, detail string, now time.Time) time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.active == nil {
		a.active = map[string]activeProblem{}
	}
	p, ok := a.active[kind]
	if !ok {
		p.since = now
	}
	p.detail = detail
	a.active[kind] = p
	return p.since
}

func (a *accessProblems) clear(kinds ...string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, k := range kinds {
		delete(a.active, k)
	}
}

// Problems returns the deployment-wide access problems this worker sees
// now, as "kind: detail" lines (empty when all is well). Readiness
// reports them.
func (w *Worker) Problems() []string {
	w.access.mu.Lock()
	defer w.access.mu.Unlock()
	var out []string
	for k, p := range w.access.active {
		out = append(out, k+": "+p.detail)
	}
	sort.Strings(out)
	return out
}

// CheckAccess is a readiness check: it fails while the token is refused,
// the scope is missing or the certificate is invalid. An expiring
// certificate is reported by events and metrics, not by readiness.
func (w *Worker) CheckAccess(context.Context) error {
	var bad []string
	for _, p := range w.Problems() {
		if !strings.HasPrefix(p, events.ProblemCertificateExpiring) {
			bad = append(bad, p)
		}
	}
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, "; "))
	}
	return nil
}

// classify tells which deployment-wide access problem an API error shows.
func classify(err error) (kind string, ok bool) {
	switch {
	case errors.Is(err, skv.ErrTokenRefused):
		return events.ProblemTokenRefused, true
	case errors.Is(err, skv.ErrScopeMissing):
		return events.ProblemScopeMissing, true
	case errors.Is(err, skv.ErrCertificate):
		return events.ProblemCertificateInvalid, true
	}
	return "", false
}

func day(now time.Time) string { return now.In(contract.Stockholm).Format(time.DateOnly) }

// noteAccess learns from a fetch's calls what they show of the
// deployment's access to the API: an API error may show a problem,
// reported at most once per kind and day across all replicas; calls that
// succeeded show that the token works and has its scope. Operations
// whose path does not exist, and answers that differ from the service
// description, are reported too (unavailable.go); they are no readiness
// matter.
func (w *Worker) noteAccess(ctx context.Context, f *fetch, a *answers) {
	// The API's shape is the same whatever the credential.
	for _, u := range a.found {
		w.noteUnavailable(ctx, u, f.now)
	}
	for _, d := range a.drift {
		w.noteDrift(ctx, d, f.now)
	}
	if f.req.Auth == contract.AuthUser {
		// A person's token shows nothing of the organisation's access:
		// its refusals are the person's, reported on the login.
		return
	}
	switch {
	case a.apiErr != nil:
		if kind, ok := classify(a.apiErr); ok {
			w.reportService(ctx, kind, a.apiErr.Error(), time.Time{}, f.now)
		}
	case a.failure == nil && !a.fromState:
		w.access.clear(events.ProblemTokenRefused, events.ProblemScopeMissing)
	}
}

func (w *Worker) reportService(ctx context.Context, kind, detail string, expires, now time.Time) {
	since := w.access.set(kind, detail, now)
	d := day(now)
	r := events.NewAccessProblem(events.Origin{FetchID: "service-" + d, Time: now},
		events.Problem{Kind: kind, Detail: detail, Since: since, Expires: expires}, d)
	published, err := w.store.ReportProblem(ctx, r)
	if err != nil {
		w.log.Error().Err(err).Str("kind", kind).Msg("could not report access problem")
		return
	}
	if published {
		w.log.Warn().Str("kind", kind).Str("detail", detail).Msg("access problem")
		w.cfg.Metrics.EventsPublished(string(events.TypeAccessProblem), 1)
	}
}

// accountProblem returns the AccessProblem to publish with a fetch that
// failed with apiErr when the account answered before and now answers
// felkod 6 (the agent's authorisation is gone), at most once a day; else
// nil.
func (w *Worker) accountProblem(f *fetch, apiErr error) *events.ProblemReport {
	const kind = events.ProblemAuthorisationMissing
	d := day(f.now)
	// With a person's token, felkod 6 says the person may not see the
	// account: the login's affair, not the organisation's agent grant.
	if f.req.Auth == contract.AuthUser || !errors.Is(apiErr, skv.ErrNotAuthorised) || f.st.Seen == 0 || f.st.Problems[kind] == d {
		return nil
	}
	r := events.NewAccessProblem(f.origin(), events.Problem{
		Kind:   kind,
		Detail: "felkod 6 (Auktorisation saknas): the agent authorisation for this account is missing, though the account answered before",
		Since:  f.now,
	}, d)
	return &r
}

// watchCertificate checks the organisation certificate at start and
// every CertificateCheck until ctx ends.
func (w *Worker) watchCertificate(ctx context.Context) {
	if w.cfg.CertificateExpiry == nil {
		return
	}
	t := time.NewTicker(w.cfg.CertificateCheck)
	defer t.Stop()
	for {
		w.checkCertificate(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (w *Worker) checkCertificate(ctx context.Context) {
	now := w.cfg.Now()
	exp, err := w.cfg.CertificateExpiry()
	switch {
	case errors.Is(err, skv.ErrNoCertificate):
		return // no certificate configured (the simulator, or plain tests)
	case err != nil:
		w.reportService(ctx, events.ProblemCertificateInvalid, "the organisation certificate cannot be used: "+err.Error(), time.Time{}, now)
	case !exp.After(now):
		w.reportService(ctx, events.ProblemCertificateInvalid, fmt.Sprintf("the organisation certificate expired on %s", exp.UTC().Format(time.DateOnly)), exp, now)
	case exp.Sub(now) <= w.cfg.CertificateWarn:
		w.access.clear(events.ProblemCertificateInvalid)
		w.reportService(ctx, events.ProblemCertificateExpiring,
			fmt.Sprintf("the organisation certificate expires on %s, in %d days", exp.UTC().Format(time.DateOnly), int(exp.Sub(now).Hours()/24)), exp, now)
	default:
		w.access.clear(events.ProblemCertificateInvalid, events.ProblemCertificateExpiring)
	}
}
