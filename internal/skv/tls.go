package skv

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// certCheckInterval is how often the certificate files are checked for a
// change at most.
const certCheckInterval = 5 * time.Second

// certReloader serves the client certificate and re-reads CertFile and
// KeyFile when their modification time or size changes, so a rotated
// Kubernetes Secret is picked up without a restart. A failed reload (files
// half written) keeps the previous certificate and tries again later.
type certReloader struct {
	certFile, keyFile string
	interval          time.Duration
	now               func() time.Time

	mu        sync.Mutex
	cert      *tls.Certificate
	stamp     [2]fileStamp
	lastCheck time.Time
}

type fileStamp struct {
	mod  time.Time
	size int64
}

func newCertReloader(certFile, keyFile string) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, interval: certCheckInterval, now: time.Now}
	stamp, err := r.stat()
	if err != nil {
		return nil, err
	}
	if err := r.load(stamp); err != nil {
		return nil, err
	}
	r.lastCheck = r.now()
	return r, nil
}

func (r *certReloader) stat() ([2]fileStamp, error) {
	var st [2]fileStamp
	for i, name := range []string{r.certFile, r.keyFile} {
		fi, err := os.Stat(name)
		if err != nil {
			return st, fmt.Errorf("client certificate: %w", err)
		}
		st[i] = fileStamp{mod: fi.ModTime(), size: fi.Size()}
	}
	return st, nil
}

// load reads the key pair; r.mu is held or r is not yet shared.
func (r *certReloader) load(stamp [2]fileStamp) error {
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("client certificate: %w", err)
	}
	if cert.Leaf == nil {
		leaf, err := x509.ParseCertificate(cert.Certificate[0])
		if err != nil {
			return fmt.Errorf("client certificate: %w", err)
		}
		cert.Leaf = leaf
	}
	r.cert, r.stamp = &cert, stamp
	return nil
}

// current returns the certificate, reloading it first if the files changed
// and the last check is at least interval ago.
func (r *certReloader) current() *tls.Certificate {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := r.now(); now.Sub(r.lastCheck) >= r.interval {
		r.lastCheck = now
		if stamp, err := r.stat(); err == nil && stamp != r.stamp {
			_ = r.load(stamp) // on failure keep the old one, retry next time
		}
	}
	return r.cert
}

func (r *certReloader) getClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return r.current(), nil
}

// newTransport builds the HTTP transport for the API and token calls:
// TLS 1.2 or newer, the system roots plus caFile, and the client
// certificate from r when r is not nil.
func newTransport(caFile string, r *certReloader, timeout time.Duration) (*http.Transport, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("skv config: CAFile: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("skv config: CAFile: no PEM certificates in %s", caFile)
		}
		tc.RootCAs = pool
	}
	if r != nil {
		tc.GetClientCertificate = r.getClientCertificate
	}
	dialer := &net.Dialer{Timeout: min(timeout, 30*time.Second), KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         dialer.DialContext,
		TLSClientConfig:     tc,
		TLSHandshakeTimeout: min(timeout, 15*time.Second),
		ForceAttemptHTTP2:   true,
		// Keep a connection for every concurrent fetch (the worker runs
		// WORKER_CONCURRENCY at once): dialling anew, and over TLS
		// handshaking anew, per call costs more than the call.
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}, nil
}

// CertificateExpiry returns when the client certificate in use expires
// (the leaf's NotAfter), reloading it first if its files changed. It
// returns ErrNoCertificate when none is configured.
func (c *Client) CertificateExpiry() (time.Time, error) {
	if c.certs == nil {
		return time.Time{}, ErrNoCertificate
	}
	return c.certs.current().Leaf.NotAfter, nil
}
