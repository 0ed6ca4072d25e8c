// Command skvsim serves the Skattekonto API simulator (internal/sim): the
// four API operations, the token endpoint and the admin API, over mutual
// TLS with throwaway certificates by default.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/skattekonto-events/skattekonto-events/internal/sim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "skvsim:", err)
		os.Exit(1)
	}
}

func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

func envBool(name string, def bool) bool {
	if v, ok := os.LookupEnv(name); ok {
		if b, err := strconv.ParseBool(v); err == nil {
			return b
		}
	}
	return def
}

// options are the command's flags.
type options struct {
	addr, certsDir, scenario    string
	useTLS, seedDemo            bool
	latency, clientValid        time.Duration
	rateLimit                   float64
	clientID, clientSecret      string
	logLevel                    string
	keysOnly, quietUpcoming     bool
	paths                       pathFlag
	serviceWindow, windowAnswer string
}

// parseFlags reads args. Every flag has an environment default
// SKVSIM_<FLAG> (upper case, dashes as underscores; SKVSIM_PATH holds
// several paths separated by spaces).
func parseFlags(args []string, out io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("skvsim", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&o.addr, "addr", envOr("SKVSIM_ADDR", "127.0.0.1:8443"), "listen address")
	fs.BoolVar(&o.useTLS, "tls", envBool("SKVSIM_TLS", true), "serve HTTPS requiring client certificates (throwaway certs in -certs-dir)")
	fs.StringVar(&o.certsDir, "certs-dir", envOr("SKVSIM_CERTS_DIR", "./sim-certs"), "directory for the generated certificates")
	fs.StringVar(&o.scenario, "scenario", envOr("SKVSIM_SCENARIO", ""), "scenario JSON file to load")
	fs.BoolVar(&o.seedDemo, "seed-demo", envBool("SKVSIM_SEED_DEMO", true), "load the demo accounts")
	latencyDef, _ := time.ParseDuration(envOr("SKVSIM_LATENCY", "0s"))
	fs.DurationVar(&o.latency, "latency", latencyDef, "latency added to every API call")
	rateDef, _ := strconv.ParseFloat(envOr("SKVSIM_RATE_LIMIT", "0"), 64)
	fs.Float64Var(&o.rateLimit, "rate-limit", rateDef, "API calls per second (0: unlimited)")
	fs.StringVar(&o.clientID, "client-id", envOr("SKVSIM_CLIENT_ID", sim.DefaultClientID), "client id required")
	fs.StringVar(&o.clientSecret, "client-secret", envOr("SKVSIM_CLIENT_SECRET", sim.DefaultClientSecret), "client secret required")
	fs.DurationVar(&o.clientValid, "client-cert-valid-for", 0, "validity of the generated client certificate, e.g. 240h to try a certificate near expiry (0: one year; any other value regenerates the certificates)")
	fs.StringVar(&o.logLevel, "log-level", envOr("SKVSIM_LOG_LEVEL", "info"), "zerolog level (debug logs every call)")
	fs.BoolVar(&o.keysOnly, "keys-only", envBool("SKVSIM_KEYS_ONLY", false), "play the simple test service (SKV_ENV=enkel): API keys and correlation id only, no token, no client certificate")
	fs.Var(&o.paths, "path", "serve an operation under another path below the API base, as operation=template, e.g. utbetalningssparrar=/skattekonton/{omfragad}/sparrar (repeatable)")
	fs.BoolVar(&o.quietUpcoming, "quiet-upcoming", envBool("SKVSIM_QUIET_UPCOMING", false), "changes to upcoming rows leave senastUppdaterad as it was")
	fs.StringVar(&o.serviceWindow, "service-window", envOr("SKVSIM_SERVICE_WINDOW", "off"), "the nightly service window: off, clock (closed 03:00-05:00 Swedish time) or on (closed now)")
	fs.StringVar(&o.windowAnswer, "service-window-answer", envOr("SKVSIM_SERVICE_WINDOW_ANSWER", "felkod5"), "how a call in the window is answered: felkod5, felkod4, http503 or hang")
	for _, p := range strings.Fields(os.Getenv("SKVSIM_PATH")) {
		if err := o.paths.Set(p); err != nil {
			return o, fmt.Errorf("SKVSIM_PATH: %w", err)
		}
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return o, nil
}

// pathFlag collects operation=template pairs.
type pathFlag map[string]string

func (p *pathFlag) String() string {
	if p == nil {
		return ""
	}
	var parts []string
	for op, t := range *p {
		parts = append(parts, op+"="+t)
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

func (p *pathFlag) Set(v string) error {
	op, t, ok := strings.Cut(v, "=")
	if !ok || op == "" || t == "" {
		return fmt.Errorf("%q is not operation=template", v)
	}
	if *p == nil {
		*p = pathFlag{}
	}
	(*p)[op] = t
	return nil
}

// windowAnswers maps -service-window-answer to the window's answer.
var windowAnswers = map[string]sim.ServiceWindow{
	"felkod5": {Kind: sim.FaultFelkod, Felkod: 5},
	"felkod4": {Kind: sim.FaultFelkod, Felkod: 4},
	"http503": {Kind: sim.FaultHTTP503},
	"hang":    {Kind: sim.FaultHang},
}

// newSim builds the simulator the options describe.
func newSim(o options, logger *zerolog.Logger) (*sim.Sim, error) {
	s := sim.New(sim.Config{
		ClientID: o.clientID, ClientSecret: o.clientSecret, KeysOnly: o.keysOnly,
		Latency: o.latency, RateLimit: o.rateLimit, RequireMTLS: o.useTLS && !o.keysOnly, Logger: logger,
	})
	win, ok := windowAnswers[o.windowAnswer]
	if !ok {
		s.Close()
		return nil, fmt.Errorf("-service-window-answer %q is not felkod5, felkod4, http503 or hang", o.windowAnswer)
	}
	win.Mode = sim.WindowMode(o.serviceWindow)
	if err := s.SetServiceWindow(win); err != nil {
		s.Close()
		return nil, fmt.Errorf("-service-window: %w", err)
	}
	if err := s.UpdateSettings(sim.SettingsPatch{Paths: o.paths}); err != nil {
		s.Close()
		return nil, fmt.Errorf("-path: %w", err)
	}
	s.SetQuietUpcoming(o.quietUpcoming)
	if o.seedDemo {
		s.SeedDemo()
	}
	if o.scenario != "" {
		if err := loadScenario(s, o.scenario); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

func loadScenario(s *sim.Sim, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("-scenario: %w", err)
	}
	defer f.Close()
	if err := s.LoadScenario(f); err != nil {
		return fmt.Errorf("-scenario %s: %w", path, err)
	}
	return nil
}

// run serves until ctx ends.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	o, err := parseFlags(args, stdout)
	if err != nil {
		return err
	}
	lvl, err := zerolog.ParseLevel(o.logLevel)
	if err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	logger := zerolog.New(os.Stderr).Level(lvl).With().Timestamp().Logger()
	host, _, err := net.SplitHostPort(o.addr)
	if err != nil {
		return fmt.Errorf("-addr %q: %w", o.addr, err)
	}
	if !o.useTLS && !isLoopback(host) {
		return fmt.Errorf("-addr %q: plain HTTP only on a loopback address (use -tls)", o.addr)
	}
	s, err := newSim(o, &logger)
	if err != nil {
		return err
	}
	defer s.Close()

	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	scheme := "http"
	var paths map[string]string
	if o.useTLS {
		if paths, err = serverTLS(srv, o, host); err != nil {
			ln.Close()
			return err
		}
		scheme = "https"
	}
	root := scheme + "://" + ln.Addr().String()
	printEnv(stdout, o, s, root, paths)
	return serve(ctx, srv, ln, o.useTLS, stdout)
}

// serverTLS sets srv's TLS configuration from the certificates in
// -certs-dir (generated when needed), requiring client certificates
// unless keys only, and returns the certificate files' paths.
func serverTLS(srv *http.Server, o options, host string) (map[string]string, error) {
	certs, paths, err := ensureCerts(o.certsDir, host, o.clientValid)
	if err != nil {
		return nil, fmt.Errorf("certificates in %s: %w", o.certsDir, err)
	}
	if srv.TLSConfig, err = certs.ServerTLSConfig(); err != nil {
		return nil, err
	}
	if o.keysOnly {
		srv.TLSConfig.ClientAuth = tls.NoClientCert
	}
	return paths, nil
}

// printEnv tells how to point the worker at the simulator, in one write,
// so that a reader who sees its first line sees all of it.
func printEnv(w io.Writer, o options, s *sim.Sim, root string, certPaths map[string]string) {
	out := &strings.Builder{}
	defer func() { io.WriteString(w, out.String()) }()
	fmt.Fprintf(out, "skvsim listening on %s\n", root)
	fmt.Fprintf(out, "admin API: %s/admin/accounts\n", root)
	if certPaths != nil {
		fmt.Fprintf(out, "client certificate: %s\nclient key: %s\nCA: %s\n", certPaths[sim.FileClient], certPaths[sim.FileClientKey], certPaths[sim.FileCA])
	}
	fmt.Fprintf(out, "\nPoint the worker at it:\n")
	if o.keysOnly {
		fmt.Fprintf(out, "export SKV_ENV=enkel\n")
	}
	fmt.Fprintf(out, "export SKV_BASE_URL=%s\n", s.BaseURL(root))
	if !o.keysOnly {
		fmt.Fprintf(out, "export SKV_TOKEN_URL=%s\n", s.TokenURL(root))
	}
	fmt.Fprintf(out, "export SKV_CLIENT_ID=%s\n", o.clientID)
	if o.clientSecret == sim.DefaultClientSecret {
		fmt.Fprintf(out, "export SKV_CLIENT_SECRET=%s\n", sim.DefaultClientSecret)
	} else {
		fmt.Fprintf(out, "export SKV_CLIENT_SECRET=<the value of -client-secret>\n")
	}
	switch {
	case certPaths != nil && o.keysOnly:
		fmt.Fprintf(out, "export SKV_CA_FILE=%s\n", certPaths[sim.FileCA])
	case certPaths != nil:
		fmt.Fprintf(out, "export SKV_CERT_FILE=%s\nexport SKV_KEY_FILE=%s\nexport SKV_CA_FILE=%s\n", certPaths[sim.FileClient], certPaths[sim.FileClientKey], certPaths[sim.FileCA])
	}
	if len(o.paths) > 0 {
		fmt.Fprintf(out, "# operations served under other paths (leave these out to see the worker notice):\n")
		ops := make([]string, 0, len(o.paths))
		for op := range o.paths {
			ops = append(ops, op)
		}
		sort.Strings(ops)
		for _, op := range ops {
			fmt.Fprintf(out, "export SKV_PATH_%s='%s'\n", strings.ToUpper(op), o.paths[op])
		}
	}
}

// serve serves on ln until ctx ends, then shuts down.
func serve(ctx context.Context, srv *http.Server, ln net.Listener, useTLS bool, out io.Writer) error {
	errc := make(chan error, 1)
	go func() {
		if useTLS {
			errc <- srv.ServeTLS(ln, "", "")
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		srv.Close() // hanging calls (fault "hang") end here
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	fmt.Fprintln(out, "skvsim stopped")
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ensureCerts loads the certificates in dir, or generates and writes new
// ones when they are missing or the server certificate expires within a day.
func ensureCerts(dir, host string, clientValidFor time.Duration) (sim.Certs, map[string]string, error) {
	if c, err := sim.LoadCerts(dir); err == nil && clientValidFor == 0 {
		if exp, err := c.ServerNotAfter(); err == nil && time.Until(exp) > 24*time.Hour {
			paths := map[string]string{}
			for _, f := range []string{sim.FileCA, sim.FileServer, sim.FileServerKey, sim.FileClient, sim.FileClientKey} {
				p, err := filepath.Abs(filepath.Join(dir, f))
				if err != nil {
					return sim.Certs{}, nil, err
				}
				paths[f] = p
			}
			return c, paths, nil
		}
	}
	var hosts []string
	if host != "" {
		hosts = append(hosts, host)
	}
	c, err := sim.GenerateCertsExpiring(hosts, "", 0, clientValidFor)
	if err != nil {
		return sim.Certs{}, nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return sim.Certs{}, nil, err
	}
	paths, err := c.WriteFiles(abs)
	return c, paths, err
}
