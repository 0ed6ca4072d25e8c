package loadtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/natsserver"
)

// natsEnv is the NATS side of a run: embedded servers the tool can stop
// and start again on the same ports and store directories, or an
// external server it only connects to.
type natsEnv struct {
	mu      sync.Mutex
	cfgs    []natsserver.Config
	servers []*server.Server // nil entries are stopped
	urls    []string
}

// URL is the comma-separated list of client URLs.
func (e *natsEnv) URL() string { return strings.Join(e.urls, ",") }

func urlHost(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	if u.Hostname() == "" {
		return "", fmt.Errorf("%q: %w", raw, errNoHost)
	}
	return u.Hostname(), nil
}

func externalNATS(raw string) (*natsEnv, error) {
	e := &natsEnv{}
	for _, u := range strings.Split(raw, ",") {
		u = strings.TrimSpace(u)
		if err := checkLoopbackURL(u); err != nil {
			return nil, fmt.Errorf("-nats-url: %w", err)
		}
		e.urls = append(e.urls, u)
	}
	return e, nil
}

// handedOut are the loopback ports this process has handed out: a port
// picked for a server that is not listening yet (or is stopped for a
// while) must not be taken by a proxy or the simulator listening on an
// OS-chosen port, and a port is never given twice.
var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// listenLoopback listens on a loopback port that this process has not
// handed out before, and marks it handed out.
func listenLoopback() (net.Listener, error) {
	var tried []net.Listener
	defer func() {
		for _, ln := range tried {
			ln.Close()
		}
	}()
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		handedOut.Lock()
		fresh := !handedOut.ports[port]
		handedOut.ports[port] = true
		handedOut.Unlock()
		if fresh {
			return ln, nil
		}
		tried = append(tried, ln) // held until a fresh one is found
	}
	return nil, errors.New("no loopback port left that was not handed out before")
}

// freePort returns a loopback TCP port that was free a moment ago and
// that no other caller in this process gets.
func freePort() (int, error) {
	ln, err := listenLoopback()
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// planNATS plans n embedded servers under dir: one standalone server, or
// (n > 1) a JetStream cluster of n servers on loopback with fixed ports.
// It picks their ports and store directories without starting them, so
// that the caller can adjust their configurations (routes through
// proxies, a storage limit) before startAll.
func planNATS(dir string, n int) (*natsEnv, error) {
	e := &natsEnv{}
	clientPorts := make([]int, n)
	clusterPorts := make([]int, n)
	for i := range n {
		var err error
		if clientPorts[i], err = freePort(); err != nil {
			return nil, err
		}
		if n > 1 {
			if clusterPorts[i], err = freePort(); err != nil {
				return nil, err
			}
		}
	}
	for i := range n {
		cfg := natsserver.Config{
			StoreDir:   filepath.Join(dir, "nats-"+strconv.Itoa(i+1)),
			Host:       "127.0.0.1",
			Port:       clientPorts[i],
			ServerName: "loadtest-" + strconv.Itoa(i+1),
		}
		if n > 1 {
			cfg.ClusterName = "loadtest"
			cfg.ClusterPort = clusterPorts[i]
			for j := range n {
				if j != i {
					cfg.Routes = append(cfg.Routes, "nats-route://127.0.0.1:"+strconv.Itoa(clusterPorts[j]))
				}
			}
		}
		if err := os.MkdirAll(cfg.StoreDir, 0o755); err != nil {
			return nil, err
		}
		e.cfgs = append(e.cfgs, cfg)
		e.urls = append(e.urls, "nats://127.0.0.1:"+strconv.Itoa(clientPorts[i]))
	}
	e.servers = make([]*server.Server, n)
	return e, nil
}

// startAll starts every planned server; a clustered server waits for its
// peers, so they start together.
func (e *natsEnv) startAll() error {
	n := len(e.cfgs)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = e.start(i) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		e.shutdown()
		return err
	}
	return nil
}

