// Command loadtest measures skattekonto-events end to end and proves its
// exactly-once promise under crashes.
//
//	go run ./cmd/loadtest [flags]          # load: throughput, latency, API calls, CPU, RSS, storage
//	go run ./cmd/loadtest -crash [flags]   # kill workers and NATS at random, then check the stream
//	go run ./cmd/loadtest -crash -cluster  # the same on a three-node JetStream cluster
//	go run ./cmd/loadtest -burst [flags]   # bursts of requests on several workers: one answer each?
//	go run ./cmd/loadtest -burst -fault all  # the same with each network and storage fault in turn
//	go run ./cmd/loadtest -peer            # side by side with a simple poller: the ratio
//
// It starts NATS and the API simulator in process (or uses -nats-url and
// -sim-url on loopback), builds ./cmd/worker and runs workers as separate
// processes. The JSON report goes to stdout (and to -json); a progress
// line goes to stderr every second (unless -quiet), and at the end a few
// aligned lines of figures and one verdict line, "verdict: PASS: …" or
// "verdict: FAIL: <why>". The exit status is 1 when the verdict is FAIL.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/loadtest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, errVerdict) {
			fmt.Fprintln(os.Stderr, "loadtest:", err)
		}
		os.Exit(1)
	}
}

// errVerdict is returned when a run ended with a failing verdict, which
// the summary has already explained.
var errVerdict = errors.New("verdict: FAIL")

const intro = `usage: go run ./cmd/loadtest [flags]           load: throughput, latency, API calls, CPU, RSS, storage
       go run ./cmd/loadtest -crash [flags]    kill workers and NATS at random, then check the stream
       go run ./cmd/loadtest -crash -cluster   the same on a three-node JetStream cluster
       go run ./cmd/loadtest -burst [flags]    bursts of requests per account on several workers, optionally
                                               with kills, a NATS restart and a fault (-fault); then check
                                               that every request has exactly one answer
       go run ./cmd/loadtest -peer             side by side with a simple poller (1000 accounts, 5 rounds)

A burst run checks, from the events stream: every requestId has exactly
one answer naming it (its requestid, or listed in data.requestIds of a
FetchCompleted or FetchFailed), no event id is stored twice, no
NewTransaction is missing and every final balance is right. Duplicates,
losses and wrong balances always fail it; requests never answered or
answered twice fail it only with -strict-answers (else they are figures).
Fault kinds (-fault, comma-separated, or all): nats-cut, latency,
bandwidth, api-reset, partition (with -cluster), storage-full.

It starts NATS and the API simulator (or uses -nats-url and -sim-url on
loopback) and runs workers as separate processes. The JSON report goes to
stdout (and to -json); progress lines go to stderr every second (not with
-quiet), then a summary and one verdict line, "verdict: PASS: ..." or
"verdict: FAIL: <why>". The exit status is 1 when the verdict is FAIL.

flags:
`

// flags are the command line: the library's Config and the tool's own.
type flags struct {
	cfg                      loadtest.Config
	crash, burst, workerMode bool
	jsonFile, cpuprofile     string
	quiet                    bool
	faults                   []string
	// peer runs a comparison; peerMode is the peer's process.
	peer, peerMode   bool
	peerConcurrency  int
	serverCPUProfile string
}

