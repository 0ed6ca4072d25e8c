package loadtest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// clockTick is the unit of utime and stime in /proc/<pid>/stat (USER_HZ,
// 100 on every Linux the tool runs on).
const clockTick = 10 * time.Millisecond

// procStats are a process's CPU time so far and its peak resident set.
type procStats struct {
	CPU     time.Duration
	PeakRSS int64 // bytes
}

// readProc reads /proc/<pid>/stat and /proc/<pid>/status.
func readProc(pid int) (procStats, error) {
	var st procStats
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return st, err
	}
	// The command name may hold spaces: fields start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return st, fmt.Errorf("/proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return st, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return st, fmt.Errorf("/proc/%d/stat: bad utime/stime", pid)
	}
	st.CPU = time.Duration(ut+stime) * clockTick
	s, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return st, err
	}
	for _, line := range strings.Split(string(s), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			st.PeakRSS = kb * 1024
		}
	}
	return st, nil
}

// buildWorker builds cmd/worker into dir.
func buildWorker(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "worker")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/worker")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ./cmd/worker: %w\n%s", err, out)
	}
	return bin, nil
}

// workerSet runs worker processes, restarts them when asked, and keeps
// their CPU time and peak RSS, including those of processes already gone.
type workerSet struct {
	bin    string
	args   func(i, gen int) []string
	env    func(i int) []string
	logDir string

	mu        sync.Mutex
	procs     []*workerProc
	deadCPU   time.Duration
	peakRSS   int64
	kills     int
	restarts  int
	exits     int // exits nobody asked for
	supervise bool
	stopping  bool
	gens      []int
}

type workerProc struct {
	cmd  *exec.Cmd
	done chan struct{}
	last procStats
	// expected is set when the tool killed or stopped the process.
	expected bool
}

func (ws *workerSet) logPath(i int) string {
	return filepath.Join(ws.logDir, "worker-"+strconv.Itoa(i)+".log")
}

// start starts worker i (again).
func (ws *workerSet) start(i int) error {
	ws.mu.Lock()
	for len(ws.procs) <= i {
		ws.procs = append(ws.procs, nil)
		ws.gens = append(ws.gens, 0)
	}
	gen := ws.gens[i]
	ws.gens[i]++
	ws.mu.Unlock()

	logf, err := os.OpenFile(ws.logPath(i), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	var args []string
	if ws.args != nil {
		args = ws.args(i, gen)
	}
	cmd := exec.Command(ws.bin, args...)
	cmd.Env = append(os.Environ(), ws.env(i)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Die with the tool, whatever happens to it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start worker %d: %w", i, err)
	}
	p := &workerProc{cmd: cmd, done: make(chan struct{})}
	ws.mu.Lock()
	ws.procs[i] = p
	ws.mu.Unlock()
	go func() {
		_ = cmd.Wait()
		logf.Close()
		ws.mu.Lock()
		ws.deadCPU += p.last.CPU
		unexpected := !p.expected && !ws.stopping
		if unexpected {
			ws.exits++
		}
		restart := unexpected && ws.supervise && ws.procs[i] == p
		ws.mu.Unlock()
		close(p.done)
		if restart {
			time.Sleep(200 * time.Millisecond)
			ws.mu.Lock()
			again := !ws.stopping && ws.procs[i] == p
			if again {
				ws.restarts++
			}
			ws.mu.Unlock()
			if again {
				_ = ws.start(i)
			}
		}
	}()
	return nil
}

// dump asks every live worker for a dump of its goroutines (SIGQUIT: the
// Go runtime writes every goroutine's stack to the worker's log and
// exits), so a worker that hangs says where.
func (ws *workerSet) dump(wait time.Duration) {
	ws.mu.Lock()
	live := ws.liveLocked()
	for _, p := range live {
		p.expected = true
	}
	ws.mu.Unlock()
	for _, p := range live {
		_ = p.cmd.Process.Signal(syscall.SIGQUIT)
	}
	for _, p := range live {
		select {
		case <-p.done:
		case <-time.After(wait):
		}
	}
}

// liveLocked returns the processes still running; ws.mu is held.
func (ws *workerSet) liveLocked() []*workerProc {
	var live []*workerProc
	for _, p := range ws.procs {
		if p == nil {
			continue
		}
		select {
		case <-p.done:
			continue
		default:
		}
		live = append(live, p)
	}
	return live
}

// sample reads every live worker's /proc figures.
func (ws *workerSet) sample() {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for _, p := range ws.liveLocked() {
		if st, err := readProc(p.cmd.Process.Pid); err == nil {
			p.last = st
			ws.peakRSS = max(ws.peakRSS, st.PeakRSS)
		}
	}
}

// totals returns the CPU time of all workers so far (live and gone) and
// the highest peak RSS of any.
func (ws *workerSet) totals() (time.Duration, int64) {
	ws.sample()
	ws.mu.Lock()
	defer ws.mu.Unlock()
	cpu := ws.deadCPU
	for _, p := range ws.procs {
		if p == nil {
			continue
		}
		select {
		case <-p.done:
		default:
			cpu += p.last.CPU
		}
	}
	return cpu, ws.peakRSS
}

// kill sends SIGKILL to worker i, waits for it to die and starts it again.
func (ws *workerSet) kill(i int, pause time.Duration) error {
	ws.sample()
	ws.mu.Lock()
	p := ws.procs[i]
	if p != nil {
		p.expected = true
	}
	ws.mu.Unlock()
	if p != nil {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	}
	ws.mu.Lock()
	ws.kills++
	ws.restarts++
	ws.mu.Unlock()
	time.Sleep(pause)
	return ws.start(i)
}

// stop asks every worker to drain (SIGTERM) and kills what is left after grace.
func (ws *workerSet) stop(grace time.Duration) {
	ws.sample()
	ws.mu.Lock()
	ws.stopping = true
	procs := append([]*workerProc(nil), ws.procs...)
	for _, p := range procs {
		if p != nil {
			p.expected = true
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	ws.mu.Unlock()
	deadline := time.After(grace)
	for _, p := range procs {
		if p == nil {
			continue
		}
		select {
		case <-p.done:
		case <-deadline:
			_ = p.cmd.Process.Signal(syscall.SIGKILL)
			<-p.done
		}
	}
}

// running reports how many worker processes are alive.
func (ws *workerSet) running() int {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	n := 0
	for _, p := range ws.procs {
		if p == nil {
			continue
		}
		select {
		case <-p.done:
		default:
			n++
		}
	}
	return n
}

func (ws *workerSet) counts() (kills, restarts, exits int) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return ws.kills, ws.restarts, ws.exits
}
