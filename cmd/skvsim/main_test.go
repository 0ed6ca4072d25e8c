package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/idnr"
	"github.com/skattekonto-events/skattekonto-events/internal/sim"
	"github.com/skattekonto-events/skattekonto-events/internal/skv"
	"github.com/skattekonto-events/skattekonto-events/internal/testlog"
)

// startRun starts run and returns the root URL it printed.
func startRun(t *testing.T, args ...string) (root string, out *testlog.Buffer, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out = &testlog.Buffer{}
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

// envValue returns the value of "export NAME=value" in out.
func envValue(out, name string) string {
	_, rest, ok := strings.Cut(out, "export "+name+"=")
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, "\n")
	return strings.Trim(v, "'")
}

func TestRunKeysOnly(t *testing.T) {
	root, out, stop := startRun(t, "-addr", "127.0.0.1:0", "-tls=false", "-keys-only")
	defer stop()
	for _, want := range []string{"export SKV_ENV=enkel", "SKV_BASE_URL=", "SKV_CLIENT_SECRET="} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "SKV_TOKEN_URL") {
		t.Errorf("keys-only output names a token URL:\n%s", out.String())
	}
	// A client with the printed settings, keys only, never asks for a token.
	c, err := skv.New(skv.Config{BaseURL: envValue(out.String(), "SKV_BASE_URL"), ClientID: envValue(out.String(), "SKV_CLIENT_ID"),
		ClientSecret: envValue(out.String(), "SKV_CLIENT_SECRET"), KeysOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, _, err := c.Saldo(ctx, idnr.MustParse(sim.DemoAB)); err != nil {
		t.Errorf("saldo: %v", err)
	}
	if _, _, err := c.Transaktioner(ctx, idnr.MustParse(sim.DemoAB), ""); err != nil {
		t.Errorf("transaktioner: %v", err)
	}
	var calls struct {
		Calls map[string]int `json:"calls"`
	}
	resp, err := http.Get(root + "/admin/calls")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&calls); err != nil {
		t.Fatal(err)
	}
	if calls.Calls[sim.OpToken] != 0 || calls.Calls[sim.OpSaldo] != 1 || calls.Calls[sim.OpTransaktioner] != 1 {
		t.Errorf("calls %v, want saldo and transaktioner once and no token", calls.Calls)
	}
}

func TestRunPathAndSwitches(t *testing.T) {
	root, out, stop := startRun(t, "-addr", "127.0.0.1:0", "-tls=false", "-seed-demo=false",
		"-path", "utbetalningssparrar=/skattekonton/{omfragad}/sparrar", "-quiet-upcoming",
		"-service-window", "clock", "-service-window-answer", "http503")
	defer stop()
	if got := envValue(out.String(), "SKV_PATH_UTBETALNINGSSPARRAR"); got != "/skattekonton/{omfragad}/sparrar" {
		t.Errorf("SKV_PATH_UTBETALNINGSSPARRAR %q:\n%s", got, out.String())
	}
	resp, err := http.Get(root + "/admin/settings")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got sim.Settings
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	want := sim.ServiceWindow{Mode: sim.WindowClock, Kind: sim.FaultHTTP503}
	if got.Paths[sim.OpUtbetalningssparrar] != "/skattekonton/{omfragad}/sparrar" || !got.QuietUpcoming || got.ServiceWindow != want {
		t.Errorf("settings %+v", got)
	}
}

func TestRunRefusesBadSettings(t *testing.T) {
	for _, args := range [][]string{
		{"-path", "utbetalningssparrar"},
		{"-path", "utbetalningssparrar=/no/placeholder"},
		{"-path", "kontoutdrag=/x/{omfragad}"},
		{"-service-window", "sometimes"},
		{"-service-window-answer", "felkod3"},
	} {
		err := run(context.Background(), append([]string{"-addr", "127.0.0.1:0", "-tls=false", "-seed-demo=false"}, args...), &bytes.Buffer{})
		if err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

func TestRunKeysOnlyTLSWithoutClientCertificate(t *testing.T) {
	dir := t.TempDir()
	_, out, stop := startRun(t, "-addr", "127.0.0.1:0", "-certs-dir", dir, "-keys-only")
	defer stop()
	if strings.Contains(out.String(), "SKV_CERT_FILE") || envValue(out.String(), "SKV_CA_FILE") == "" {
		t.Errorf("keys-only TLS output:\n%s", out.String())
	}
	c, err := skv.New(skv.Config{BaseURL: envValue(out.String(), "SKV_BASE_URL"), ClientID: sim.DefaultClientID,
		ClientSecret: sim.DefaultClientSecret, CAFile: envValue(out.String(), "SKV_CA_FILE"), KeysOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Utbetalningskonto(context.Background(), idnr.MustParse(sim.DemoAB)); err != nil {
		t.Errorf("call without a client certificate: %v", err)
	}
}
