package loadtest

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Config configures a load or crash run. Zero values mean the defaults
// noted on each field (those of cmd/loadtest's flags).
type Config struct {
	// NATSURL connects to running NATS servers (loopback only) instead of
	// starting an embedded one.
	NATSURL string
	// SimURL drives a running simulator (loopback, admin API) instead of
	// an in-process one.
	SimURL string
	// NATSSyncInterval, when positive, lets the embedded NATS servers
	// acknowledge before fsync and fsync every NATSSyncInterval; zero
	// fsyncs before every acknowledgement (the worker's default).
	NATSSyncInterval time.Duration

	Accounts     int     // default 10000 (crash: 300)
	Transactions int     // booked rows per account; default 50 (crash: 20)
	Workers      int     // worker processes; default 1 (crash -cluster: 2)
	Concurrency  int     // WORKER_CONCURRENCY; 0: the worker's default
	Rounds       int     // refresh rounds after the baseline; default 3, negative none
	ChangeRate   float64 // share of accounts changed per round; default 0.05 (negative: none)
	Rate         float64 // requests per second; 0 as fast as possible

	Latency      time.Duration // simulated API latency
	RateLimit    float64       // SKV_RATE_LIMIT: calls/s for the whole deployment, shared by all workers; 0 none
	SimRateLimit float64       // the simulator's own limit (429 beyond it); 0 none

	// Duration bounds the whole run (default 10m; crash: the chaos phase, default 40s).
	Duration time.Duration
	// QueueFirst enqueues the baseline's requests before starting the
	// workers (to measure memory with a full queue).
	QueueFirst bool

	// WorkerBin is a built worker; empty: go build ./cmd/worker.
	WorkerBin string
	// SelfWorker runs workers as this executable with WorkerArgs (the
	// in-process worker of cmd/loadtest, which can write CPU profiles).
	SelfWorker string
	WorkerArgs func(i, gen int) []string

	Seed int64
	// LogLevel is the workers' LOG_LEVEL; default warn.
	LogLevel string
	// Dir is the working directory (worker binary, logs, NATS store);
	// empty: a temporary directory removed at the end unless KeepDir.
	Dir     string
	KeepDir bool
	// Progress receives a progress line every second; nil: none.
	Progress io.Writer

	// Crash test.
	Cluster bool
	// KillMin and KillMax bound the pause between worker kills; default 0.5s and 3s.
	KillMin, KillMax time.Duration
	// Quiet bounds the wait for every answer after the chaos; default 90s
	// (burst: 3m).
	Quiet time.Duration

	// Burst test (Burst): Rounds rounds (default 40) of BurstSize requests
	// per account (default 5), one round every RoundInterval (default 1s),
	// on 6 accounts and 2 workers unless set.
	BurstSize     int
	RoundInterval time.Duration
	// KillEachRound kills one worker with SIGKILL in every round, each
	// worker in turn; NATSRestart restarts a NATS server (a cluster's
	// events stream leader) once, half way.
	KillEachRound bool
	NATSRestart   bool
	// AckWait is the workers' WORKER_ACK_WAIT; 0: the worker's default.
	AckWait time.Duration
	// Fault is the fault a burst run injects (FaultKinds); empty: none.
	Fault string
	// FaultHold is how long a partition or a full storage lasts; 0: 15s
	// for a partition, 10s for storage.
	FaultHold time.Duration
	// StrictAnswers fails a burst run when a request has no answer or two;
	// without it those figures are reported and only events, losses and
	// balances decide the verdict.
	StrictAnswers bool
}

