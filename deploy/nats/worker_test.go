package natsconf

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.yaml.in/yaml/v3"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/sie"
	"github.com/skattekonto-events/skattekonto-events/internal/sim"
	"github.com/skattekonto-events/skattekonto-events/internal/watch"
)

// buildWorker builds cmd/worker into a temporary directory.
func buildWorker(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build the worker: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "worker")
	cmd := exec.Command(goTool, "build", "-o", bin, "./cmd/worker")
	cmd.Dir = filepath.Join("..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/worker: %v\n%s", err, out)
	}
	return bin
}

// kvFromNACK reads the login bucket from the NACK manifest the way NACK
// turns it into a bucket configuration, for a one-node test server.
func kvFromNACK(t *testing.T) jetstream.KeyValueConfig {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "k8s", "base", "nack-kv.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Spec struct {
			Bucket         string `yaml:"bucket"`
			Description    string `yaml:"description"`
			History        uint8  `yaml:"history"`
			TTL            string `yaml:"ttl"`
			LimitMarkerTTL int64  `yaml:"limitMarkerTtl"`
			Storage        string `yaml:"storage"`
			Replicas       int    `yaml:"replicas"`
		} `yaml:"spec"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	s := doc.Spec
	ttl, err := time.ParseDuration(s.TTL)
	if err != nil {
		t.Fatalf("nack-kv.yaml ttl: %v", err)
	}
	if s.Storage != "file" {
		t.Fatalf("nack-kv.yaml storage %q, want file", s.Storage)
	}
	return jetstream.KeyValueConfig{
		Bucket: s.Bucket, Description: s.Description, History: s.History, TTL: ttl,
		LimitMarkerTTL: time.Duration(s.LimitMarkerTTL), Storage: jetstream.FileStorage, Replicas: 1,
	}
}

// auditFromNACK reads the audit bucket from the NACK manifest the way NACK
// turns it into a bucket configuration, for a one-node test server.
func auditFromNACK(t *testing.T) jetstream.ObjectStoreConfig {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "k8s", "base", "nack-audit.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Kind string `yaml:"kind"`
		Spec struct {
			Bucket      string `yaml:"bucket"`
			Description string `yaml:"description"`
			TTL         string `yaml:"ttl"`
			MaxBytes    int64  `yaml:"maxBytes"`
			Storage     string `yaml:"storage"`
			Replicas    int    `yaml:"replicas"`
			Compression bool   `yaml:"compression"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Kind != "ObjectStore" {
		t.Fatalf("nack-audit.yaml kind %q, want ObjectStore", doc.Kind)
	}
	s := doc.Spec
	var ttl time.Duration
	if s.TTL != "" {
		if ttl, err = time.ParseDuration(s.TTL); err != nil {
			t.Fatalf("nack-audit.yaml ttl: %v", err)
		}
	}
	if s.Storage != "file" {
		t.Fatalf("nack-audit.yaml storage %q, want file", s.Storage)
	}
	return jetstream.ObjectStoreConfig{
		Bucket: s.Bucket, Description: s.Description, TTL: ttl, MaxBytes: s.MaxBytes,
		Storage: jetstream.FileStorage, Replicas: 1, Compression: s.Compression,
	}
}

// freeAddr returns a loopback address with a port free a moment ago: the
// login's redirect URL must name its listener's port before it listens.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// answerEvent is what the test reads of an event.
type answerEvent struct {
	Type      string          `json:"type"`
	Subject   string          `json:"subject"`
	RequestID string          `json:"requestid"`
	Auth      string          `json:"auth"`
	Data      json.RawMessage `json:"data"`
}

// logIn goes through the login as a browser would: the page's start form
// for the account, the simulator's login form (its first test person, who
// may see that account), the callback.
func logIn(ctx context.Context, t *testing.T, page, acct string) {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Jar: jar, Timeout: time.Minute}
	post := func(target string, form url.Values) *http.Response {
		t.Helper()
		r, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := hc.Do(r)
		if err != nil {
			t.Fatalf("POST %s: %v", target, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST %s: %s\n%s", target, resp.Status, body)
		}
		return resp
	}
	// The start form leads to the simulator's authorize page; its form
	// repeats the authorize request's parameters.
	authorize := post(page+"start", url.Values{"accounts": {acct}}).Request.URL
	demo := sim.New(sim.Config{})
	defer demo.Close()
	demo.SeedDemo()
	index := slices.IndexFunc(demo.Accounts(), func(a sim.Account) bool { return a.Omfragad == acct })
	form := authorize.Query()
	form.Set("person", "0")
	form.Set("account", strconv.Itoa(index))
	form.Set("action", "login")
	target := *authorize
	target.RawQuery = ""
	// The simulator sends the browser back to the callback, which answers
	// with the page.
	if back := post(target.String(), form).Request.URL; back.Path != "/login/callback" && back.Path != "/login/" {
		t.Fatalf("the login ended on %s", back.Path)
	}
}

