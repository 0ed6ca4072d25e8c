package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/sim"
)

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startRun starts run and returns the root URL it printed.
func startRun(t *testing.T, args ...string) (root string, out *syncBuffer, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out = &syncBuffer{}
	errc := make(chan error, 1)
	go func() { errc <- run(ctx, args, out) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, rest, ok := strings.Cut(out.String(), "listening on "); ok {
			root, _, _ = strings.Cut(rest, "\n")
			break
		}
		select {
		case err := <-errc:
			cancel()
			t.Fatalf("run ended early: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("run did not start:\n%s", out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	return root, out, func() error { cancel(); return <-errc }
}

func TestRunPlainHTTP(t *testing.T) {
	root, out, stop := startRun(t, "-addr", "127.0.0.1:0", "-tls=false")
	resp, err := http.Get(root + "/admin/accounts/" + sim.DemoAB)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("demo account: status %d", resp.StatusCode)
	}
	if err := stop(); err != nil {
		t.Errorf("run: %v", err)
	}
	for _, want := range []string{"SKV_BASE_URL=" + root + "/beskattning/skattekonto/v2", "SKV_TOKEN_URL=", "SKV_CLIENT_ID=sim-client", "skvsim stopped"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRunTLS(t *testing.T) {
	dir := t.TempDir()
	root, out, stop := startRun(t, "-addr", "127.0.0.1:0", "-certs-dir", dir, "-seed-demo=false")
	defer stop()
	certs, err := sim.LoadCerts(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := certs.ClientTLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	resp, err := client.Get(root + "/admin/accounts")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("status %d", resp.StatusCode)
	}
	// Without a client certificate the handshake fails.
	noCert := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: cfg.RootCAs}}}
	if resp, err := noCert.Get(root + "/admin/accounts"); err == nil {
		resp.Body.Close()
		t.Errorf("call without client certificate succeeded")
	}
	for _, want := range []string{"SKV_CERT_FILE=", "SKV_KEY_FILE=", "SKV_CA_FILE="} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

func TestRunRefusesPlainNonLoopback(t *testing.T) {
	err := run(context.Background(), []string{"-addr", "0.0.0.0:0", "-tls=false"}, &bytes.Buffer{})
	if err == nil {
		t.Fatal("plain HTTP on 0.0.0.0 was accepted")
	}
}
