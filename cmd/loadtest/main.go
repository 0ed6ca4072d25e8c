// Command loadtest measures skattekonto-events end to end and proves its
// exactly-once promise under crashes.
//
//	go run ./cmd/loadtest [flags]          # load: throughput, latency, API calls, CPU, RSS, storage
//	go run ./cmd/loadtest -crash [flags]   # kill workers and NATS at random, then check the stream
//	go run ./cmd/loadtest -crash -cluster  # the same on a three-node JetStream cluster
//
// It starts NATS and the API simulator in process (or uses -nats-url and
// -sim-url on loopback), builds ./cmd/worker and runs workers as separate
// processes. A progress line goes to stderr every second and a JSON
// summary to stdout (and to -json).
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
	"strconv"
	"syscall"
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/loadtest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

// flags are the command line: the library's Config and the tool's own.
type flags struct {
	cfg                  loadtest.Config
	crash, workerMode    bool
	jsonFile, cpuprofile string
	quiet                bool
}

func parseFlags(args []string, stderr io.Writer) (flags, error) {
	var f flags
	cfg := &f.cfg
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&f.crash, "crash", false, "run the crash test instead of the load test")
	fs.StringVar(&f.jsonFile, "json", "", "also write the JSON summary to this file")
	fs.StringVar(&f.cpuprofile, "cpuprofile", "", "run workers as this tool's in-process worker and write each one's CPU profile to this path (worker i: path.i)")
	fs.BoolVar(&f.workerMode, "worker-mode", false, "internal: run as a worker process (environment as cmd/worker)")
	fs.BoolVar(&f.quiet, "quiet", false, "no progress lines")
	fs.StringVar(&cfg.NATSURL, "nats-url", "", "NATS server URL(s) on loopback, comma-separated; empty: embedded server")
	fs.StringVar(&cfg.SimURL, "sim-url", "", "root URL of a running simulator (plain http on loopback); empty: in process")
	fs.IntVar(&cfg.Accounts, "accounts", 0, "accounts (default 10000; crash 300)")
	fs.IntVar(&cfg.Transactions, "transactions", 0, "booked transactions per account (default 50; crash 20)")
	fs.IntVar(&cfg.Workers, "workers", 0, "worker processes (default 1; crash -cluster 2)")
	fs.IntVar(&cfg.Concurrency, "concurrency", 0, "WORKER_CONCURRENCY (default: the worker's)")
	fs.IntVar(&cfg.Rounds, "rounds", 3, "refresh rounds after the baseline")
	fs.Float64Var(&cfg.ChangeRate, "change-rate", 0, "share of accounts changed per round (default 0.05; crash 0.1; negative: none)")
	fs.Float64Var(&cfg.Rate, "rate", 0, "fetch requests per second (0: as fast as possible)")
	fs.DurationVar(&cfg.Latency, "latency", 0, "simulated API latency per call")
	fs.Float64Var(&cfg.RateLimit, "rate-limit", 0, "SKV_RATE_LIMIT: API calls per second per worker (0: none)")
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
	fs.DurationVar(&cfg.Quiet, "quiet-timeout", 90*time.Second, "crash: bound on the wait for every answer after the chaos")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if fs.NArg() > 0 {
		return f, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if cfg.Rounds == 0 {
		cfg.Rounds = -1 // none: the library's zero means its default
	}
	return f, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if f.workerMode {
		return loadtest.RunWorker(ctx, f.cpuprofile)
	}
	if !f.quiet {
		f.cfg.Progress = stderr
	}
	if f.cpuprofile != "" {
		if f.crash {
			return errors.New("-cpuprofile is for load runs")
		}
		if err := profileWorkers(&f.cfg, f.cpuprofile); err != nil {
			return err
		}
	}
	var (
		out    any
		runErr error
	)
	if f.crash {
		rep, err := loadtest.Crash(ctx, f.cfg)
		if rep != nil {
			out = rep
			printCrash(stderr, rep)
		}
		runErr = err
	} else {
		rep, err := loadtest.Run(ctx, f.cfg)
		if rep != nil {
			out = rep
		}
		runErr = err
	}
	if out != nil {
		if err := writeJSON(stdout, f.jsonFile, out); err != nil {
			return err
		}
	}
	return runErr
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

// writeJSON writes the summary to stdout and, when file is set, to file.
func writeJSON(stdout io.Writer, file string, summary any) error {
	b, err := json.MarshalIndent(summary, "", "  ")
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

func printCrash(w io.Writer, r *loadtest.CrashReport) {
	mode := "single server"
	if r.Cluster {
		mode = "3-node cluster"
	}
	fmt.Fprintf(w, "crash test (%s, seed %d): %.0fs, %d rounds, %d changes\n", mode, r.Seed, r.Seconds, r.Rounds, r.Changes)
	fmt.Fprintf(w, "  kills %d, worker restarts %d (unexpected exits %d), NATS restarts %d (%s)\n",
		r.Kills, r.WorkerRestarts, r.UnexpectedExits, r.NATSRestarts, r.NATSStopped)
	fmt.Fprintf(w, "  requests %d (unanswered %d, answered twice %d, failed %d, unknown answers %d)\n",
		r.Requests, r.Unanswered, r.AnsweredTwice, r.Failed, r.UnknownAnswers)
	fmt.Fprintf(w, "  events checked %d, duplicates %d, Nats-Msg-Id mismatches %d\n", r.EventsChecked, r.Duplicates, r.MsgIDMismatch)
	fmt.Fprintf(w, "  NewTransaction expected %d, missing %d, unexpected %d; accounts with a wrong last balance %d\n",
		r.ExpectedTransactions, r.Missing, r.Unexpected, r.BalanceWrong)
	for _, p := range r.Problems {
		fmt.Fprintln(w, "  problem:", p)
	}
	if r.OK() {
		fmt.Fprintln(w, "  PASS")
	} else {
		fmt.Fprintln(w, "  FAIL")
	}
}