// lockedBuffer collects a process's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestWorkerRunsWithItsRole runs the real worker with nothing but the
// worker role's key, against the built-in simulator, with streams and
// consumers made by the operator as NACK makes them (STREAMS_AUTO_CREATE
// false), the login's bucket on and the audit bucket made by NACK: a
// requester keeps the watch list and asks for a fetch, a reader reads its
// FetchCompleted, the worker keeps the answers in the audit bucket, and
// the server reports no permission violation at all.
func TestWorkerRunsWithItsRole(t *testing.T) {
	bin := buildWorker(t)
	ts := startServer(t)
	op := ts.connect(t, operator)
	setUp(t, op)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()

	// The bucket as NACK creates it, with a record the worker cannot open
	// (it reads the bucket at start).
	kvCfg := kvFromNACK(t)
	kv, err := op.js.CreateKeyValue(ctx, kvCfg)
	if err != nil {
		t.Fatalf("operator creates the login bucket: %v", err)
	}
	if _, err := kv.Put(ctx, "login.unreadable", []byte("not sealed")); err != nil {
		t.Fatal(err)
	}
	before, err := op.js.Stream(ctx, "KV_"+contract.LoginBucket)
	if err != nil {
		t.Fatal(err)
	}
	// The audit bucket as NACK creates it: the worker only opens it.
	if _, err := op.js.CreateObjectStore(ctx, auditFromNACK(t)); err != nil {
		t.Fatalf("operator creates the audit bucket: %v", err)
	}
	auditBefore, err := op.js.Stream(ctx, "OBJ_"+contract.AuditBucket)
	if err != nil {
		t.Fatal(err)
	}

	loginAddr := freeAddr(t)
	loginURL := "http://" + loginAddr + "/login/"
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	var out lockedBuffer
	cmd := exec.Command(bin)
	cmd.Env = []string{
		"NATS_URL=" + ts.srv.ClientURL(),
		"NATS_NKEY=" + ts.seedFile(t, worker),
		"STREAMS_AUTO_CREATE=false",
		"HTTP_ADDR=127.0.0.1:0",
		"SIM_ADDR=127.0.0.1:0",
		"SKV_RATE_LIMIT=20", // the shared limiter's subjects
		"LOG_FORMAT=json",
		"LOGIN_ENABLED=true",
		"LOGIN_TOKEN_KEY=" + base64.StdEncoding.EncodeToString(key),
		"LOGIN_ADDR=" + loginAddr,
		"LOGIN_REDIRECT_URL=" + loginURL + "callback",
		"DATA_DIR=" + t.TempDir(),
	}
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if t.Failed() {
			t.Logf("worker output:\n%s", out.String())
		}
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	req := ts.connect(t, requester)
	ask := func(verb string, body any) watch.Reply {
		t.Helper()
		b, _ := json.Marshal(body)
		for {
			m, err := req.nc.RequestWithContext(ctx, contract.WatchPrefix+verb, b)
			if errors.Is(err, nats.ErrNoResponders) {
				// The worker answers once it runs.
				select {
				case err := <-exited:
					t.Fatalf("the worker exited: %v", err)
				case <-ctx.Done():
					t.Fatalf("no answer to %s: %v", verb, ctx.Err())
				case <-time.After(100 * time.Millisecond):
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s: %v", verb, err)
			}
			var r watch.Reply
			if err := json.Unmarshal(m.Data, &r); err != nil {
				t.Fatalf("%s answer %q: %v", verb, m.Data, err)
			}
			if r.Error != "" {
				t.Fatalf("%s answered error %q", verb, r.Error)
			}
			return r
		}
	}
	ask("list", nil)
	if r := ask("register", watch.Request{Omfragad: acct}); r.Registration == nil {
		t.Fatalf("register answered %+v", r)
	}
	if r := ask("list", nil); len(r.Registrations) != 1 {
		t.Fatalf("list after register: %+v", r.Registrations)
	}
	if r := ask("unregister", watch.Request{Omfragad: acct}); r.Removed == nil || !*r.Removed {
		t.Fatalf("unregister answered %+v", r)
	}

	rd := ts.connect(t, reader)
	cons, err := rd.js.Consumer(ctx, contract.EventsStream, readerConsumer)
	if err != nil {
		t.Fatal(err)
	}
	// answer reads events until the FetchCompleted or FetchFailed that
	// match says is the one awaited, and fails unless it completed.
	answer := func(match func(answerEvent) bool) {
		t.Helper()
		for {
			m, err := cons.Next(jetstream.FetchContext(ctx))
			if err != nil {
				t.Fatalf("reader waits for the answer: %v", err)
			}
			var ev answerEvent
			if err := json.Unmarshal(m.Data(), &ev); err != nil {
				t.Fatalf("event on %s: %v", m.Subject(), err)
			}
			if err := m.Ack(); err != nil {
				t.Fatal(err)
			}
			if (ev.Type == contract.EventType("FetchCompleted") || ev.Type == contract.EventType("FetchFailed")) && match(ev) {
				if ev.Type != contract.EventType("FetchCompleted") {
					t.Fatalf("answer %s: %s", ev.Type, ev.Data)
				}
				return
			}
		}
	}

	const requestID = "roles-worker"
	if _, err := req.js.Publish(ctx, fetchSubject, []byte(`{"requestId":"`+requestID+`"}`)); err != nil {
		t.Fatalf("requester publishes a fetch request: %v", err)
	}
	answer(func(ev answerEvent) bool { return ev.RequestID == requestID })

	// An SIE export of the account's transactions, asked for by the reader.
	b, _ := json.Marshal(sie.Request{Omfragad: acct, From: "2000-01-01", To: time.Now().Format(time.DateOnly), CompanyName: "Roles AB"})
	m, err := rd.nc.RequestWithContext(ctx, contract.SIEExport, b)
	if err != nil {
		t.Fatalf("reader asks for an SIE export: %v", err)
	}
	var export sie.Reply
	if err := json.Unmarshal(m.Data, &export); err != nil {
		t.Fatalf("SIE answer: %v", err)
	}
	if export.Error != "" || export.Vouchers == 0 {
		t.Fatalf("SIE export: %d vouchers, error %q", export.Vouchers, export.Error)
	}

	// A person logs in on the login page (the simulator's BankID form);
	// the worker stores the login in the bucket, takes its lease, sends
	// its fetch requests itself and follows their events for the page.
	logIn(ctx, t, loginURL, acct)
	answer(func(ev answerEvent) bool { return ev.Auth == contract.AuthUser && ev.Subject == acct })

	// A drain that hands nothing back and says goodbye to its peers.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-exited; err != nil {
		t.Fatalf("worker exit: %v", err)
	}
	if v := ts.log.violations(); len(v) > 0 {
		t.Fatalf("the server refused the worker (or a client acting within its role):\n%s", strings.Join(v, "\n"))
	}
	after, err := op.js.Stream(t.Context(), "KV_"+contract.LoginBucket)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before.CachedInfo().Config, after.CachedInfo().Config); diff != "" {
		t.Errorf("the worker changed the login bucket made from deploy/k8s/base/nack-kv.yaml (-NACK +worker):\n%s", diff)
	}
	auditAfter, err := op.js.Stream(t.Context(), "OBJ_"+contract.AuditBucket)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(auditBefore.CachedInfo().Config, auditAfter.CachedInfo().Config); diff != "" {
		t.Errorf("the worker changed the audit bucket made from deploy/k8s/base/nack-audit.yaml (-NACK +worker):\n%s", diff)
	}
	// The worker kept the fetches' answers.
	obj, err := op.js.ObjectStore(t.Context(), contract.AuditBucket)
	if err != nil {
		t.Fatal(err)
	}
	kept, err := obj.List(t.Context())
	if err != nil {
		t.Fatalf("operator lists the audit bucket: %v", err)
	}
	if len(kept) == 0 {
		t.Error("the audit bucket holds no answer")
	}
	if _, err := op.js.Consumer(t.Context(), contract.FetchStream, workerDurable); err != nil {
		t.Errorf("the workers' durable consumer is gone after the drain: %v", err)
	}
}