// burstDefaults applies a burst run's defaults and validates.
func (c Config) burstDefaults() (Config, error) {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.Accounts, 6)
	def(&c.Workers, 2)
	def(&c.Rounds, 40)
	def(&c.BurstSize, 5)
	if c.ChangeRate == 0 {
		c.ChangeRate = 0.5
	}
	if c.RoundInterval == 0 {
		c.RoundInterval = time.Second
	}
	if c.Quiet == 0 {
		c.Quiet = 3 * time.Minute
	}
	c, err := c.withDefaults(true)
	var errs []error
	if c.BurstSize < 1 || c.BurstSize > 100 {
		errs = append(errs, fmt.Errorf("burst size %d: want 1 to 100", c.BurstSize))
	}
	if c.Rounds < 1 {
		errs = append(errs, fmt.Errorf("rounds %d: a burst run wants at least 1", c.Rounds))
	}
	if c.AckWait < 0 || c.RoundInterval < 0 || c.FaultHold < 0 {
		errs = append(errs, errors.New("ack wait, round interval and fault hold: none may be negative"))
	}
	if !slices.Contains(FaultKinds, c.Fault) && c.Fault != "" {
		errs = append(errs, fmt.Errorf("fault %q: want one of %s", c.Fault, strings.Join(FaultKinds, ", ")))
	}
	if c.Fault == FaultPartition && !c.Cluster {
		errs = append(errs, errors.New("fault partition: needs a cluster (-cluster)"))
	}
	return c, errors.Join(append([]error{err}, errs...)...)
}

func (c Config) withDefaults(crash bool) (Config, error) {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	if crash {
		def(&c.Accounts, 300)
		def(&c.Transactions, 20)
		if c.Cluster {
			def(&c.Workers, 2)
		}
		if c.Duration == 0 {
			c.Duration = 40 * time.Second
		}
		if c.ChangeRate == 0 {
			c.ChangeRate = 0.1
		}
	}
	def(&c.Accounts, 10000)
	def(&c.Transactions, 50)
	def(&c.Workers, 1)
	def(&c.Rounds, 3)
	c.Rounds = max(c.Rounds, 0)
	if c.ChangeRate == 0 {
		c.ChangeRate = 0.05
	}
	if c.ChangeRate < 0 {
		c.ChangeRate = 0
	}
	if c.Duration == 0 {
		c.Duration = 10 * time.Minute
	}
	if c.KillMin == 0 {
		c.KillMin = 500 * time.Millisecond
	}
	if c.KillMax == 0 {
		c.KillMax = 3 * time.Second
	}
	if c.Quiet == 0 {
		c.Quiet = 90 * time.Second
	}
	if c.LogLevel == "" {
		c.LogLevel = "warn"
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	var errs []error
	switch {
	case c.Accounts < 1 || c.Accounts > 1_000_000:
		errs = append(errs, fmt.Errorf("accounts %d: want 1 to 1000000", c.Accounts))
	case c.Transactions < 1 || c.Transactions > 5000:
		errs = append(errs, fmt.Errorf("transactions %d: want 1 to 5000", c.Transactions))
	case c.Workers < 1 || c.Workers > 64:
		errs = append(errs, fmt.Errorf("workers %d: want 1 to 64", c.Workers))
	case c.Rounds > 1000:
		errs = append(errs, fmt.Errorf("rounds %d: want at most 1000", c.Rounds))
	case c.ChangeRate > 1:
		errs = append(errs, fmt.Errorf("change rate %v: want at most 1", c.ChangeRate))
	case c.Duration > 2*time.Hour:
		errs = append(errs, errors.New("duration: at most 2h"))
	case c.KillMax < c.KillMin:
		errs = append(errs, errors.New("kill interval: max below min"))
	}
	if c.NATSSyncInterval < 0 {
		errs = append(errs, errors.New("NATS sync interval: negative"))
	}
	if crash && (c.NATSURL != "" || c.SimURL != "") {
		errs = append(errs, errors.New("the crash test runs its own NATS and simulator"))
	}
	return c, errors.Join(errs...)
}

// servers is the number of embedded NATS servers a crash or burst run starts.
func (c Config) servers() int {
	if c.Cluster {
		return 3
	}
	return 1
}
