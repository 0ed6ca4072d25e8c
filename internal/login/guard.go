package login

import (
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// guard keeps the page for those allowed to use it: clients from the
// allowed networks (and, behind a forward-auth proxy, named by it), a
// rate of login starts per client, and a cap on the logins started and
// not yet back. Its memory is bounded and none of its steps walks all
// clients or logins.
type guard struct {
	allow      []netip.Prefix
	userHeader string
	maxPending int
	perMinute  int
	maxClients int

	// refusedLog is when (Unix seconds) a refused client was last logged:
	// at most one line a minute, however many are refused.
	refusedLog atomic.Int64

	mu sync.Mutex
	// pending are the times logins were started, oldest first: those
	// within pendingTTL count against maxPending. A ring of maxPending.
	pending    []time.Time
	head, size int
	// Starts per client in this minute and the one before.
	window     time.Time
	cur, prev  map[string]int
	windowSize time.Duration
}

func newGuard(cfg Config) *guard {
	return &guard{
		allow: cfg.AllowNetworks, userHeader: cfg.ForwardAuthHeader,
		maxPending: cfg.MaxPending, perMinute: cfg.StartsPerMinute, maxClients: cfg.MaxClients,
		pending: make([]time.Time, cfg.MaxPending),
		cur:     map[string]int{}, prev: map[string]int{}, windowSize: time.Minute,
	}
}

// admit tells whether the request may see the page: its connection comes
// from an allowed network and, with a forward-auth header configured,
// it names a user. It returns the user ("" without forward auth).
func (g *guard) admit(r *http.Request) (user string, ok bool) {
	ip, ok := peer(r)
	if !ok || !g.allowed(ip) {
		return "", false
	}
	if g.userHeader == "" {
		return "", true
	}
	user = r.Header.Get(g.userHeader)
	return user, user != "" && len(user) <= 256
}

// logRefusal reports whether a refusal at now should be logged.
func (g *guard) logRefusal(now time.Time) bool {
	last := g.refusedLog.Load()
	return now.Unix()-last >= 60 && g.refusedLog.CompareAndSwap(last, now.Unix())
}

func (g *guard) allowed(ip netip.Addr) bool {
	for _, p := range g.allow {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// peer is the address the connection comes from (never a header a
// client could set).
func peer(r *http.Request) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return ip.Unmap(), true
}

// client names who starts a login, for the rate limit: the forwarded
// user, else the address (an IPv6 client by its /64, which it holds
// whole).
func (g *guard) client(r *http.Request, user string) string {
	if user != "" {
		return "user:" + user
	}
	ip, _ := peer(r)
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// Why a start is refused.
const (
	startOK = iota
	startRateLimited
	startBusy // too many clients or too many logins under way
)

// start counts a login start of client at now: at most perMinute per
// client (over a sliding minute, estimated from this minute's count and
// the last one's), at most maxClients clients a minute, at most
// maxPending logins started within pendingTTL.
func (g *guard) start(client string, now time.Time) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch elapsed := now.Sub(g.window); {
	case elapsed >= 2*g.windowSize || elapsed < 0:
		g.window, g.prev, g.cur = now.Truncate(g.windowSize), map[string]int{}, map[string]int{}
	case elapsed >= g.windowSize:
		g.window, g.prev, g.cur = g.window.Add(g.windowSize), g.cur, map[string]int{}
	}
	frac := 1 - float64(now.Sub(g.window))/float64(g.windowSize)
	n, seen := g.cur[client]
	if float64(n)+float64(g.prev[client])*frac >= float64(g.perMinute) {
		return startRateLimited
	}
	if !seen && len(g.cur) >= g.maxClients {
		return startBusy
	}
	// Logins started longer than pendingTTL ago are back or abandoned.
	for g.size > 0 && now.Sub(g.pending[g.head]) > pendingTTL {
		g.head = (g.head + 1) % len(g.pending)
		g.size--
	}
	if g.size >= len(g.pending) {
		return startBusy
	}
	g.pending[(g.head+g.size)%len(g.pending)] = now
	g.size++
	g.cur[client] = n + 1
	return startOK
}
