package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"
	zlog "github.com/rs/zerolog/log"
)

// network puts Toxiproxy proxies, run in process, on the links a fault
// run breaks: from the workers to each NATS server, from the workers to
// the API (the simulator) and, in a cluster, every route from one server
// to another (one proxy per direction, so that one server can be cut off
// from the rest). The tool itself talks to NATS and the simulator
// directly: its own view stays clear while the workers' links fail.
type network struct {
	srv *toxiproxy.ApiServer
	// nats[i] leads to NATS server i, api to the simulator, routes[i][j]
	// from server i to server j (nil when i == j).
	nats   []*toxiproxy.Proxy
	api    *toxiproxy.Proxy
	routes [][]*toxiproxy.Proxy

	mu      sync.Mutex
	toxicID int
}

func newNetwork() *network {
	// Toxiproxy's bandwidth toxic logs to zerolog's global logger, at
	// trace level: the tool has no use for it.
	quietToxics.Do(func() { zlog.Logger = zerolog.Nop() })
	return &network{srv: toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())}
}

var quietToxics sync.Once

// proxy starts a proxy on a free loopback port in front of upstream.
func (n *network) proxy(name, upstream string) (*toxiproxy.Proxy, error) {
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("proxy %s: %w", name, err)
	}
	p := toxiproxy.NewProxy(n.srv, name, "127.0.0.1:"+strconv.Itoa(port), upstream)
	if err := n.srv.Collection.Add(p, true); err != nil {
		return nil, fmt.Errorf("proxy %s to %s: %w", name, upstream, err)
	}
	return p, nil
}

// wireNATS puts a proxy in front of each planned server's client port
// and, in a cluster, one on each route, and rewrites the servers'
// configurations to match: each server advertises its proxy to clients
// (so that a worker reconnecting to a discovered server still goes
// through one), dials its peers through the route proxies, and advertises
// no reachable route address (so that no server opens a direct route
// from gossip, past the proxies).
func (n *network) wireNATS(e *natsEnv) error {
	count := len(e.cfgs)
	n.routes = make([][]*toxiproxy.Proxy, count)
	for i := range e.cfgs {
		cfg := &e.cfgs[i]
		p, err := n.proxy("nats-"+strconv.Itoa(i+1), "127.0.0.1:"+strconv.Itoa(cfg.Port))
		if err != nil {
			return err
		}
		n.nats = append(n.nats, p)
		cfg.ClientAdvertise = p.Listen
		n.routes[i] = make([]*toxiproxy.Proxy, count)
	}
	if count < 2 {
		return nil
	}
	dead, err := freePort() // nothing listens there: gossip leads nowhere
	if err != nil {
		return err
	}
	for i := range e.cfgs {
		cfg := &e.cfgs[i]
		cfg.Routes = nil
		cfg.ClusterAdvertise = "127.0.0.1:" + strconv.Itoa(dead)
		for j := range e.cfgs {
			if i == j {
				continue
			}
			p, err := n.proxy(fmt.Sprintf("route-%d-%d", i+1, j+1), "127.0.0.1:"+strconv.Itoa(e.cfgs[j].ClusterPort))
			if err != nil {
				return err
			}
			n.routes[i][j] = p
			cfg.Routes = append(cfg.Routes, "nats-route://"+p.Listen)
		}
	}
	return nil
}

// natsURL is the workers' NATS_URL: every server's proxy.
func (n *network) natsURL() string {
	urls := make([]string, len(n.nats))
	for i, p := range n.nats {
		urls[i] = "nats://" + p.Listen
	}
	return strings.Join(urls, ",")
}

// wireAPI puts a proxy in front of the simulator (root http://host:port)
// and returns the root the workers use instead.
func (n *network) wireAPI(root string) (string, error) {
	hostPort, ok := strings.CutPrefix(root, "http://")
	if !ok {
		return "", fmt.Errorf("simulator root %q: want http://host:port", root)
	}
	p, err := n.proxy("api", hostPort)
	if err != nil {
		return "", err
	}
	n.api = p
	return "http://" + p.Listen, nil
}

// toxic is one Toxiproxy toxic: its type, the direction it acts on
// ("upstream": from the worker, "downstream": to it) and its attributes.
type toxic struct {
	Type       string         `json:"type"`
	Stream     string         `json:"stream"`
	Attributes map[string]any `json:"attributes"`
}

// add puts the toxic on every proxy given, on the connections open now
// and those opened while it lasts, and returns a function that takes it
// off again.
func (n *network) add(t toxic, proxies ...*toxiproxy.Proxy) (remove func(), err error) {
	n.mu.Lock()
	n.toxicID++
	name := t.Type + "-" + strconv.Itoa(n.toxicID)
	n.mu.Unlock()
	body, err := json.Marshal(struct {
		Name string `json:"name"`
		toxic
		Toxicity float32 `json:"toxicity"`
	}{name, t, 1})
	if err != nil {
		return nil, err
	}
	var done []*toxiproxy.Proxy
	remove = func() {
		for _, p := range done {
			_ = p.Toxics.RemoveToxic(context.Background(), name)
		}
	}
	for _, p := range proxies {
		if _, err := p.Toxics.AddToxicJson(bytes.NewReader(body)); err != nil {
			remove()
			return nil, fmt.Errorf("toxic %s on %s: %w", t.Type, p.Name, err)
		}
		done = append(done, p)
	}
	return remove, nil
}

// isolate cuts every route from and to server i: its proxies close their
// connections and refuse new ones until the returned function reopens
// them.
func (n *network) isolate(i int) (heal func() error) {
	var cut []*toxiproxy.Proxy
	for j := range n.routes {
		for _, p := range []*toxiproxy.Proxy{n.routes[i][j], n.routes[j][i]} {
			if p != nil {
				p.Stop()
				cut = append(cut, p)
			}
		}
	}
	return func() error {
		var errs []error
		for _, p := range cut {
			if err := p.Start(); err != nil {
				errs = append(errs, fmt.Errorf("reopen %s: %w", p.Name, err))
			}
		}
		return errors.Join(errs...)
	}
}

// close stops every proxy and closes their connections.
func (n *network) close() {
	_ = n.srv.Collection.Clear()
}
