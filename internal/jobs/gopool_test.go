package jobs

import (
	"sync"
	"testing"
	"time"
)

// TestGoPool checks that the pool runs every function at once (a
// function that waits never holds up the next), that a finished
// goroutine takes the next function instead of a new one starting, and
// that stop lets the kept goroutines go.
func TestGoPool(t *testing.T) {
	p := newGoPool()
	const n = 5
	release := make(chan struct{})
	var started, done sync.WaitGroup
	started.Add(n)
	done.Add(n)
	for range n {
		p.Go(func() {
			started.Done()
			<-release
			done.Done()
		})
	}
	waitOrFail(t, &started, "the functions did not all run at once")
	close(release)
	waitOrFail(t, &done, "the functions did not finish")
	// One after the other, each once the one before has ended: a kept
	// goroutine is there to take nearly every one.
	const more = 20
	for range more {
		ran := make(chan struct{})
		p.Go(func() { close(ran) })
		select {
		case <-ran:
		case <-time.After(10 * time.Second):
			t.Fatal("a function did not run")
		}
	}
	if got := p.started.Load(); got >= n+more {
		t.Errorf("%d goroutines started for %d functions: none was reused", got, n+more)
	}
	p.stop()
	deadline := time.Now().Add(5 * time.Second)
	for p.running.Load() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of the pool's goroutines still there 5 s after stop, want 0", p.running.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitOrFail(t *testing.T, wg *sync.WaitGroup, msg string) {
	t.Helper()
	c := make(chan struct{})
	go func() { wg.Wait(); close(c) }()
	select {
	case <-c:
	case <-time.After(10 * time.Second):
		t.Fatal(msg)
	}
}
