package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/sim"
)

// simulator is what the load tool needs of the API simulator, in process
// or behind its admin API.
type simulator interface {
	PutAccount(a sim.Account) error
	PostTransaction(omfragad string, t sim.Transaction) error
	SetBalance(omfragad string, skv, kfm int64) error
	AddUpcoming(omfragad string, t sim.Transaction) error
	BookUpcoming(omfragad string, index int, bookDate string) error
	Account(omfragad string) (sim.Account, bool)
	Calls() map[string]int
}

// localSim is an in-process simulator behind a loopback HTTP server that
// counts the 429 answers it gives.
type localSim struct {
	*sim.Sim
	srv      *http.Server
	root     string
	tooMany  atomic.Int64
	requests atomic.Int64
}

func startLocalSim(cfg sim.Config) (*localSim, error) {
	s := sim.New(cfg)
	ln, err := listenLoopback()
	if err != nil {
		return nil, fmt.Errorf("simulator listen: %w", err)
	}
	l := &localSim{Sim: s, root: "http://" + ln.Addr().String()}
	h := s.Handler()
	l.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			l.requests.Add(1)
			h.ServeHTTP(&statusWriter{ResponseWriter: w, tooMany: &l.tooMany}, r)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() { _ = l.srv.Serve(ln) }()
	return l, nil
}

func (l *localSim) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = l.srv.Shutdown(ctx)
	l.Sim.Close()
}

// statusWriter counts 429 answers.
type statusWriter struct {
	http.ResponseWriter
	tooMany *atomic.Int64
}

func (w *statusWriter) WriteHeader(code int) {
	if code == http.StatusTooManyRequests {
		w.tooMany.Add(1)
	}
	w.ResponseWriter.WriteHeader(code)
}

// remoteSim drives a simulator through its admin API (-sim-url).
type remoteSim struct {
	root string
	hc   *http.Client
}

func newRemoteSim(root string) (*remoteSim, error) {
	if err := checkLoopbackURL(root); err != nil {
		return nil, fmt.Errorf("-sim-url: %w", err)
	}
	return &remoteSim{root: root, hc: &http.Client{Timeout: 30 * time.Second}}, nil
}

func (r *remoteSim) do(method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, r.root+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode == http.StatusNotFound {
		return sim.ErrNotFound
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

func acctPath(omf string) string { return sim.AdminPath + "accounts/" + omf }

func (r *remoteSim) PutAccount(a sim.Account) error {
	return r.do(http.MethodPut, acctPath(a.Omfragad), a, nil)
}

func (r *remoteSim) PostTransaction(omf string, t sim.Transaction) error {
	return r.do(http.MethodPost, acctPath(omf)+"/transactions", t, nil)
}

func (r *remoteSim) SetBalance(omf string, skv, kfm int64) error {
	return r.do(http.MethodPut, acctPath(omf)+"/balance", map[string]int64{"saldoSkatteverket": skv, "saldoKronofogden": kfm}, nil)
}

func (r *remoteSim) AddUpcoming(omf string, t sim.Transaction) error {
	return r.do(http.MethodPost, acctPath(omf)+"/upcoming", t, nil)
}

func (r *remoteSim) BookUpcoming(omf string, index int, bookDate string) error {
	return r.do(http.MethodPost, acctPath(omf)+"/upcoming/"+strconv.Itoa(index)+"/book", map[string]string{"date": bookDate}, nil)
}

func (r *remoteSim) Account(omf string) (sim.Account, bool) {
	var a sim.Account
	if err := r.do(http.MethodGet, acctPath(omf), nil, &a); err != nil {
		return sim.Account{}, false
	}
	return a, true
}

func (r *remoteSim) Calls() map[string]int {
	var out struct {
		Calls map[string]int `json:"calls"`
	}
	if err := r.do(http.MethodGet, sim.AdminPath+"calls", nil, &out); err != nil {
		return map[string]int{}
	}
	return out.Calls
}

// checkLoopbackURL accepts only http(s) URLs on loopback hosts: the load
// tool never drives anything but the local machine.
func checkLoopbackURL(raw string) error {
	host, err := urlHost(raw)
	if err != nil {
		return err
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%q is not a loopback address", raw)
}

var errNoHost = errors.New("no host")
