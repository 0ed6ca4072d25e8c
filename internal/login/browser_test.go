package login

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/jobs"
	"github.com/skattekonto-events/skattekonto-events/internal/sim"
	"github.com/skattekonto-events/skattekonto-events/schemas"
)

// chromium returns the path of a Chromium binary. Without one the test is
// skipped, except in CI (CI=true), where .ci/chromium.sh installs it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no chromium binary found, and CI=true: run .ci/chromium.sh (apt-get install chromium)")
	}
	t.Skip("no chromium binary found (install Debian's chromium, e.g. with .ci/chromium.sh, to run the browser test)")
	return ""
}

// startBrowser starts a headless Chromium with a fresh profile that talks only
// to loopback servers.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	path := chromium(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		// A Swedish browser; the page is Swedish by default anyway.
		chromedp.Flag("lang", "sv-SE"),
		chromedp.Flag("accept-lang", "sv-SE,sv"),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// pageText polls the page's text until ok accepts it or the time is up.
func pageText(t *testing.T, ctx context.Context, what string, d time.Duration, ok func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		if err == nil && ok(text) {
			return text
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for the page to show %s; it shows:\n%s", d, what, text)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// TestBrowserLogin drives the whole flow in a real headless browser: open
// the page, enter accounts, log in at the simulator's login page, see the
// events of the fetched accounts, and see the login end cleanly at the
// refresh limit.
func TestBrowserLogin(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	ctx := startBrowser(t)
	// Access tokens live 5s (refreshed ~1.25s before expiry) and a login
	// allows 2 refreshes: the login ends after about 11 seconds.
	e := newTestEnv(t, envOptions{userTokenTTL: 5 * time.Second, maxRefreshes: 2, cadence: time.Second})
	bctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()

	// The person may see two of the three accounts entered.
	err := chromedp.Do(bctx,
		chromedp.Navigate(e.pageURL),
		chromedp.WaitVisible(chromedp.CSS("#accounts")),
		chromedp.SetValue(chromedp.CSS("#accounts"), sim.DemoAB+", "+sim.DemoABInfo+" "+sim.DemoABOld),
		chromedp.Click(chromedp.CSS("#start")),
		// The simulator's login page.
		chromedp.WaitVisible(chromedp.CSS("#login")),
		chromedp.Click(chromedp.CSS(`input[data-masked="`+sim.DemoAB+`"]`)),
		chromedp.Click(chromedp.CSS(`input[data-masked="`+sim.DemoABInfo+`"]`)),
		chromedp.Click(chromedp.CSS("#login")),
		// Back on our page.
		chromedp.WaitVisible(chromedp.CSS("#notice")),
	)
	if err != nil {
		t.Fatalf("log in with the browser: %v", err)
	}
	text := pageText(t, bctx, "the events of the fetched accounts", time.Minute, func(s string) bool {
		return strings.Contains(s, "NewTransaction") && strings.Contains(s, "BalanceChanged") &&
			strings.Count(s, "FetchCompleted") >= 2 && strings.Contains(s, "felkod 6")
	})
	for _, want := range []string{sim.DemoAB, sim.DemoABInfo, sim.DemoABOld, "user", "(baseline)"} {
		if !strings.Contains(text, want) {
			t.Errorf("page does not show %q", want)
		}
	}
	t.Logf("page after login (excerpt):\n%s", excerpt(text, 1200))

	// The refresh limit ends the login: page message, log line, event.
	text = pageText(t, bctx, "the end of the login", time.Minute, func(s string) bool {
		return strings.Contains(s, "Inloggningen har avslutats")
	})
	if !strings.Contains(text, "efter 2 förnyelser") {
		t.Errorf("page does not say why the login ended:\n%s", excerpt(text, 2000))
	}
	var end Ended
	select {
	case end = <-e.ended:
	case <-time.After(10 * time.Second):
		t.Fatal("OnEnd was not called")
	}
	if end.ByUser || !strings.Contains(end.Reason, "refresh refused") {
		t.Errorf("Ended = %+v, want a refused refresh", end)
	}
	if !strings.Contains(e.logs.String(), "user login ended") {
		t.Error("no log line says the login ended")
	}
	if _, err := e.login.SessionAPI(end.Session); err == nil {
		t.Error("SessionAPI of an ended login gave an API")
	}

	// The AccessProblem is on the service subject, valid against its schema.
	sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer scancel()
	c, err := e.js.OrderedConsumer(sctx, contract.EventsStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{contract.EventSubject(contract.ServiceToken, "AccessProblem")}})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := c.Next(jetstream.FetchMaxWait(10 * time.Second))
	if err != nil {
		t.Fatalf("no AccessProblem on the service subject: %v", err)
	}
	var ap struct {
		Auth string `json:"auth"`
		Data struct {
			Kind string `json:"kind"`
		} `json:"data"`
	}
	if err := json.Unmarshal(msg.Data(), &ap); err != nil {
		t.Fatal(err)
	}
	if ap.Auth != "user" || ap.Data.Kind != "token-refused" {
		t.Errorf("AccessProblem auth %q kind %q, want user, token-refused", ap.Auth, ap.Data.Kind)
	}
	v, err := schemas.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	if err := v.ValidateEvent(msg.Data()); err != nil {
		t.Errorf("AccessProblem does not match its schema: %v\n%s", err, msg.Data())
	}

	// No stuck requests: the fetch queue drains, nothing waits for an ack.
	deadline := time.Now().Add(time.Minute)
	for {
		b, err := jobs.ReadBacklog(sctx, e.js, contract.Durable)
		if err != nil {
			t.Fatal(err)
		}
		if b.Pending == 0 && b.AckPending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("fetch requests stuck: %d pending, %d unacknowledged", b.Pending, b.AckPending)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// No token, code or verifier in the logs, the page or the streams.
	html, err := chromedp.Run(bctx, chromedp.OuterHTML(chromedp.CSS("html")))
	if err != nil {
		t.Fatal(err)
	}
	e.noSecrets("the page", html)
	e.noSecrets("the log", e.logs.String())
	e.noSecrets("the streams", e.streamText(sctx))
	if n := e.sim.CallCount(sim.OpPerToken); n < 4 {
		t.Errorf("person token endpoint called %d times, want the exchange, 2 refreshes and the refused one", n)
	}
}

func excerpt(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// TestBrowserTwoReplicas: two worker replicas behind one address. The
// login starts on one and comes back on the other, which then owns it;
// fetch requests are served by either replica's worker; when the owner
// dies the login carries on, on the other: its rounds and refreshes go
// on, and it never ends with a false token-refused.
func TestBrowserTwoReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	ctx := startBrowser(t)
	// Access tokens live 4s (refreshed a second before), with refreshes
	// enough for the test: both replicas meet due tokens all the time.
	e := newTestEnv(t, envOptions{tokenKey: tokenKey(t), replicas: 2, userTokenTTL: 4 * time.Second, maxRefreshes: 1000,
		cadence: time.Second, leaseTTL: 2 * time.Second})
	a, b := e.replicas[0], e.replicas[1]
	bctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()

	err := chromedp.Do(bctx,
		chromedp.Navigate(e.pageURL),
		chromedp.WaitVisible(chromedp.CSS("#accounts")),
		chromedp.SetValue(chromedp.CSS("#accounts"), sim.DemoAB+" "+sim.DemoABInfo),
		chromedp.Click(chromedp.CSS("#start")),
		chromedp.WaitVisible(chromedp.CSS("#login")),
		chromedp.Click(chromedp.CSS(`input[data-masked="`+sim.DemoAB+`"]`)),
		chromedp.Click(chromedp.CSS(`input[data-masked="`+sim.DemoABInfo+`"]`)),
		// The callback lands on the other replica.
		chromedp.Func(func(context.Context, *chromedp.Target) error { e.route.Store(1); return nil }),
		chromedp.Click(chromedp.CSS("#login")),
		chromedp.WaitVisible(chromedp.CSS("#notice")),
	)
	if err != nil {
		t.Fatalf("log in with the browser: %v", err)
	}
	var ref string
	eventually(t, 10*time.Second, "the login", func() bool {
		for _, l := range b.mgr.known() {
			ref = l.ref
		}
		return ref != ""
	})
	if o := e.owners(ref); len(o) != 1 || o[0] != b {
		t.Fatalf("owners %v, want the replica that got the callback", o)
	}
	pageText(t, bctx, "the events of the fetched accounts", time.Minute, func(s string) bool {
		return strings.Contains(s, "NewTransaction") && strings.Count(s, "FetchCompleted") >= 2
	})

	// Only the other replica's worker runs: it serves the owner's requests.
	b.stop()
	<-b.done
	served := a.served.Load()
	eventually(t, time.Minute, "replica A's worker to serve the login's requests", func() bool { return a.served.Load() >= served+4 })

	// The owner dies; the browser is sent to the replica left.
	published, refreshes := progress(t, bctx)
	b.kill()
	e.route.Store(0)
	t.Logf("killed the owner after %d requests and %d refreshes", published, refreshes)
	eventually(t, time.Minute, "replica A to take the login over", func() bool {
		o := e.owners(ref)
		return len(o) == 1 && o[0] == a
	})
	eventually(t, 2*time.Minute, "the login to go on: rounds and refreshes on replica A", func() bool {
		if err := chromedp.Do(bctx, chromedp.Navigate(e.pageURL)); err != nil {
			return false
		}
		p, r := progress(t, bctx)
		return p >= published+6 && r >= refreshes+2
	})
	text := pageText(t, bctx, "the live login", 10*time.Second, func(s string) bool { return strings.Contains(s, "Aktiv:") })
	if strings.Contains(text, "avslutats") {
		t.Errorf("the login ended:\n%s", excerpt(text, 2000))
	}
	if _, _, refused := e.tokens.counts(); refused != 0 {
		t.Errorf("%d refreshes refused: a refresh token was spent twice", refused)
	}
	select {
	case end := <-e.ended:
		t.Errorf("the login ended: %+v", end)
	default:
	}
	t.Logf("served by A %d, by B %d", a.served.Load(), b.served.Load())

	sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer scancel()
	html, err := chromedp.Run(bctx, chromedp.OuterHTML(chromedp.CSS("html")))
	if err != nil {
		t.Fatal(err)
	}
	e.noSecrets("the page", html)
	e.noSecrets("the log", e.logs.String())
	e.noSecrets("the streams", e.streamText(sctx))
}

var (
	publishedRe = regexp.MustCompile(`Hämtningsbegäranden skickade: (\d+)`)
	refreshedRe = regexp.MustCompile(`förnyad (\d+) gånger`)
)

// progress reads the requests sent and the refreshes off the page.
func progress(t *testing.T, ctx context.Context) (published, refreshes int) {
	t.Helper()
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	if err != nil {
		return -1, -1
	}
	if m := publishedRe.FindStringSubmatch(text); m != nil {
		published, _ = strconv.Atoi(m[1])
	}
	if m := refreshedRe.FindStringSubmatch(text); m != nil {
		refreshes, _ = strconv.Atoi(m[1])
	}
	return published, refreshes
}