func parseFlags(args []string, stderr io.Writer) (flags, error) {
	var f flags
	cfg := &f.cfg
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), intro)
		fs.PrintDefaults()
	}
	fs.BoolVar(&f.crash, "crash", false, "run the crash test instead of the load test")
	fs.StringVar(&f.jsonFile, "json", "", "also write the JSON report to this file")
	fs.StringVar(&f.cpuprofile, "cpuprofile", "", "run workers as this tool's in-process worker and write each one's CPU profile to this path (worker i: path.i)")
	fs.BoolVar(&f.workerMode, "worker-mode", false, "internal: run as a worker process (environment as cmd/worker)")
	fs.BoolVar(&f.peer, "peer", false, "compare side by side with a simple poller, round by round (defaults: 1000 accounts, 4 rounds after the first, 10% paid into before round 3)")
	fs.IntVar(&f.peerConcurrency, "peer-concurrency", 0, "the poller's concurrent handlers (default 16)")
	fs.BoolVar(&f.peerMode, "peer-mode", false, "internal: run as the poller of -peer (environment as cmd/worker)")
	fs.StringVar(&f.serverCPUProfile, "server-cpuprofile", "", "write the CPU profile of this process (the embedded NATS server and the API simulator) to this path")
	fs.BoolVar(&f.quiet, "quiet", false, "no progress lines (the summary and verdict are still printed)")
	fs.StringVar(&cfg.NATSURL, "nats-url", "", "NATS server URL(s) on loopback, comma-separated; empty: embedded server")
	fs.Func("nats-sync", "embedded NATS: \"always\" fsyncs before every acknowledgement (default, as the worker), or an interval such as 2m to acknowledge first", func(v string) error {
		if v == "always" {
			cfg.NATSSyncInterval = 0
			return nil
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("%q is not always nor a positive interval", v)
		}
		cfg.NATSSyncInterval = d
		return nil
	})
	fs.StringVar(&cfg.SimURL, "sim-url", "", "root URL of a running simulator (plain http on loopback); empty: in process")
	fs.IntVar(&cfg.Accounts, "accounts", 0, "accounts (default 10000; crash 300)")
	fs.IntVar(&cfg.Transactions, "transactions", 0, "booked transactions per account (default 50; crash 20)")
	fs.IntVar(&cfg.Workers, "workers", 0, "worker processes (default 1; crash -cluster 2)")
	fs.IntVar(&cfg.Concurrency, "concurrency", 0, "WORKER_CONCURRENCY (default: the worker's)")
	fs.IntVar(&cfg.Rounds, "rounds", 3, "refresh rounds after the baseline")
	fs.Float64Var(&cfg.ChangeRate, "change-rate", 0, "share of accounts changed per round (default 0.05; crash 0.1; negative: none)")
	fs.Float64Var(&cfg.Rate, "rate", 0, "fetch requests per second (0: as fast as possible)")
	fs.DurationVar(&cfg.Latency, "latency", 0, "simulated API latency per call")
	fs.Float64Var(&cfg.RateLimit, "rate-limit", 0, "SKV_RATE_LIMIT: API calls per second for the whole deployment, shared by all worker replicas over NATS however many -workers run (0: none)")
	fs.Float64Var(&cfg.SimRateLimit, "sim-rate-limit", 0, "the simulator's own limit in calls per second, 429 beyond (0: none)")
	fs.DurationVar(&cfg.Duration, "duration", 0, "bound on the whole run (default 10m); crash: length of the chaos (default 40s)")
	fs.BoolVar(&cfg.QueueFirst, "queue-first", false, "enqueue the baseline's requests before starting the workers")
	fs.StringVar(&cfg.WorkerBin, "worker-bin", "", "worker binary (default: go build ./cmd/worker)")
	fs.Int64Var(&cfg.Seed, "seed", 1, "random seed (accounts, changes, kill times)")
	fs.StringVar(&cfg.Dir, "dir", "", "working directory (default: a temporary one, removed at the end)")
	fs.BoolVar(&cfg.KeepDir, "keep", false, "keep the temporary working directory (logs, NATS store)")
	fs.StringVar(&cfg.LogLevel, "log-level", "warn", "the workers' LOG_LEVEL (their logs go to worker-<i>.log in the working directory)")
	fs.BoolVar(&cfg.Cluster, "cluster", false, "crash: three NATS servers in a JetStream cluster, R3 streams")
	fs.DurationVar(&cfg.KillMin, "kill-min", 500*time.Millisecond, "crash: shortest pause between worker kills")
	fs.DurationVar(&cfg.KillMax, "kill-max", 3*time.Second, "crash: longest pause between worker kills")
	fs.DurationVar(&cfg.Quiet, "quiet-timeout", 90*time.Second, "crash: bound on the wait for every answer after the chaos (burst: default 3m)")
	fault := burstFlags(fs, &f)
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if fs.NArg() > 0 {
		return f, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if f.burst {
		return f, burstDefaults(fs, &f, *fault)
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	switch {
	case f.peer && !set["rounds"]:
		cfg.Rounds = 0 // the comparison's default
	case cfg.Rounds == 0:
		cfg.Rounds = -1 // none: the library's zero means its default
	}
	if f.peer && f.crash {
		return f, errors.New("-peer and -crash are separate runs")
	}
	return f, nil
}

// burstFlags defines the flags of the burst test and returns -fault's value.
func burstFlags(fs *flag.FlagSet, f *flags) *string {
	cfg := &f.cfg
	fs.BoolVar(&f.burst, "burst", false, "run the burst test (defaults: 6 accounts, 2 workers, 40 rounds)")
	fs.IntVar(&cfg.BurstSize, "burst-size", 5, "burst: fetch requests per account in each round, each with its own requestId")
	fs.DurationVar(&cfg.RoundInterval, "round-interval", time.Second, "burst: time from one round to the next")
	fs.BoolVar(&cfg.KillEachRound, "kill-each-round", false, "burst: SIGKILL one worker in each round, each in turn")
	fs.BoolVar(&cfg.NATSRestart, "nats-restart", false, "burst: restart a NATS server (a cluster's events stream leader) once, half way")
	fs.DurationVar(&cfg.AckWait, "ack-wait", 0, "burst: the workers' WORKER_ACK_WAIT (default: the worker's own)")
	fs.DurationVar(&cfg.FaultHold, "fault-hold", 0, "burst: how long a partition or a full storage lasts (default 15s and 10s)")
	fs.BoolVar(&cfg.StrictAnswers, "strict-answers", false, "burst: fail when a request is never answered or answered twice (else only reported)")
	return fs.String("fault", "", "burst: fault kinds to inject, one run each, comma-separated: "+strings.Join(loadtest.FaultKinds, ", ")+
		", none, or all (partition only with -cluster)")
}

// burstDefaults leaves the crash test's defaults of -rounds and
// -quiet-timeout to the burst test's own and reads -fault.
func burstDefaults(fs *flag.FlagSet, f *flags, fault string) error {
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if f.crash {
		return errors.New("-burst and -crash: choose one")
	}
	if !set["rounds"] {
		f.cfg.Rounds = 0
	}
	if !set["quiet-timeout"] {
		f.cfg.Quiet = 0
	}
	if f.cfg.Rounds <= 0 && set["rounds"] {
		return errors.New("-rounds: a burst run wants at least 1")
	}
	for _, k := range strings.Split(fault, ",") {
		switch k = strings.TrimSpace(k); k {
		case "":
		case "all":
			for _, kind := range loadtest.FaultKinds {
				if kind != loadtest.FaultPartition || f.cfg.Cluster {
					f.faults = append(f.faults, kind)
				}
			}
		default:
			f.faults = append(f.faults, k)
		}
	}
	return nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	switch {
	case f.workerMode:
		return loadtest.RunWorker(ctx, f.cpuprofile)
	case f.peerMode:
		return loadtest.RunPeer(ctx, f.cpuprofile)
	}
	if f.serverCPUProfile != "" {
		stop, err := profileSelf(f.serverCPUProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	if !f.quiet {
		f.cfg.Progress = stderr
	}
	if f.cpuprofile != "" {
		if f.crash || f.burst {
			return errors.New("-cpuprofile is for load runs")
		}
		if err := profileWorkers(&f.cfg, f.cpuprofile); err != nil {
			return err
		}
	}
	if f.burst {
		runs, err := loadtest.BurstSuite(ctx, f.cfg, f.faults)
		if runs == nil {
			return err
		}
		return finish(stdout, stderr, f.jsonFile, runs, err)
	}
	if f.peer {
		pc, err := peerConfig(f)
		if err != nil {
			return err
		}
		rep, err := loadtest.Compare(ctx, f.cfg, pc)
		if rep == nil {
			return err
		}
		return finish(stdout, stderr, f.jsonFile, rep, err)
	}
	if f.crash {
		rep, err := loadtest.Crash(ctx, f.cfg)
		if rep == nil {
			return err
		}
		return finish(stdout, stderr, f.jsonFile, rep, err)
	}
	rep, err := loadtest.Run(ctx, f.cfg)
	if rep == nil {
		return err
	}
	return finish(stdout, stderr, f.jsonFile, rep, err)
}

// profileWorkers runs the workers as this tool in worker mode, each
// writing its CPU profile next to path (worker i, generation gen:
// path.i-gen).
func profileWorkers(cfg *loadtest.Config, path string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	prof, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	cfg.SelfWorker = self
	cfg.WorkerArgs = func(i, gen int) []string {
		p := prof
		if i > 0 || gen > 0 {
			p += "." + strconv.Itoa(i)
			if gen > 0 {
				p += "-" + strconv.Itoa(gen)
			}
		}
		return []string{"-worker-mode", "-cpuprofile", p}
	}
	return nil
}

// peerConfig runs the poller of -peer as this tool in peer mode, with a
// CPU profile at the -cpuprofile path + ".peer" when one is asked for.
func peerConfig(f flags) (loadtest.PeerConfig, error) {
	self, err := os.Executable()
	if err != nil {
		return loadtest.PeerConfig{}, err
	}
	pc := loadtest.PeerConfig{Bin: self, Args: []string{"-peer-mode"}, Concurrency: f.peerConcurrency}
	if f.cpuprofile != "" {
		prof, err := filepath.Abs(f.cpuprofile)
		if err != nil {
			return pc, err
		}
		pc.Args = append(pc.Args, "-cpuprofile", prof+".peer")
	}
	return pc, nil
}

// profileSelf writes this process's CPU profile to path until stopped.
func profileSelf(path string) (func(), error) {
	out, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(out); err != nil {
		out.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); out.Close() }, nil
}

// report is what a load or crash run hands back.
type report interface {
	Summary(w io.Writer, runErr error) error
	Passed(runErr error) bool
}

// finish writes the JSON report to stdout (and jsonFile), then the
// summary and its verdict line to stderr. It returns errVerdict when the
// verdict is FAIL.
func finish(stdout, stderr io.Writer, jsonFile string, rep report, runErr error) error {
	if err := writeJSON(stdout, jsonFile, rep); err != nil {
		return err
	}
	if err := rep.Summary(stderr, runErr); err != nil {
		return err
	}
	if !rep.Passed(runErr) {
		return errVerdict
	}
	return nil
}

// writeJSON writes the report to stdout and, when file is set, to file.
func writeJSON(stdout io.Writer, file string, report any) error {
	b, err := json.MarshalIndent(report, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if _, err := stdout.Write(b); err != nil {
		return err
	}
	if file != "" {
		return os.WriteFile(file, b, 0o644)
	}
	return nil
}
