package jobs

import (
	"sync/atomic"
	"time"
)

// goPool runs each function at once on a goroutine it keeps for the next
// one. A fetch grows its goroutine's stack to what the HTTP client, the
// JSON decoders and the commit need; on a new goroutine per request that
// stack was grown, by copying, on every request again (about 5 % of the
// worker's CPU in steady rounds). A goroutine left idle for goPoolIdle
// exits, so a burst's goroutines do not stay.
type goPool struct {
	work    chan func()
	started atomic.Int64 // goroutines started, for tests
	running atomic.Int64 // goroutines not yet exited, for tests
}

// goPoolIdle is how long a kept goroutine waits for work before it exits.
const goPoolIdle = 30 * time.Second

func newGoPool() *goPool { return &goPool{work: make(chan func())} }

// Go runs f at once: on an idle goroutine of the pool, or a new one.
func (p *goPool) Go(f func()) {
	select {
	case p.work <- f:
	default:
		p.started.Add(1)
		p.running.Add(1)
		go p.loop(f)
	}
}

// stop lets the idle goroutines exit; Go must not be called after it.
func (p *goPool) stop() { close(p.work) }

func (p *goPool) loop(f func()) {
	defer p.running.Add(-1)
	idle := time.NewTimer(goPoolIdle)
	defer idle.Stop()
	for {
		f()
		idle.Reset(goPoolIdle)
		var ok bool
		select {
		case f, ok = <-p.work:
			if !ok {
				return
			}
		case <-idle.C:
			return
		}
	}
}
