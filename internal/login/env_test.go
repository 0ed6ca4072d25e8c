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
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/events"
	"github.com/skattekonto-events/skattekonto-events/internal/jobs"
	"github.com/skattekonto-events/skattekonto-events/internal/natstest"
	"github.com/skattekonto-events/skattekonto-events/internal/sim"
	"github.com/skattekonto-events/skattekonto-events/internal/skv"
)

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// tokenRecorder is a transport that remembers every token and code the
// token endpoint hands out or is sent, so tests can look for them in
// logs, pages and events.
type tokenRecorder struct {
	mu      sync.Mutex
	secrets []string
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

func (r *tokenRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		b, _ := io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(b))
		if err := req.ParseForm(); err == nil {
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
	return resp, nil
}

type envOptions struct {
	userTokenTTL time.Duration
	maxRefreshes int
	tokenKey     []byte
	cadence      time.Duration
	noWorker     bool
}

type testEnv struct {
	t       *testing.T
	sim     *sim.Sim
	nc      *nats.Conn
	js      jetstream.JetStream
	login   *Login
	pageURL string // http://127.0.0.1:port/login/
	logs    *syncBuffer
	tokens  *tokenRecorder
	ended   chan Ended
}

func newTestEnv(t *testing.T, o envOptions) *testEnv {
	t.Helper()
	if o.userTokenTTL == 0 {
		o.userTokenTTL = time.Hour
	}
	if o.cadence == 0 {
		o.cadence = time.Hour
	}
	e := &testEnv{t: t, logs: &syncBuffer{}, tokens: &tokenRecorder{}, ended: make(chan Ended, 8)}
	log := zerolog.New(e.logs).Level(zerolog.DebugLevel).With().Timestamp().Logger()

	e.sim = sim.New(sim.Config{UserTokenTTL: o.userTokenTTL, UserMaxRefreshes: o.maxRefreshes})
	e.sim.SeedDemo()
	simSrv := httptest.NewServer(e.sim.Handler())
	t.Cleanup(simSrv.Close)
	t.Cleanup(e.sim.Close)

	ns := natstest.RunTest(t)
	e.nc, e.js = natstest.Connect(t, ns)

	ctx, cancel := context.WithCancel(context.Background())
	api := skv.Config{
		BaseURL: e.sim.BaseURL(simSrv.URL), TokenURL: e.sim.TokenURL(simSrv.URL),
		ClientID: sim.DefaultClientID, ClientSecret: sim.DefaultClientSecret,
		Timeout: 10 * time.Second, MaxAttempts: 2, InitialInterval: 10 * time.Millisecond, MaxInterval: 50 * time.Millisecond,
	}
	orgAPI, err := skv.New(api)
	if err != nil {
		t.Fatal(err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	root := "http://" + ln.Addr().String()
	e.pageURL = root + PagePath
	report := ReportAccessProblem(e.js, log)
	e.login, err = New(ctx, e.nc, e.js, Config{
		ClientID: sim.DefaultClientID, ClientSecret: sim.DefaultClientSecret,
		AuthorizeURL: e.sim.AuthorizeURL(simSrv.URL), TokenURL: e.sim.PerTokenURL(simSrv.URL),
		RedirectURL: root + CallbackPath,
		API:         api,
		Cadence:     o.cadence,
		PageRefresh: time.Second,
		TokenKey:    o.tokenKey,
		HTTPClient:  &http.Client{Transport: e.tokens, Timeout: 10 * time.Second},
		OnEnd: func(ctx context.Context, end Ended) {
			report(ctx, end)
			e.ended <- end
		},
		Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(PagePath, e.login.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()

	var wg sync.WaitGroup
	if !o.noWorker {
		store, err := events.NewStore(ctx, e.js, events.StoreConfig{})
		if err != nil {
			t.Fatal(err)
		}
		w, err := jobs.New(ctx, e.js, orgAPI, store, jobs.Config{Sessions: e.login, Logger: log, DrainTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("worker: %v", err)
			}
		}()
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		e.login.Close()
		_ = srv.Close()
	})
	return e
}

// noSecrets fails the test when a token, code or verifier handed out
// during the test appears in s.
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
}

// streamText returns every message of the events stream (the fetch
// stream is a work queue: answered requests are gone).
func (e *testEnv) streamText(ctx context.Context) string {
	e.t.Helper()
	var b strings.Builder
	for _, stream := range []string{contract.EventsStream} {
		c, err := e.js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
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
				b.Write(m.Data())
				b.WriteByte('\n')
			}
			if n == 0 {
				break
			}
		}
	}
	return b.String()
}
