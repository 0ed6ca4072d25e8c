package login

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/oauth2"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/idnr"
	"github.com/skattekonto-events/skattekonto-events/internal/jobs"
	"github.com/skattekonto-events/skattekonto-events/internal/skv"
)

// ErrUnknownSession is returned for a login this process cannot find.
var ErrUnknownSession = errors.New("unknown login")

// Manager serves the login page and keeps the users' logins: every
// replica knows every login (from the bucket), serves its fetch requests
// and shows it on the page; one replica at a time owns it (a lease in
// the bucket) and refreshes its token and publishes its fetch requests
// on a cadence. It implements jobs.Sessions.
type Manager struct {
	cfg    Config
	nc     *nats.Conn
	js     jetstream.JetStream
	oauth  *oauth2.Config
	bucket bucket
	sealer *sealer
	shared bool // the bucket is NATS KV, shared by the replicas
	guard  *guard
	// octx carries the token endpoint's HTTP client for golang.org/x/oauth2
	// and ends at Close.
	octx   context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// stopLeases ends the lease loop; leasesDone is closed when it has.
	stopLeases context.CancelFunc
	leasesDone chan struct{}

	mu     sync.Mutex
	logins map[string]*login // by reference
	closed bool
}

var _ jobs.Sessions = (*Manager)(nil)

// login is one login as this process knows it.
type login struct {
	ref string
	// refreshMu lets one refresh of this login at a time run in this
	// process; the claim in the record does it across replicas.
	refreshMu sync.Mutex

	mu      sync.Mutex
	rec     record
	rev     uint64
	changed chan struct{} // closed and replaced at every new revision
	api     *skv.Client
	subs    []*nats.Subscription
	events  []shownEvent // newest last
	denied  []string     // masked accounts the login was refused
	own     *owning      // set while this process holds the lease
}

// owning is this process's lease on a login.
type owning struct {
	rev  uint64 // of the lease key
	stop context.CancelFunc
	done chan struct{}
}

func (l *login) snapshot() (record, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rec, l.changed
}

// New returns a Manager. With cfg.TokenKey it opens the KV bucket of
// logins shared by the replicas, loads the logins kept there and takes
// over those nobody owns; without it logins live in this process.
func New(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, cfg Config) (*Manager, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	m := &Manager{
		cfg: cfg, nc: nc, js: js,
		oauth: &oauth2.Config{
			ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret,
			Endpoint:    oauth2.Endpoint{AuthURL: cfg.AuthorizeURL, TokenURL: cfg.TokenURL, AuthStyle: oauth2.AuthStyleInHeader},
			RedirectURL: cfg.RedirectURL, Scopes: cfg.Scopes,
		},
		guard:  newGuard(cfg),
		logins: map[string]*login{},
	}
	key := cfg.TokenKey
	if len(key) > 0 {
		if m.bucket, err = openKV(ctx, js); err != nil {
			return nil, err
		}
		m.shared = true
	} else {
		// Sealed all the same, under a key that never leaves the process.
		key = make([]byte, 32)
		_, _ = rand.Read(key)
		m.bucket = newMemBucket()
	}
	if m.sealer, err = newSealer(key); err != nil {
		return nil, err
	}
	// golang.org/x/oauth2 takes its HTTP client from a context value; this
	// context lives only inside the Manager.
	base, cancel := context.WithCancel(context.Background())
	m.octx, m.cancel = context.WithValue(base, oauth2.HTTPClient, cfg.HTTPClient), cancel
	if err := m.bucket.watch(m.octx, loginPrefix, m.applyEntry); err != nil {
		cancel()
		return nil, err
	}
	if err := m.bucket.watch(m.octx, leasePrefix, m.leaseEntry); err != nil {
		cancel()
		return nil, err
	}
	lctx, stop := context.WithCancel(m.octx)
	m.stopLeases, m.leasesDone = stop, make(chan struct{})
	go func() {
		defer close(m.leasesDone)
		m.leases(lctx)
	}()
	return m, nil
}

// Close stops the logins this process owns, handing their leases back
// so another replica takes them over at once, and stops showing events.
// Stored logins stay stored.
func (m *Manager) Close() {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	m.mu.Unlock()
	// No lease is taken after this; then the ones held are handed back.
	m.stopLeases()
	<-m.leasesDone
	m.mu.Lock()
	ls := m.all()
	m.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, l := range ls {
		m.disown(ctx, l, true)
	}
	m.cancel()
	m.wg.Wait()
	for _, l := range ls {
		l.unsubscribe()
	}
}

// all returns the known logins; m.mu is held.
func (m *Manager) all() []*login {
	out := make([]*login, 0, len(m.logins))
	for _, l := range m.logins {
		out = append(out, l)
	}
	return out
}

func (m *Manager) known() []*login {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.all()
}

