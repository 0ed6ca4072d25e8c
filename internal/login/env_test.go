package login

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/events"
	"github.com/skattekonto-events/skattekonto-events/internal/jobs"
	"github.com/skattekonto-events/skattekonto-events/internal/natstest"
	"github.com/skattekonto-events/skattekonto-events/internal/sim"
	"github.com/skattekonto-events/skattekonto-events/internal/skv"
	"github.com/skattekonto-events/skattekonto-events/internal/testlog"
)

// tokenRecorder is a transport that remembers every token and code the
// token endpoint hands out or is sent, so tests can look for them in
// logs, pages and events; and counts the refreshes and their refusals.
type tokenRecorder struct {
	mu       sync.Mutex
	secrets  []string
	refresh  int // refresh_token grants sent
	refused  int // of which refused
	exchange int
	// afterRefresh, when set, runs when a refresh has been answered,
	// before the answer goes back.
	afterRefresh func(status int)
}

func (r *tokenRecorder) add(s ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, v := range s {
		if len(v) >= 16 {
			r.secrets = append(r.secrets, v)
		}
	}
}

func (r *tokenRecorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.secrets...)
}

func (r *tokenRecorder) counts() (exchange, refresh, refused int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.exchange, r.refresh, r.refused
}

func (r *tokenRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	grant := ""
	if req.Body != nil {
		b, _ := io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(b))
		if err := req.ParseForm(); err == nil {
			grant = req.PostForm.Get("grant_type")
			r.add(req.PostForm.Get("code"), req.PostForm.Get("code_verifier"), req.PostForm.Get("refresh_token"))
		}
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	var t struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if json.Unmarshal(b, &t) == nil {
		r.add(t.AccessToken, t.RefreshToken)
	}
	r.mu.Lock()
	var hook func(int)
	switch grant {
	case "refresh_token":
		r.refresh++
		if resp.StatusCode != http.StatusOK {
			r.refused++
		}
		hook = r.afterRefresh
	case "authorization_code":
		r.exchange++
	}
	r.mu.Unlock()
	if hook != nil {
		hook(resp.StatusCode)
	}
	return resp, nil
}

type envOptions struct {
	userTokenTTL time.Duration
	maxRefreshes int
	tokenKey     []byte
	cadence      time.Duration
	leaseTTL     time.Duration
	noWorker     bool
	// replicas is how many replicas start (default 1).
	replicas int
	// config, when set, changes each replica's Config.
	config func(*Config)
}

// testEnv is a simulator, a NATS server and replicas of the worker (a
// login Manager, its page and a jobs.Worker each) behind one front
// address, as behind a load balancer: the browser talks to the front,
// which sends each request to the replica e.route names.
type testEnv struct {
	t        *testing.T
	o        envOptions
	sim      *sim.Sim
	simURL   string
	ns       *server.Server
	nc       *nats.Conn
	js       jetstream.JetStream
	api      skv.Config
	logs     *testlog.Buffer
	tokens   *tokenRecorder
	ended    chan Ended
	front    string // http://127.0.0.1:port
	pageURL  string // front + /login/
	route    atomic.Int32
	replicas []*replica
	// login is the first replica's Manager.
	login *Manager
}

// replica is one worker process: its own NATS connection, Manager, page
// server and jobs.Worker.
type replica struct {
	name   string
	nc     *nats.Conn
	js     jetstream.JetStream
	mgr    *Manager
	url    string
	srv    *http.Server
	stop   context.CancelFunc // the worker
	done   chan struct{}
	served atomic.Int64 // user requests this replica's worker served
	down   atomic.Bool
}

func newTestEnv(t *testing.T, o envOptions) *testEnv {
	t.Helper()
	if o.userTokenTTL == 0 {
		o.userTokenTTL = time.Hour
	}
	if o.cadence == 0 {
		o.cadence = time.Hour
	}
	if o.replicas == 0 {
		o.replicas = 1
	}
	e := &testEnv{t: t, o: o, logs: &testlog.Buffer{}, tokens: &tokenRecorder{}, ended: make(chan Ended, 8)}

	e.sim = sim.New(sim.Config{UserTokenTTL: o.userTokenTTL, UserMaxRefreshes: o.maxRefreshes})
	e.sim.SeedDemo()
	simSrv := httptest.NewServer(e.sim.Handler())
	t.Cleanup(simSrv.Close)
	t.Cleanup(e.sim.Close)
	e.simURL = simSrv.URL

	e.ns = natstest.RunTest(t)
	e.nc, e.js = natstest.Connect(t, e.ns)
	e.api = skv.Config{
		BaseURL: e.sim.BaseURL(simSrv.URL), TokenURL: e.sim.TokenURL(simSrv.URL),
		ClientID: sim.DefaultClientID, ClientSecret: sim.DefaultClientSecret,
		Timeout: 10 * time.Second, MaxAttempts: 2, InitialInterval: 10 * time.Millisecond, MaxInterval: 50 * time.Millisecond,
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.front = "http://" + ln.Addr().String()
	e.pageURL = e.front + PagePath
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		u, _ := url.Parse(e.replicas[e.route.Load()].url)
		pr.SetURL(u)
		pr.Out.Host = pr.In.Host // as a load balancer keeps the Host
	}}
	front := &http.Server{Handler: proxy, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = front.Serve(ln) }()
	t.Cleanup(func() { _ = front.Close() })

	for i := 0; i < o.replicas; i++ {
		e.addReplica()
	}
	e.login = e.replicas[0].mgr
	return e
}

