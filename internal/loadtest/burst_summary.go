package loadtest

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
)

// failures says why a burst run failed; none when it passed. Events
// stored twice, NewTransactions missing or unexpected, wrong balances and
// answers for no request always fail it; requests never answered or
// answered twice only with StrictAnswers (else they are figures).
func (r *BurstReport) failures() []string {
	var why []string
	if r.Error != "" {
		why = append(why, r.Error) // it stopped before its checks
	}
	checks := []struct {
		n    int
		what string
	}{
		{r.Missing, "NewTransaction lost"},
		{r.Duplicates, "duplicated events"},
		{r.MsgIDMismatch, "events whose Nats-Msg-Id is not their id"},
		{r.Unexpected, "unexpected NewTransaction"},
		{r.BalanceWrong, "accounts with a wrong last balance"},
		{r.UnknownAnswers, "answers for no request"},
	}
	if r.StrictAnswers {
		checks = append(checks, []struct {
			n    int
			what string
		}{{r.Unanswered, "requests never answered"}, {r.AnsweredTwice, "requests answered twice"}}...)
	}
	for _, c := range checks {
		if c.n > 0 {
			why = append(why, fmt.Sprintf("%d %s", c.n, c.what))
		}
	}
	if r.Error == "" {
		if r.KillEachRound && r.Kills == 0 {
			why = append(why, "no worker killed")
		}
		if r.NATSRestart && r.NATSRestarts == 0 {
			why = append(why, "NATS not restarted")
		}
		if r.Fault != "none" && r.Faults == 0 {
			why = append(why, "fault "+r.Fault+" never injected")
		}
	}
	return why
}

// setup describes a run's setup in a few words.
func (r *BurstReport) setup() string {
	parts := []string{"1 server"}
	if r.Cluster {
		parts[0] = "3-node cluster"
	}
	parts = append(parts, plural(r.Workers, "worker"))
	if r.KillEachRound {
		parts = append(parts, "kill each round")
	}
	if r.NATSRestart {
		parts = append(parts, "NATS restart")
	}
	return strings.Join(append(parts, "ack wait "+r.AckWait), ", ")
}

// Summary writes what a person reads at the end of burst runs: one row of
// figures per run, what went wrong, and one verdict line. runErr is the
// error BurstSuite returned with the runs.
func (rs *BurstRuns) Summary(w io.Writer, runErr error) error {
	var s strings.Builder
	if len(rs.Runs) > 0 {
		r := rs.Runs[0]
		fmt.Fprintf(&s, "burst test: %d accounts × %d transactions, %s of %d requests per account every %gs, seed %d\n",
			r.Accounts, r.Transactions, plural(r.Rounds, "round"), r.BurstSize, r.RoundInterval, r.Seed)
	}
	tw := tabwriter.NewWriter(&s, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  fault\tsetup\trequests\tnever answered\tanswered twice\tfailed\tevents duplicated\tmissing\twrong balances\tfaults\tkills\tseconds")
	for _, r := range rs.Runs {
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%.0f\n", r.Fault, r.setup(), r.Requests, r.Unanswered,
			r.AnsweredTwice, r.Verdict.Failed, r.Duplicates, r.Missing, r.BalanceWrong, r.Faults, r.Kills, r.Seconds)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range rs.Runs {
		rs.details(&s, r)
	}
	s.WriteString(verdictLine(rs.failures(runErr), rs.passed()))
	_, err := io.WriteString(w, s.String())
	return err
}

// details writes a run's FetchFailed reasons and, when it failed, its
// first problems.
func (rs *BurstRuns) details(s *strings.Builder, r *BurstReport) {
	if len(r.FailedReasons) > 0 {
		var reasons []string
		for _, k := range slices.Sorted(maps.Keys(r.FailedReasons)) {
			reasons = append(reasons, fmt.Sprintf("%s %d", orNone(k), r.FailedReasons[k]))
		}
		fmt.Fprintf(s, "  %s: FetchFailed answers by reason: %s\n", r.Fault, strings.Join(reasons, ", "))
	}
	if r.Unanswered > 0 && !r.Settled {
		fmt.Fprintf(s, "  %s: %s never answered (nothing left to deliver or the quiet limit)\n", r.Fault, plural(r.Unanswered, "request"))
	}
	if r.FinalRetries > 0 {
		fmt.Fprintf(s, "  %s: final request unanswered: %s asked again\n", r.Fault, plural(r.FinalRetries, "account"))
	}
	if len(r.failures()) == 0 {
		return
	}
	for i, p := range r.Problems {
		if i == 5 {
			fmt.Fprintf(s, "  %s: problem: … (%d more in the JSON report)\n", r.Fault, len(r.Problems)-i)
			break
		}
		fmt.Fprintf(s, "  %s: problem: %s\n", r.Fault, p)
	}
}

// Passed reports whether every burst run passed.
func (rs *BurstRuns) Passed(runErr error) bool { return len(rs.failures(runErr)) == 0 }

func (rs *BurstRuns) failures(runErr error) []string {
	var why []string
	if runErr != nil && !errors.Is(runErr, errChecks) {
		why = append(why, runErr.Error())
	}
	if len(rs.Runs) == 0 && runErr == nil {
		why = append(why, "no run")
	}
	for _, r := range rs.Runs {
		for _, f := range r.failures() {
			why = append(why, r.Fault+": "+f)
		}
	}
	return why
}

func (rs *BurstRuns) passed() string {
	var reqs, unanswered, twice int
	strict := true
	for _, r := range rs.Runs {
		reqs, unanswered, twice = reqs+r.Requests, unanswered+r.Unanswered, twice+r.AnsweredTwice
		strict = strict && r.StrictAnswers
	}
	s := fmt.Sprintf("%s, %d requests: no event duplicated, none missing, every balance right", plural(len(rs.Runs), "run"), reqs)
	if strict {
		return s + ", every request answered exactly once"
	}
	return s + fmt.Sprintf("; answers not asserted (%d never answered, %d answered twice; -strict-answers asserts them)", unanswered, twice)
}