// SessionAPI returns the API client of a live login (jobs.Sessions): it
// calls with the login's newest access token, refreshing it when due.
// Check must have accepted the request first.
func (m *Manager) SessionAPI(ref string) (jobs.API, error) {
	ctx, cancel := context.WithTimeout(m.octx, 10*time.Second)
	defer cancel()
	l, err := m.lookup(ctx, ref)
	if err != nil {
		return nil, err
	}
	rec, _ := l.snapshot()
	if rec.End != nil {
		return nil, fmt.Errorf("login %s: %w: %s", ref, skv.ErrLoginEnded, rec.End.reason(langEN))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.api == nil {
		apiCfg := m.cfg.API
		apiCfg.TokenSource = &tokens{m: m, ref: ref}
		api, err := skv.New(apiCfg)
		if err != nil {
			return nil, fmt.Errorf("login %s: api client: %w", ref, err)
		}
		l.api = api
	}
	return l.api, nil
}

// lookup finds a login: known already, or read from the bucket (a login
// just made on another replica may not have reached this one's watch).
func (m *Manager) lookup(ctx context.Context, ref string) (*login, error) {
	m.mu.Lock()
	l := m.logins[ref]
	m.mu.Unlock()
	if l != nil {
		return l, nil
	}
	if !validRef(ref) {
		return nil, fmt.Errorf("login %q: %w", truncate(ref, 40), ErrUnknownSession)
	}
	if _, _, err := m.load(ctx, ref); err != nil {
		if errors.Is(err, errNotFound) {
			if !m.shared {
				return nil, fmt.Errorf("login %s: %w to this process (without LOGIN_TOKEN_KEY a login lives in the process it was made in: run one replica, or set LOGIN_TOKEN_KEY)", ref, ErrUnknownSession)
			}
			return nil, fmt.Errorf("login %s: %w (it ended long ago, or was never made)", ref, ErrUnknownSession)
		}
		return nil, fmt.Errorf("login %s: %w", ref, err)
	}
	m.mu.Lock()
	l = m.logins[ref]
	m.mu.Unlock()
	if l == nil {
		return nil, fmt.Errorf("login %s: %w", ref, ErrUnknownSession)
	}
	return l, nil
}

// applyEntry takes in a change of a login key from the bucket's watch.
func (m *Manager) applyEntry(key string, val []byte, rev uint64, deleted bool) {
	ref := strings.TrimPrefix(key, loginPrefix)
	if deleted {
		m.drop(ref, rev)
		return
	}
	rec, err := m.open(key, val)
	if err != nil {
		m.cfg.Logger.Warn().Str("key", key).Err(err).Msg("a stored login cannot be read (another LOGIN_TOKEN_KEY?): ignored")
		return
	}
	m.apply(rec, rev)
}

func (m *Manager) open(key string, val []byte) (record, error) {
	var rec record
	plain, err := m.sealer.open(key, val)
	if err != nil {
		return rec, err
	}
	if err := json.Unmarshal(plain, &rec); err != nil {
		return rec, fmt.Errorf("%s: %w", key, err)
	}
	if loginKey(rec.Ref) != key {
		return rec, fmt.Errorf("%s: holds login %q", key, rec.Ref)
	}
	return rec, nil
}

// apply makes rec at revision rev what this process knows of its login,
// unless it knows a newer revision already.
func (m *Manager) apply(rec record, rev uint64) {
	m.mu.Lock()
	l := m.logins[rec.Ref]
	fresh := l == nil && !m.closed
	if fresh {
		l = &login{ref: rec.Ref, changed: make(chan struct{})}
		m.logins[rec.Ref] = l
	}
	m.mu.Unlock()
	if l == nil {
		return
	}
	l.mu.Lock()
	if rev > l.rev {
		l.rec, l.rev = rec, rev
		close(l.changed)
		l.changed = make(chan struct{})
	}
	l.mu.Unlock()
	if fresh {
		m.subscribe(l, rec)
	}
}

// drop forgets a login whose key is gone (expired or removed).
func (m *Manager) drop(ref string, rev uint64) {
	m.mu.Lock()
	l := m.logins[ref]
	if l == nil {
		m.mu.Unlock()
		return
	}
	l.mu.Lock()
	stale := rev <= l.rev
	l.mu.Unlock()
	if stale {
		m.mu.Unlock()
		return
	}
	delete(m.logins, ref)
	m.mu.Unlock()
	ctx, cancel := context.WithTimeout(m.octx, 5*time.Second)
	defer cancel()
	m.disown(ctx, l, true)
	l.unsubscribe()
	l.mu.Lock()
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

// subscribe starts showing the events of the login's accounts.
func (m *Manager) subscribe(l *login, rec record) {
	for _, a := range rec.Accounts {
		sub, err := m.nc.Subscribe(contract.AccountEvents(a), func(msg *nats.Msg) { m.shown(l, msg.Data) })
		if err != nil {
			m.cfg.Logger.Warn().Str("login", l.ref).Err(err).Msg("cannot show the login's events")
			continue
		}
		l.mu.Lock()
		l.subs = append(l.subs, sub)
		l.mu.Unlock()
	}
	// Dropped meanwhile: nothing to show.
	m.mu.Lock()
	gone := m.logins[l.ref] != l
	m.mu.Unlock()
	if gone {
		l.unsubscribe()
	}
}

func (l *login) unsubscribe() {
	l.mu.Lock()
	subs := l.subs
	l.subs = nil
	l.mu.Unlock()
	for _, sub := range subs {
		_ = sub.Unsubscribe()
	}
}

// load reads a login from the bucket, and takes it in.
func (m *Manager) load(ctx context.Context, ref string) (record, uint64, error) {
	key := loginKey(ref)
	val, rev, err := m.bucket.get(ctx, key)
	if err != nil {
		return record{}, 0, err
	}
	rec, err := m.open(key, val)
	if err != nil {
		return record{}, 0, err
	}
	m.apply(rec, rev)
	return rec, rev, nil
}

func (m *Manager) seal(rec *record) ([]byte, error) {
	plain, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	return m.sealer.seal(loginKey(rec.Ref), plain), nil
}

// create stores a new login.
func (m *Manager) create(ctx context.Context, rec record) (uint64, error) {
	val, err := m.seal(&rec)
	if err != nil {
		return 0, err
	}
	rev, err := m.bucket.create(ctx, loginKey(rec.Ref), val, rec.ttl(m.cfg.Now()))
	if err != nil {
		return 0, err
	}
	m.apply(rec, rev)
	return rev, nil
}

// Errors of modify functions that stop a change.
var (
	errEnded = errors.New("the login ended")
	errMoved = errors.New("the login's tokens moved on meanwhile")
)

// modify changes a login by compare-and-set: it reads the newest
// revision, lets fn change it, and writes it if nobody wrote meanwhile;
// else it starts again. fn's error stops it and is returned.
func (m *Manager) modify(ctx context.Context, ref string, fn func(*record) error) (record, error) {
	for try := 0; ; try++ {
		rec, rev, err := m.load(ctx, ref)
		if err != nil {
			return rec, err
		}
		if err := fn(&rec); err != nil {
			return rec, err
		}
		val, err := m.seal(&rec)
		if err != nil {
			return rec, err
		}
		nrev, err := m.bucket.update(ctx, loginKey(ref), val, rev, rec.ttl(m.cfg.Now()))
		if err == nil {
			m.apply(rec, nrev)
			return rec, nil
		}
		if !errors.Is(err, errConflict) || try >= 50 {
			return rec, fmt.Errorf("login %s: %w", ref, err)
		}
	}
}

// finish ends a login once, across replicas: the replica whose write
// records the end logs and reports it. With spent, only while the login's
// refresh token is still spent (a refusal of a refresh token another
// replica already replaced is no end: errMoved).
func (m *Manager) finish(ctx context.Context, ref, spent string, e end) error {
	rec, err := m.modify(ctx, ref, func(r *record) error {
		if r.End != nil {
			return errEnded
		}
		if spent != "" && (r.Token == nil || r.Token.RefreshToken != spent) {
			return errMoved
		}
		r.End, r.Token, r.Claim = &e, nil, nil
		return nil
	})
	if err != nil {
		return err
	}
	ended := Ended{Session: ref, Accounts: rec.masked(), Reason: e.reason(langEN), At: e.At, ByUser: e.Kind == endLogout}
	if ended.ByUser {
		m.cfg.Logger.Info().Str("login", ref).Strs("accounts", ended.Accounts).Msg("user logged out")
	} else {
		m.cfg.Logger.Warn().Str("login", ref).Strs("accounts", ended.Accounts).Str("reason", ended.Reason).
			Msg("user login ended: no more fetches with it; the user must log in again")
	}
	if m.cfg.OnEnd != nil {
		report := func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			m.cfg.OnEnd(ctx, ended)
		}
		if !m.spawn(report) {
			report()
		}
	}
	return nil
}

// spawn runs fn in a goroutine that Close waits for, unless the Manager
// is closed.
func (m *Manager) spawn(fn func()) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		fn()
	}()
	return true
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func randomID(n int) string { return base64.RawURLEncoding.EncodeToString(randomBytes(n)) }

func maskAll(accts []string) []string {
	out := make([]string, len(accts))
	for i, a := range accts {
		out[i] = maskAccount(a)
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// hasAccount reports whether acct is one of the login's accounts.
func (r *record) hasAccount(acct idnr.Number) bool {
	return slices.Contains(r.Accounts, acct.String())
}