// addReplica starts one more replica.
func (e *testEnv) addReplica() *replica {
	t := e.t
	t.Helper()
	r := &replica{name: string(rune('A' + len(e.replicas)))}
	r.nc, r.js = natstest.Connect(t, e.ns)
	log := zerolog.New(e.logs).Level(zerolog.DebugLevel).With().Timestamp().Str("replica", r.name).Logger()
	cfg := Config{
		ClientID: sim.DefaultClientID, ClientSecret: sim.DefaultClientSecret,
		AuthorizeURL: e.sim.AuthorizeURL(e.simURL), TokenURL: e.sim.PerTokenURL(e.simURL),
		RedirectURL: e.front + CallbackPath,
		API:         e.api,
		Cadence:     e.o.cadence,
		LeaseTTL:    e.o.leaseTTL,
		PageRefresh: time.Second,
		TokenKey:    e.o.tokenKey,
		Instance:    "replica-" + r.name,
		HTTPClient:  &http.Client{Transport: e.tokens, Timeout: 10 * time.Second},
		Logger:      log,
	}
	report := ReportAccessProblem(r.js, log)
	cfg.OnEnd = func(ctx context.Context, end Ended) {
		report(ctx, end)
		e.ended <- end
	}
	if e.o.config != nil {
		e.o.config(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var err error
	r.mgr, err = New(ctx, r.nc, r.js, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.url = "http://" + ln.Addr().String()
	r.srv = NewServer("", r.mgr.Handler())
	go func() { _ = r.srv.Serve(ln) }()

	r.done = make(chan struct{})
	r.stop = cancel
	if e.o.noWorker {
		close(r.done)
	} else {
		store, err := events.NewStore(ctx, r.js, events.StoreConfig{})
		if err != nil {
			t.Fatal(err)
		}
		orgAPI, err := skv.New(e.api)
		if err != nil {
			t.Fatal(err)
		}
		w, err := jobs.New(ctx, r.js, orgAPI, store, jobs.Config{Sessions: countingSessions{r.mgr, &r.served}, Logger: log, DrainTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			defer close(r.done)
			if err := w.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("worker %s: %v", r.name, err)
			}
		}()
	}
	e.replicas = append(e.replicas, r)
	t.Cleanup(r.shutdown)
	return r
}

// shutdown stops a replica as SIGTERM does: the worker drains, the
// Manager hands its leases back.
func (r *replica) shutdown() {
	if r.down.Swap(true) {
		return
	}
	r.stop()
	<-r.done
	r.mgr.Close()
	_ = r.srv.Close()
}

// kill stops a replica as a crash does: its NATS connection is gone
// before anything is handed back, so its leases must expire.
func (r *replica) kill() {
	if r.down.Swap(true) {
		return
	}
	r.nc.Close()
	r.stop()
	<-r.done
	r.mgr.Close()
	_ = r.srv.Close()
}

// countingSessions counts the user requests a replica's worker served.
type countingSessions struct {
	*Manager
	n *atomic.Int64
}

func (c countingSessions) SessionAPI(ref string) (jobs.API, error) {
	api, err := c.Manager.SessionAPI(ref)
	if err == nil {
		c.n.Add(1)
	}
	return api, err
}

// noSecrets fails the test when a token, code or verifier handed out
// during the test, or a login's secret, appears in s.
func (e *testEnv) noSecrets(where, s string) {
	e.t.Helper()
	secrets := e.tokens.all()
	if len(secrets) == 0 {
		e.t.Fatalf("no tokens were recorded: the check of %s would prove nothing", where)
	}
	for _, sec := range secrets {
		if strings.Contains(s, sec) {
			e.t.Errorf("%s contains a token or code (%d characters)", where, len(sec))
		}
	}
	for _, r := range e.replicas {
		for _, l := range r.mgr.known() {
			rec, _ := l.snapshot()
			for _, enc := range encodings(rec.Secret) {
				if strings.Contains(s, enc) {
					e.t.Errorf("%s contains a login's secret", where)
				}
			}
		}
	}
}

// streamText returns every message of the events stream (the fetch
// stream is a work queue: answered requests are gone), headers included.
func (e *testEnv) streamText(ctx context.Context) string {
	e.t.Helper()
	var b strings.Builder
	c, err := e.js.OrderedConsumer(ctx, contract.EventsStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		e.t.Fatal(err)
	}
	for {
		batch, err := c.FetchNoWait(500)
		if err != nil {
			e.t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			for k, vs := range m.Headers() {
				b.WriteString(k + ": " + strings.Join(vs, ",") + "\n")
			}
			b.Write(m.Data())
			b.WriteByte('\n')
		}
		if n == 0 {
			break
		}
	}
	return b.String()
}

// eventually polls ok until it holds or d has passed.
func eventually(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
