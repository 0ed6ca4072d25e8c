package skv

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// testCA is a throwaway certificate authority for client certificates.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key}
}

// issue writes a client certificate with the given serial and expiry and
// its key as PEM files under dir, replacing earlier ones.
func (ca *testCA) issue(t *testing.T, dir string, serial int64, notAfter time.Time) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: "Testbolaget AB", SerialNumber: "165566778899"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "EC PRIVATE KEY", keyDER)
	return certFile, keyFile
}

func writePEM(t *testing.T, name, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(name, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// newMTLSServer starts a TLS server requiring client certificates from ca
// and records the serial of each client certificate it sees.
func newMTLSServer(t *testing.T, ca *testCA) (*fakeSKV, *httptest.Server, string, *serials) {
	t.Helper()
	f := &fakeSKV{t: t, api: answer(200, saldoBody)}
	seen := &serials{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) > 0 {
			seen.add(r.TLS.PeerCertificates[0].SerialNumber.Int64())
		}
		f.ServeHTTP(w, r)
	}))
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	caFile := filepath.Join(t.TempDir(), "server-ca.pem")
	writePEM(t, caFile, "CERTIFICATE", srv.Certificate().Raw)
	return f, srv, caFile, seen
}

type serials struct {
	mu sync.Mutex
	s  []int64
}

func (s *serials) add(v int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.s = append(s.s, v)
}

func (s *serials) last() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.s) == 0 {
		return 0
	}
	return s.s[len(s.s)-1]
}

func TestMutualTLS(t *testing.T) {
	ca := newTestCA(t)
	f, srv, caFile, seen := newMTLSServer(t, ca)
	certFile, keyFile := ca.issue(t, t.TempDir(), 42, time.Now().Add(12*time.Hour))

	cfg := testConfig(srv)
	cfg.CAFile, cfg.CertFile, cfg.KeyFile = caFile, certFile, keyFile
	c := newTestClient(t, cfg)
	if _, _, err := c.Saldo(context.Background(), testOrg); err != nil {
		t.Fatalf("Saldo with client certificate: %v", err)
	}
	if f.tokenCount.Load() != 1 || seen.last() != 42 {
		t.Errorf("token requests %d, last client certificate serial %d; want 1 and 42", f.tokenCount.Load(), seen.last())
	}
}

func TestMutualTLSRefusedWithoutCertificate(t *testing.T) {
	ca := newTestCA(t)
	f, srv, caFile, _ := newMTLSServer(t, ca)
	cfg := testConfig(srv)
	cfg.CAFile = caFile
	cfg.MaxAttempts = 1
	c := newTestClient(t, cfg)
	_, tr, err := c.Saldo(context.Background(), testOrg)
	if err == nil {
		t.Fatal("Saldo without a client certificate succeeded")
	}
	if f.tokenCount.Load() != 0 || tr.Attempts() != 0 {
		t.Errorf("token requests %d, API calls %d; want none to get through", f.tokenCount.Load(), tr.Attempts())
	}
	if _, err := c.CertificateExpiry(); !errors.Is(err, ErrNoCertificate) {
		t.Errorf("CertificateExpiry without certificate: %v, want ErrNoCertificate", err)
	}
}

func TestUntrustedServerNotRetried(t *testing.T) {
	ca := newTestCA(t)
	_, srv, _, _ := newMTLSServer(t, ca)
	cfg := testConfig(srv) // no CAFile: the test server is not trusted
	c := newTestClient(t, cfg)
	err := c.Token(context.Background())
	if !errors.Is(err, ErrCertificate) || Retryable(err) {
		t.Errorf("Token against an untrusted server: %v (Retryable %v), want non-retryable ErrCertificate", err, Retryable(err))
	}
}

func TestCertificateReload(t *testing.T) {
	ca := newTestCA(t)
	_, srv, caFile, seen := newMTLSServer(t, ca)
	dir := t.TempDir()
	firstExpiry := time.Now().Add(10 * time.Hour).Truncate(time.Second)
	certFile, keyFile := ca.issue(t, dir, 1, firstExpiry)

	cfg := testConfig(srv)
	cfg.CAFile, cfg.CertFile, cfg.KeyFile = caFile, certFile, keyFile
	c := newTestClient(t, cfg)
	c.certs.interval = 0 // check the files on every use
	exp, err := c.CertificateExpiry()
	if err != nil || !exp.Equal(firstExpiry) {
		t.Fatalf("CertificateExpiry = %v, %v; want %v", exp, err, firstExpiry)
	}
	if _, _, err := c.Saldo(context.Background(), testOrg); err != nil {
		t.Fatal(err)
	}
	if seen.last() != 1 {
		t.Fatalf("client certificate serial %d, want 1", seen.last())
	}

	// Rotate: new files, and a distinct mtime in case the clock is coarse.
	secondExpiry := firstExpiry.Add(24 * time.Hour)
	ca.issue(t, dir, 2, secondExpiry)
	later := time.Now().Add(time.Minute)
	for _, name := range []string{certFile, keyFile} {
		if err := os.Chtimes(name, later, later); err != nil {
			t.Fatal(err)
		}
	}
	exp, err = c.CertificateExpiry()
	if err != nil || !exp.Equal(secondExpiry) {
		t.Fatalf("CertificateExpiry after rotation = %v, %v; want %v", exp, err, secondExpiry)
	}
	c.hc.CloseIdleConnections() // the new certificate is used on new connections
	if _, _, err := c.Saldo(context.Background(), testOrg); err != nil {
		t.Fatal(err)
	}
	if seen.last() != 2 {
		t.Errorf("client certificate serial after rotation %d, want 2", seen.last())
	}

	// A half-written rotation keeps the working certificate.
	if err := os.WriteFile(keyFile, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if exp, err = c.CertificateExpiry(); err != nil || !exp.Equal(secondExpiry) {
		t.Errorf("CertificateExpiry with a broken key file = %v, %v; want the previous %v", exp, err, secondExpiry)
	}
}
