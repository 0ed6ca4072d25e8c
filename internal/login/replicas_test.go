package login

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"golang.org/x/oauth2"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/sim"
	"github.com/skattekonto-events/skattekonto-events/internal/skv"
)

func tokenKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// requestLog records the fetch requests published, as any subscriber of
// skattekonto.fetch.> sees them.
type requestLog struct {
	mu   sync.Mutex
	ids  []string
	msgs []*nats.Msg
}

func (e *testEnv) watchRequests(t *testing.T) *requestLog {
	t.Helper()
	rl := &requestLog{}
	sub, err := e.nc.Subscribe(contract.FetchPrefix+">", func(m *nats.Msg) {
		var req contract.FetchRequest
		_ = json.Unmarshal(m.Data, &req)
		id := ""
		if req.RequestID != nil {
			id = *req.RequestID
		}
		rl.mu.Lock()
		rl.ids = append(rl.ids, id)
		rl.msgs = append(rl.msgs, m)
		rl.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return rl
}

func (rl *requestLog) count() int {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	return len(rl.ids)
}

// check fails the test if a request id came twice (two replicas running
// the same login's cadence) and returns the highest request number.
func (rl *requestLog) check(t *testing.T) int {
	t.Helper()
	rl.mu.Lock()
	defer rl.mu.Unlock()
	seen, high := map[string]bool{}, 0
	for i, id := range rl.ids {
		if seen[id] {
			t.Errorf("request id %q published twice", id)
		}
		seen[id] = true
		if rl.msgs[i].Header.Get(contract.LoginProofHeader) == "" {
			t.Errorf("request %q carries no proof", id)
		}
		if n, err := strconv.Atoi(id[strings.LastIndex(id, "-")+1:]); err == nil && n > high {
			high = n
		}
	}
	return high
}

// owners returns the live replicas that run the login.
func (e *testEnv) owners(ref string) []*replica {
	var out []*replica
	for _, r := range e.replicas {
		if r.down.Load() {
			continue
		}
		r.mgr.mu.Lock()
		l := r.mgr.logins[ref]
		r.mgr.mu.Unlock()
		if l == nil {
			continue
		}
		l.mu.Lock()
		own := l.own != nil
		l.mu.Unlock()
		if own {
			out = append(out, r)
		}
	}
	return out
}

// TestOneOwnerPerLogin: with two replicas sharing the login bucket, one
// runs the login's cadence (no request id twice); when it crashes, the
// other takes the login over and carries on where it stopped.
func TestOneOwnerPerLogin(t *testing.T) {
	e := newTestEnv(t, envOptions{tokenKey: tokenKey(t), replicas: 2, cadence: 200 * time.Millisecond, leaseTTL: 2 * time.Second})
	rl := e.watchRequests(t)
	ref := e.logIn(t, newBrowser(t, true), sim.DemoAB)
	eventually(t, time.Minute, "five rounds of requests", func() bool { return rl.count() >= 5 })
	owners := e.owners(ref)
	if len(owners) != 1 {
		t.Fatalf("%d replicas run the login, want 1", len(owners))
	}
	owner := owners[0]
	other := e.replicas[0]
	if other == owner {
		other = e.replicas[1]
	}
	if _, err := other.mgr.SessionAPI(ref); err != nil {
		t.Fatalf("the other replica cannot serve the login: %v", err)
	}
	before := rl.check(t)

	owner.kill()
	t.Logf("killed replica %s after request %d", owner.name, before)
	eventually(t, time.Minute, "the other replica to take the login over", func() bool {
		o := e.owners(ref)
		return len(o) == 1 && o[0] == other
	})
	n := rl.count()
	eventually(t, time.Minute, "rounds sent by the new owner", func() bool { return rl.count() >= n+3 })
	if after := rl.check(t); after <= before {
		t.Errorf("highest request %d after the takeover, %d before", after, before)
	}
	// Fetches went on with the login: served by the surviving worker.
	eventually(t, time.Minute, "the surviving worker to serve the login's requests", func() bool { return other.served.Load() > 0 })
	if st := e.sim.CallCount(sim.OpSaldo); st == 0 {
		t.Error("no fetch reached the API")
	}
	e.noSecrets("the log", e.logs.String())
}

// TestHandoverAtShutdown: a replica that stops hands its logins over.
func TestHandoverAtShutdown(t *testing.T) {
	e := newTestEnv(t, envOptions{tokenKey: tokenKey(t), replicas: 2, noWorker: true, leaseTTL: time.Hour})
	ref := e.logIn(t, newBrowser(t, true), sim.DemoAB)
	eventually(t, 30*time.Second, "an owner", func() bool { return len(e.owners(ref)) == 1 })
	owner := e.owners(ref)[0]
	owner.shutdown()
	// The lease lives an hour: only a handover makes the other the owner
	// within the test.
	eventually(t, 30*time.Second, "the other replica to own the login", func() bool {
		o := e.owners(ref)
		return len(o) == 1 && o[0] != owner
	})
}

// TestRefreshSpentOnce: replicas that find a login's token due at the
// same moment spend its refresh token once; all use the new tokens and
// the login lives on.
func TestRefreshSpentOnce(t *testing.T) {
	e := newTestEnv(t, envOptions{tokenKey: tokenKey(t), replicas: 2, noWorker: true})
	ref := e.logIn(t, newBrowser(t, true), sim.DemoAB)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e.makeDue(ctx, t, ref)

	var wg sync.WaitGroup
	got := make(chan string, 16)
	for i := range 16 {
		m := e.replicas[i%2].mgr
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := m.token(ctx, ref)
			if err != nil {
				t.Errorf("token: %v", err)
				return
			}
			got <- tok.AccessToken
		}()
	}
	wg.Wait()
	close(got)
	distinct := map[string]bool{}
	for tok := range got {
		distinct[tok] = true
	}
	if _, refreshes, refused := e.tokens.counts(); refreshes != 1 || refused != 0 {
		t.Errorf("%d refreshes (%d refused), want 1 (0)", refreshes, refused)
	}
	if len(distinct) != 1 {
		t.Errorf("%d different access tokens handed out, want 1", len(distinct))
	}
	rec, _, err := e.login.load(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if rec.End != nil || rec.Refreshes != 1 || rec.Claim != nil {
		t.Errorf("after the refresh: end %+v, %d refreshes, claim %+v; want live, 1, none", rec.End, rec.Refreshes, rec.Claim)
	}
	select {
	case end := <-e.ended:
		t.Errorf("the login ended: %+v", end)
	default:
	}
}

// makeDue makes the login's access token due for a refresh (it stays
// valid at the simulator).
func (e *testEnv) makeDue(ctx context.Context, t *testing.T, ref string) {
	t.Helper()
	_, err := e.login.modify(ctx, ref, func(r *record) error {
		r.Token.Expiry = time.Now().Add(-time.Second)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range e.replicas {
		if _, _, err := r.mgr.load(ctx, ref); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRefusedButMovedOn: a replica whose refresh is refused because
// another replica spent the refresh token first (a claim that outlived
// its holder) uses the other's tokens when they arrive: no end, no
// token-refused.
func TestRefusedButMovedOn(t *testing.T) {
	e := newTestEnv(t, envOptions{tokenKey: tokenKey(t), replicas: 1, noWorker: true})
	ref := e.logIn(t, newBrowser(t, true), sim.DemoAB)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rec, _, err := e.login.load(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	// A replica that hung spent the refresh token already...
	m := e.login
	theirs, err := m.oauth.TokenSource(m.octx, &oauth2.Token{RefreshToken: rec.Token.RefreshToken}).Token()
	if err != nil {
		t.Fatal(err)
	}
	// ...and stores its tokens just as this replica's refresh is refused.
	var once sync.Once
	e.tokens.mu.Lock()
	e.tokens.afterRefresh = func(status int) {
		if status == http.StatusOK {
			return
		}
		once.Do(func() {
			_, err := m.modify(ctx, ref, func(r *record) error {
				r.Token, r.Issued, r.Claim = theirs, time.Now(), nil
				r.Refreshes++
				return nil
			})
			if err != nil {
				t.Errorf("store the other replica's tokens: %v", err)
			}
		})
	}
	e.tokens.mu.Unlock()
	e.makeDue(ctx, t, ref)

	tok, err := m.token(ctx, ref)
	if err != nil {
		t.Fatalf("token after a refusal of a spent refresh token: %v", err)
	}
	if tok.AccessToken != theirs.AccessToken {
		t.Error("not the other replica's access token")
	}
	if _, _, refused := e.tokens.counts(); refused != 1 {
		t.Fatalf("%d refreshes refused, want 1 (the test's premise)", refused)
	}
	if rec, _, _ := m.load(ctx, ref); rec.End != nil {
		t.Errorf("the login ended: %+v", rec.End)
	}
	select {
	case end := <-e.ended:
		t.Errorf("OnEnd: %+v", end)
	default:
	}
	// A refusal of the login's own, current refresh token ends it.
	_, err = m.modify(ctx, ref, func(r *record) error {
		r.Token.Expiry = time.Now().Add(-time.Second)
		r.Token.RefreshToken = "refresh-token-the-simulator-never-issued"
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.token(ctx, ref); !errors.Is(err, skv.ErrLoginEnded) {
		t.Errorf("token with a refused current refresh token: %v, want ErrLoginEnded", err)
	}
	select {
	case end := <-e.ended:
		if end.ByUser || end.Session != ref {
			t.Errorf("OnEnd %+v", end)
		}
	case <-time.After(10 * time.Second):
		t.Error("no OnEnd for the refused refresh")
	}
}

// TestCallbackOnAnotherReplica: the callback may land on another replica
// than the start; the browser gets a fresh id, and the id it had before
// the login sees nothing of it (no session fixation).
func TestCallbackOnAnotherReplica(t *testing.T) {
	e := newTestEnv(t, envOptions{tokenKey: tokenKey(t), replicas: 2, noWorker: true})
	c := newBrowser(t, true)
	authz := e.start(t, c, sim.DemoAB)
	planted := cookieValue(t, c, e.front)
	cb := e.simLogin(t, authz, sim.DemoAB)
	e.route.Store(1)
	st, body := get(t, c, cb.String())
	if st != http.StatusOK || !strings.Contains(body, "Inloggad") {
		t.Fatalf("callback on the other replica: %d\n%s", st, body)
	}
	fresh := cookieValue(t, c, e.front)
	if fresh == planted || fresh == "" {
		t.Errorf("the browser id was not renewed at login")
	}
	// Both replicas show the login to the browser.
	for i := range e.replicas {
		e.route.Store(int32(i))
		eventually(t, 10*time.Second, "the login on replica "+e.replicas[i].name, func() bool {
			_, body := get(t, c, e.pageURL)
			return strings.Contains(body, `data-login="lg-`)
		})
	}
	// Whoever knew the id before the login (it was planted, or read off
	// the wire) sees nothing of it.
	attacker := newBrowser(t, true)
	setCookie(t, attacker, e.front, cookieName, planted)
	if _, body := get(t, attacker, e.pageURL); strings.Contains(body, `data-login="lg-`) {
		t.Error("the browser id from before the login shows the login")
	}
}

// TestMemoryOnlyIsOneReplica: without LOGIN_TOKEN_KEY a login lives in
// the process that made it; another replica says so.
func TestMemoryOnlyIsOneReplica(t *testing.T) {
	e := newTestEnv(t, envOptions{replicas: 2, noWorker: true})
	ref := e.logIn(t, newBrowser(t, true), sim.DemoAB)
	if _, err := e.login.SessionAPI(ref); err != nil {
		t.Fatalf("SessionAPI on the replica that made the login: %v", err)
	}
	_, err := e.replicas[1].mgr.SessionAPI(ref)
	if !errors.Is(err, ErrUnknownSession) || !strings.Contains(err.Error(), "LOGIN_TOKEN_KEY") {
		t.Errorf("SessionAPI on another replica: %v, want ErrUnknownSession naming LOGIN_TOKEN_KEY", err)
	}
	if got := e.owners(ref); len(got) != 1 || got[0] != e.replicas[0] {
		t.Errorf("owners %v, want the first replica", got)
	}
}

func cookieValue(t *testing.T, c *http.Client, root string) string {
	t.Helper()
	u, _ := url.Parse(root + PagePath)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == cookieName {
			return ck.Value
		}
	}
	return ""
}

func setCookie(t *testing.T, c *http.Client, root, name, value string) {
	t.Helper()
	u, _ := url.Parse(root + PagePath)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: PagePath}})
}
