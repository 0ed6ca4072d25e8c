// Command skvsim serves the Skattekonto API simulator (internal/sim): the
// four API operations, the token endpoint and the admin API, over mutual
// TLS with throwaway certificates by default.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
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

// options are skvsim's flags.
type options struct {
	addr, certsDir, scenario     string
	useTLS, seedDemo             bool
	latency, clientValid         time.Duration
	rateLimit                    float64
	clientID, clientSecret, host string
	level                        zerolog.Level
}

// parseFlags reads the flags; every flag has an environment default
// SKVSIM_<FLAG> (upper case, dashes as underscores).
func parseFlags(args []string, stdout io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("skvsim", flag.ContinueOnError)
	fs.SetOutput(stdout)
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
	logLevel := fs.String("log-level", envOr("SKVSIM_LOG_LEVEL", "info"), "zerolog level (debug logs every call)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	lvl, err := zerolog.ParseLevel(*logLevel)
	if err != nil {
		return o, fmt.Errorf("-log-level: %w", err)
	}
	o.level = lvl
	host, _, err := net.SplitHostPort(o.addr)
	if err != nil {
		return o, fmt.Errorf("-addr %q: %w", o.addr, err)
	}
	if !o.useTLS && !isLoopback(host) {
		return o, fmt.Errorf("-addr %q: plain HTTP only on a loopback address (use -tls)", o.addr)
	}
	o.host = host
	return o, nil
}

// run serves until ctx ends.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	o, err := parseFlags(args, stdout)
	if err != nil {
		return err
	}
	logger := zerolog.New(os.Stderr).Level(o.level).With().Timestamp().Logger()
	s := sim.New(sim.Config{
		ClientID: o.clientID, ClientSecret: o.clientSecret,
		Latency: o.latency, RateLimit: o.rateLimit, RequireMTLS: o.useTLS, Logger: &logger,
	})
	defer s.Close()
	if err := seed(s, o); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	scheme := "http"
	var paths map[string]string
	if o.useTLS {
		certs, p, err := ensureCerts(o.certsDir, o.host, o.clientValid)
		if err != nil {
			ln.Close()
			return fmt.Errorf("certificates in %s: %w", o.certsDir, err)
		}
		paths = p
		if srv.TLSConfig, err = certs.ServerTLSConfig(); err != nil {
			ln.Close()
			return err
		}
		scheme = "https"
	}
	printHowTo(stdout, s, scheme+"://"+ln.Addr().String(), o, paths)
	if err := serve(ctx, srv, ln, o.useTLS); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "skvsim stopped")
	return nil
}

// seed loads the demo accounts and the scenario file the options name.
func seed(s *sim.Sim, o options) error {
	if o.seedDemo {
		s.SeedDemo()
	}
	if o.scenario == "" {
		return nil
	}
	f, err := os.Open(o.scenario)
	if err != nil {
		return fmt.Errorf("-scenario: %w", err)
	}
	err = s.LoadScenario(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("-scenario %s: %w", o.scenario, err)
	}
	return nil
}

// printHowTo tells where the simulator listens and how to point the
// worker at it; paths are the certificate files, nil without TLS.
func printHowTo(stdout io.Writer, s *sim.Sim, root string, o options, paths map[string]string) {
	fmt.Fprintf(stdout, "skvsim listening on %s\n", root)
	fmt.Fprintf(stdout, "admin API: %s/admin/accounts\n", root)
	if paths != nil {
		fmt.Fprintf(stdout, "client certificate: %s\nclient key: %s\nCA: %s\n", paths[sim.FileClient], paths[sim.FileClientKey], paths[sim.FileCA])
	}
	fmt.Fprintf(stdout, "\nPoint the worker at it:\n")
	fmt.Fprintf(stdout, "export SKV_BASE_URL=%s\n", s.BaseURL(root))
	fmt.Fprintf(stdout, "export SKV_TOKEN_URL=%s\n", s.TokenURL(root))
	fmt.Fprintf(stdout, "export SKV_CLIENT_ID=%s\n", o.clientID)
	if o.clientSecret == sim.DefaultClientSecret {
		fmt.Fprintf(stdout, "export SKV_CLIENT_SECRET=%s\n", sim.DefaultClientSecret)
	} else {
		fmt.Fprintf(stdout, "export SKV_CLIENT_SECRET=<the value of -client-secret>\n")
	}
	if paths != nil {
		fmt.Fprintf(stdout, "export SKV_CERT_FILE=%s\nexport SKV_KEY_FILE=%s\nexport SKV_CA_FILE=%s\n", paths[sim.FileClient], paths[sim.FileClientKey], paths[sim.FileCA])
	}
}

// serve serves on ln until ctx ends, then shuts down, giving calls in
// flight 5s.
func serve(ctx context.Context, srv *http.Server, ln net.Listener, useTLS bool) error {
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