func (e *natsEnv) start(i int) error {
	e.mu.Lock()
	cfg := e.cfgs[i]
	e.mu.Unlock()
	s, err := natsserver.Start(cfg)
	if err != nil {
		return fmt.Errorf("start NATS %s: %w", cfg.ServerName, err)
	}
	e.mu.Lock()
	e.servers[i] = s
	e.mu.Unlock()
	return nil
}

// stop shuts server i down and waits until it is gone.
func (e *natsEnv) stop(i int) {
	e.mu.Lock()
	s := e.servers[i]
	e.servers[i] = nil
	e.mu.Unlock()
	if s != nil {
		s.Shutdown()
		s.WaitForShutdown()
	}
}

// index returns the position of the server with the given name, -1 if none.
func (e *natsEnv) index(name string) int {
	for i, c := range e.cfgs {
		if c.ServerName == name {
			return i
		}
	}
	return -1
}

func (e *natsEnv) shutdown() {
	for i := range e.servers {
		e.stop(i)
	}
}

// connect connects the tool itself, reconnecting for ever.
func connect(url string) (*nats.Conn, jetstream.JetStream, error) {
	// The servers a fault run starts advertise the workers' proxies: the
	// tool keeps to the URLs it was given.
	nc, err := nats.Connect(url, nats.Name("skattekonto-loadtest"), nats.MaxReconnects(-1),
		nats.ReconnectWait(100*time.Millisecond), nats.RetryOnFailedConnect(false), nats.IgnoreDiscoveredServers())
	if err != nil {
		return nil, nil, fmt.Errorf("connect to NATS: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

// waitJetStream waits until JetStream answers (a cluster has elected its
// meta leader).
func waitJetStream(ctx context.Context, js jetstream.JetStream) error {
	for {
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := js.AccountInfo(actx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("JetStream not ready: %w", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// createStreams creates the two streams as the worker would, so that
// requests can be queued before any worker runs.
func createStreams(ctx context.Context, js jetstream.JetStream, replicas int) error {
	for {
		_, err := js.CreateOrUpdateStream(ctx, contract.FetchStreamConfig(replicas))
		if err == nil {
			_, err = js.CreateOrUpdateStream(ctx, contract.EventsStreamConfig(contract.EventsStreamSettings{Replicas: replicas}))
		}
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("create streams: %w", err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// waitReplicated waits until the cluster can create a stream with the
// given replicas (a probe stream, deleted again).
func waitReplicated(ctx context.Context, js jetstream.JetStream, replicas int) error {
	cfg := jetstream.StreamConfig{Name: "LOADTEST_PROBE", Subjects: []string{"loadtest.probe"}, Replicas: replicas, Storage: jetstream.MemoryStorage}
	for {
		_, err := js.CreateStream(ctx, cfg)
		if err == nil || errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return js.DeleteStream(ctx, cfg.Name)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster cannot place R%d streams: %w", replicas, err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// server returns server i, nil while it is stopped.
func (e *natsEnv) server(i int) *server.Server {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.servers[i]
}

// setMaxStore sets server i's storage limit from its next start on.
func (e *natsEnv) setMaxStore(i int, limit int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cfgs[i].MaxStore = limit
}

// describe tells, server by server, what a person debugging a cluster
// that does not serve wants to know: routes, JetStream health and the
// meta leader each sees.
func (e *natsEnv) describe() string {
	var parts []string
	for i := range e.cfgs {
		s := e.server(i)
		if s == nil {
			parts = append(parts, fmt.Sprintf("nats-%d: stopped", i+1))
			continue
		}
		d := fmt.Sprintf("nats-%d: %d routes", i+1, s.NumRoutes())
		if h := s.Healthz(nil); h.Error != "" {
			d += ", unhealthy: " + h.Error
		}
		if info, err := s.Jsz(nil); err == nil && info.Meta != nil {
			d += ", meta leader " + strconv.Quote(info.Meta.Leader)
		}
		parts = append(parts, d)
	}
	return strings.Join(parts, "; ")
}
