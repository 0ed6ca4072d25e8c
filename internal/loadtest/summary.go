package loadtest

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// errChecks marks a crash run that was carried out but failed a check
// (or crashed nothing): the report says what, so the error adds nothing.
var errChecks = errors.New("crash test failed")

// Summary writes what a person reads at the end of a load run: a few
// aligned lines of figures, then one verdict line. runErr is the error Run
// returned with the report.
func (r *Report) Summary(w io.Writer, runErr error) error {
	steady := r.Steady
	if steady.Name == "" { // a run stopped early: sum what it did
		steady = sumPhases("steady", r.Rounds)
	}
	b := r.Baseline
	var s strings.Builder
	fmt.Fprintf(&s, "load test: %d accounts × %d transactions, %s, %s after the baseline (%.0f%% of accounts changed in each)\n",
		r.Accounts, r.Transactions, plural(r.Workers, "worker"), plural(len(r.Rounds), "round"), r.ChangeRate*100)
	if r.RateLimit > 0 {
		fmt.Fprintf(&s, "rate limit: %g API calls/s for the whole deployment, shared by its %s\n", r.RateLimit, plural(r.Workers, "worker"))
	}
	if r.SimRateLimit > 0 {
		fmt.Fprintf(&s, "simulator: answers 429 beyond %g calls/s\n", r.SimRateLimit)
	}
	tw := tabwriter.NewWriter(&s, 0, 0, 2, ' ', 0)
	row := func(name string, f func(p Phase) string) {
		cell := func(p Phase) string {
			if p.Requests == 0 {
				return "-"
			}
			return f(p)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", name, cell(b), cell(steady))
	}
	fmt.Fprintf(tw, "  \tbaseline\tsteady (%s)\n", plural(len(r.Rounds), "round"))
	row("requests", func(p Phase) string { return fmt.Sprintf("%d (%d failed)", p.Requests, p.Failed) })
	row("refreshes/s", func(p Phase) string { return fmt.Sprintf("%.1f", p.RefreshesPerSecond) })
	row("events/s", func(p Phase) string { return fmt.Sprintf("%.1f", p.EventsPerSecond) })
	row("latency p50", func(p Phase) string { return fmt.Sprintf("%.1f ms", p.Latency.P50) })
	row("latency p99", func(p Phase) string { return fmt.Sprintf("%.1f ms", p.Latency.P99) })
	row("API calls/refresh", func(p Phase) string { return fmt.Sprintf("%.2f", p.APICallsPerRefresh) })
	row("429s", func(p Phase) string {
		if r.TooManyRequests < 0 {
			return "unknown (external simulator)"
		}
		return fmt.Sprint(p.TooManyRequests)
	})
	row("worker CPU", func(p Phase) string {
		return fmt.Sprintf("%.2f s (%.0f µs/refresh)", p.WorkerCPUSeconds, p.WorkerCPUMicrosPerRefresh)
	})
	if r.WorkerPeakRSSBytes > 0 { // measured at the end of a run
		fmt.Fprintf(tw, "  worker RSS\t%.1f MB peak\n", float64(r.WorkerPeakRSSBytes)/(1<<20))
	}
	if r.Storage.StreamBytes > 0 {
		fmt.Fprintf(tw, "  stream\t%.1f MB, %.0f B/account\n", float64(r.Storage.StreamBytes)/(1<<20), r.Storage.BytesPerAccount)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	s.WriteString(verdictLine(r.failures(runErr), r.passed()))
	_, err := io.WriteString(w, s.String())
	return err
}

// Passed reports whether a load run passed: it ended without an error,
// and every request was answered once and none failed.
func (r *Report) Passed(runErr error) bool { return len(r.failures(runErr)) == 0 }

// failures says why a load run failed; none when it passed.
func (r *Report) failures(runErr error) []string {
	var why []string
	if runErr != nil {
		why = append(why, runErr.Error())
	}
	var reqs, answered, failed int
	for _, p := range append([]Phase{r.Baseline}, r.Rounds...) {
		reqs, answered, failed = reqs+p.Requests, answered+p.Answered, failed+p.Failed
	}
	if reqs > answered {
		why = append(why, fmt.Sprintf("%d of %d requests unanswered", reqs-answered, reqs))
	}
	if failed > 0 {
		why = append(why, plural(failed, "fetch")+" failed")
	}
	if r.UnknownAnswers > 0 {
		why = append(why, fmt.Sprintf("%s for no outstanding request (answered twice?)", plural(r.UnknownAnswers, "answer")))
	}
	return why
}

func (r *Report) passed() string {
	n := r.Baseline.Answered
	for _, p := range r.Rounds {
		n += p.Answered
	}
	return fmt.Sprintf("%d requests answered once each, none failed", n)
}

// Summary writes what a person reads at the end of a crash run: what was
// crashed, what the checks found, then one verdict line. runErr is the
// error Crash returned with the report.
func (r *CrashReport) Summary(w io.Writer, runErr error) error {
	mode := "single NATS server"
	if r.Cluster {
		mode = "3-node NATS cluster"
	}
	var s strings.Builder
	fmt.Fprintf(&s, "crash test: %s, %s, %d accounts × %d transactions, seed %d: %.0f s, %s, %d changes\n",
		mode, plural(r.Workers, "worker"), r.Accounts, r.Transactions, r.Seed, r.Seconds, plural(r.Rounds, "round"), r.Changes)
	tw := tabwriter.NewWriter(&s, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  workers killed\t%d\t(restarts %d, unexpected exits %d)\n", r.Kills, r.WorkerRestarts, r.UnexpectedExits)
	fmt.Fprintf(tw, "  NATS restarts\t%d\t(stopped %s)\n", r.NATSRestarts, orNone(r.NATSStopped))
	fmt.Fprintf(tw, "  requests\t%d\t(unanswered %d, answered twice %d, failed %d, unknown answers %d)\n",
		r.Requests, r.Unanswered, r.AnsweredTwice, r.Verdict.Failed, r.UnknownAnswers)
	fmt.Fprintf(tw, "  events checked\t%d\t(every event in the stream)\n", r.EventsChecked)
	fmt.Fprintf(tw, "  lost\t%d\tof %d expected NewTransaction\n", r.Missing, r.ExpectedTransactions)
	fmt.Fprintf(tw, "  duplicated\t%d\t(Nats-Msg-Id mismatches %d)\n", r.Duplicates, r.MsgIDMismatch)
	fmt.Fprintf(tw, "  unexpected\t%d\tNewTransaction\n", r.Unexpected)
	fmt.Fprintf(tw, "  wrong balances\t%d\tof %d accounts\n", r.BalanceWrong, r.Accounts)
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, p := range r.Problems {
		fmt.Fprintf(&s, "  problem: %s\n", p)
	}
	s.WriteString(verdictLine(r.failures(runErr), fmt.Sprintf("%d kills, %s; nothing lost, duplicated or unexpected, every balance right",
		r.Kills, plural(r.NATSRestarts, "NATS restart"))))
	_, err := io.WriteString(w, s.String())
	return err
}

// Passed reports whether a crash run passed: it was carried out, crashed
// workers and NATS, and every check held.
func (r *CrashReport) Passed(runErr error) bool { return len(r.failures(runErr)) == 0 }

// failures says why a crash run failed; none when it passed.
func (r *CrashReport) failures(runErr error) []string {
	var why []string
	checked := runErr == nil || errors.Is(runErr, errChecks)
	if !checked {
		why = append(why, runErr.Error()) // it stopped before its checks, or one failed to run
	}
	for _, c := range []struct {
		n    int
		what string
	}{
		{r.Missing, "NewTransaction lost"},
		{r.Duplicates, "duplicated events"},
		{r.MsgIDMismatch, "events whose Nats-Msg-Id is not their id"},
		{r.Unexpected, "unexpected NewTransaction"},
		{r.BalanceWrong, "accounts with a wrong last balance"},
		{r.Unanswered, "requests unanswered"},
		{r.AnsweredTwice, "requests answered twice"},
		{r.Verdict.Failed, "fetches failed"},
		{r.UnknownAnswers, "answers for no request"},
	} {
		if c.n > 0 {
			why = append(why, fmt.Sprintf("%d %s", c.n, c.what))
		}
	}
	if checked && (r.Kills == 0 || r.NATSRestarts == 0) {
		why = append(why, fmt.Sprintf("crashed too little: %d kills, %d NATS restarts", r.Kills, r.NATSRestarts))
	}
	if len(why) == 0 && runErr != nil {
		why = append(why, runErr.Error())
	}
	return why
}

// verdictLine is the one line that ends a summary.
func verdictLine(failures []string, passed string) string {
	if len(failures) > 0 {
		return "verdict: FAIL: " + strings.Join(failures, "; ") + "\n"
	}
	return "verdict: PASS: " + passed + "\n"
}

// plural returns "1 worker", "2 workers", "2 fetches".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	if strings.HasSuffix(noun, "ch") || strings.HasSuffix(noun, "s") {
		return fmt.Sprintf("%d %ses", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
