package loadtest

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Goals of issue 15 for a comparison run, printed beside the ratios.
const (
	goalSteadyRatio  = 1.5
	goalOverallRatio = 1.0
)

// Summary writes what a person reads at the end of a comparison run: a
// table of the rounds of both contenders, the ratios, the costs per
// refresh, then one verdict line.
func (r *CompareReport) Summary(w io.Writer, runErr error) error {
	if r.Ours.Overall.Name == "" { // stopped early: sum what ran
		r.finish()
	}
	var s strings.Builder
	fmt.Fprintf(&s, "comparison: %d accounts × %d transactions, %s, %.0f%% of accounts paid into before round %d; "+
		"ours: 1 worker (concurrency %s), peer: %d handlers; load average %.1f → %.1f\n",
		r.Accounts, r.Transactions, plural(r.Rounds, "round"), r.ChangeRate*100, payRound, orDefault(r.Concurrency),
		r.PeerConcurrency, r.LoadAverageStart[0], r.LoadAverageEnd[0])
	tw := tabwriter.NewWriter(&s, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "round\tours refreshes/s\tpeer refreshes/s\tratio\tours events/s\tours CPU µs/refresh\tpeer CPU µs/refresh\tours API calls/refresh\t\n")
	row := func(name string, o, p ComparePhase) {
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.2f×\t%.0f\t%.0f\t%.0f\t%.2f\t\n", name, o.RefreshesPerSecond, p.RefreshesPerSecond,
			ratio(o.RefreshesPerSecond, p.RefreshesPerSecond), o.EventsPerSecond, o.WorkerCPUMicrosPerRefresh,
			p.WorkerCPUMicrosPerRefresh, o.APICallsPerRefresh)
	}
	for i := range min(len(r.Ours.Rounds), len(r.Peer.Rounds)) {
		o, p := r.Ours.Rounds[i], r.Peer.Rounds[i]
		first := "ours first"
		if p.RanFirst {
			first = "peer first"
		}
		row(fmt.Sprintf("%d (%s)", i+1, first), o, p)
	}
	row("steady (2–)", r.Ours.Steady, r.Peer.Steady)
	row("overall", r.Ours.Overall, r.Peer.Overall)
	if err := tw.Flush(); err != nil {
		return err
	}
	tw = tabwriter.NewWriter(&s, 0, 0, 2, ' ', 0)
	for _, c := range []struct {
		name string
		p    ComparePhase
	}{{"ours, steady", r.Ours.Steady}, {"peer, steady", r.Peer.Steady}, {"ours, first round", first(r.Ours.Rounds)}, {"peer, first round", first(r.Peer.Rounds)}} {
		n := c.p.NATS
		fmt.Fprintf(tw, "  %s\tNATS round trips/refresh %.2f\tmsgs to/from server %.2f / %.2f\t%.0f B/refresh\tNATS+API fake CPU %.0f µs/refresh\tAPI calls/refresh %.2f\n",
			c.name, n.RoundTripsPerRefresh, n.MsgsToServerPerRefresh, n.MsgsFromServerPerRefresh, n.BytesPerRefresh,
			c.p.ToolCPUMicrosPerRefresh, c.p.APICallsPerRefresh)
	}
	fmt.Fprintf(tw, "  peak RSS\tours %.1f MB\tpeer %.1f MB\n", float64(r.Ours.PeakRSSBytes)/(1<<20), float64(r.Peer.PeakRSSBytes)/(1<<20))
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(&s, "ratio: steady %.2f× (goal ≥ %.1f×: %s), overall %.2f× (goal ≥ %.1f×: %s); first round %.0f events/s\n",
		r.SteadyRatio, goalSteadyRatio, met(r.SteadyRatio >= goalSteadyRatio), r.OverallRatio, goalOverallRatio,
		met(r.OverallRatio >= goalOverallRatio), r.FirstRoundEventsPerSecond)
	s.WriteString(verdictLine(r.failures(runErr), fmt.Sprintf("%d requests to each answered once, none failed", r.Ours.Overall.Answered)))
	_, err := io.WriteString(w, s.String())
	return err
}

// Passed reports whether a comparison ran to its end with every request
// of both contenders answered once and none failed.
func (r *CompareReport) Passed(runErr error) bool { return len(r.failures(runErr)) == 0 }

func (r *CompareReport) failures(runErr error) []string {
	var why []string
	if runErr != nil {
		why = append(why, runErr.Error())
	}
	for _, c := range []struct {
		name string
		side Contender
	}{{"ours", r.Ours}, {"peer", r.Peer}} {
		o := c.side.Overall
		if o.Requests > o.Answered {
			why = append(why, fmt.Sprintf("%s: %d of %d requests unanswered", c.name, o.Requests-o.Answered, o.Requests))
		}
		if o.Failed > 0 {
			why = append(why, fmt.Sprintf("%s: %s failed", c.name, plural(o.Failed, "fetch")))
		}
	}
	if len(r.Ours.Rounds) < r.Rounds || len(r.Peer.Rounds) < r.Rounds {
		why = append(why, fmt.Sprintf("ran %d and %d of %d rounds", len(r.Ours.Rounds), len(r.Peer.Rounds), r.Rounds))
	}
	return why
}

func first(ps []ComparePhase) ComparePhase {
	if len(ps) == 0 {
		return ComparePhase{}
	}
	return ps[0]
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "not met"
}

func orDefault(n int) string {
	if n == 0 {
		return "default"
	}
	return fmt.Sprint(n)
}
