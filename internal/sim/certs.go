package sim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Certs holds a throwaway CA, a server certificate and a client
// certificate, PEM-encoded. The CA key is not kept.
type Certs struct {
	CACertPEM, ServerCertPEM, ServerKeyPEM, ClientCertPEM, ClientKeyPEM []byte
}

// Names of the files written by WriteFiles and read by LoadCerts; they
// are also the keys of the map WriteFiles returns.
const (
	FileCA        = "ca.pem"
	FileServer    = "server.pem"
	FileServerKey = "server-key.pem"
	FileClient    = "client.pem"
	FileClientKey = "client-key.pem"
)

// GenerateCerts makes a throwaway CA (ECDSA P-256), a server certificate
// for hosts plus 127.0.0.1, ::1 and localhost, and a client certificate
// whose Subject carries clientOrg (default 165781006662) as serialNumber,
// like a Swedish organisation certificate. validFor defaults to a year.
func GenerateCerts(hosts []string, clientOrg string, validFor time.Duration) (Certs, error) {
	return GenerateCertsExpiring(hosts, clientOrg, validFor, 0)
}

// GenerateCertsExpiring is GenerateCerts with the client (organisation)
// certificate valid for clientValidFor instead (0: as long as the rest),
// to try how a deployment reports a certificate near expiry.
func GenerateCertsExpiring(hosts []string, clientOrg string, validFor, clientValidFor time.Duration) (Certs, error) {
	if validFor <= 0 {
		validFor = 365 * 24 * time.Hour
	}
	if clientOrg == "" {
		clientOrg = DemoAB
	}
	notBefore := time.Now().Add(-time.Hour)
	notAfter := notBefore.Add(validFor + time.Hour)

	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Certs{}, fmt.Errorf("generate CA key: %w", err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "skvsim throwaway CA", Organization: []string{"skattekonto-events simulator"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return Certs{}, fmt.Errorf("create CA certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return Certs{}, err
	}

	clientNotAfter := notAfter
	if clientValidFor > 0 {
		clientNotAfter = notBefore.Add(clientValidFor + time.Hour)
	}
	leaf := func(tmpl *x509.Certificate, notAfter time.Time) (certPEM, keyPEM []byte, err error) {
		tmpl.NotBefore, tmpl.NotAfter = notBefore, notAfter
		return signLeaf(tmpl, ca, caKey)
	}

	srv := serverTemplate(hosts)
	var c Certs
	c.CACertPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	if c.ServerCertPEM, c.ServerKeyPEM, err = leaf(srv, notAfter); err != nil {
		return Certs{}, fmt.Errorf("create server certificate: %w", err)
	}
	cli := &x509.Certificate{
		Subject: pkix.Name{
			CommonName:   "skvsim client " + clientOrg,
			Organization: []string{"Simulerad organisation " + clientOrg},
			SerialNumber: clientOrg,
			Country:      []string{"SE"},
		},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if c.ClientCertPEM, c.ClientKeyPEM, err = leaf(cli, clientNotAfter); err != nil {
		return Certs{}, fmt.Errorf("create client certificate: %w", err)
	}
	return c, nil
}

// signLeaf creates a key and a certificate from tmpl (its validity set)
// signed by the CA, both PEM-encoded.
func signLeaf(tmpl, ca *x509.Certificate, caKey *ecdsa.PrivateKey) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl.SerialNumber = serial()
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

// serverTemplate is the server certificate's template: valid for the
// loopback names and hosts.
func serverTemplate(hosts []string) *x509.Certificate {
	srv := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "skvsim"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	for _, h := range hosts {
		if h == "" || h == "localhost" {
			continue
		}
		if ip := net.ParseIP(h); ip != nil {
			if !ip.IsLoopback() {
				srv.IPAddresses = append(srv.IPAddresses, ip)
			}
		} else {
			srv.DNSNames = append(srv.DNSNames, h)
		}
	}
	return srv
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n.Add(n, big.NewInt(1))
}

// WriteFiles writes ca.pem, server.pem, server-key.pem, client.pem and
// client-key.pem (keys with mode 0600) into dir, creating it, and
// returns their paths keyed by file name.
func (c Certs) WriteFiles(dir string) (map[string]string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	files := []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{FileCA, c.CACertPEM, 0o644},
		{FileServer, c.ServerCertPEM, 0o644},
		{FileServerKey, c.ServerKeyPEM, 0o600},
		{FileClient, c.ClientCertPEM, 0o644},
		{FileClientKey, c.ClientKeyPEM, 0o600},
	}
	paths := make(map[string]string, len(files))
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if err := os.WriteFile(p, f.data, f.mode); err != nil {
			return nil, err
		}
		if err := os.Chmod(p, f.mode); err != nil { // WriteFile keeps an existing file's mode
			return nil, err
		}
		paths[f.name] = p
	}
	return paths, nil
}

// LoadCerts reads the files written by WriteFiles.
func LoadCerts(dir string) (Certs, error) {
	var c Certs
	for _, f := range []struct {
		name string
		dst  *[]byte
	}{
		{FileCA, &c.CACertPEM}, {FileServer, &c.ServerCertPEM}, {FileServerKey, &c.ServerKeyPEM},
		{FileClient, &c.ClientCertPEM}, {FileClientKey, &c.ClientKeyPEM},
	} {
		b, err := os.ReadFile(filepath.Join(dir, f.name))
		if err != nil {
			return Certs{}, err
		}
		*f.dst = b
	}
	return c, nil
}

// ServerNotAfter returns the expiry of the server certificate.
func (c Certs) ServerNotAfter() (time.Time, error) {
	b, _ := pem.Decode(c.ServerCertPEM)
	if b == nil {
		return time.Time{}, errors.New("server certificate: no PEM block")
	}
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return time.Time{}, err
	}
	return cert.NotAfter, nil
}

// ServerTLSConfig serves the server certificate and requires client
// certificates signed by the CA; TLS 1.2 at least.
func (c Certs) ServerTLSConfig() (*tls.Config, error) {
	cert, err := tls.X509KeyPair(c.ServerCertPEM, c.ServerKeyPEM)
	if err != nil {
		return nil, fmt.Errorf("server key pair: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(c.CACertPEM) {
		return nil, errors.New("CA certificate: no certificate in PEM")
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	}, nil
}

// ClientTLSConfig trusts the CA and presents the client certificate.
func (c Certs) ClientTLSConfig() (*tls.Config, error) {
	cert, err := tls.X509KeyPair(c.ClientCertPEM, c.ClientKeyPEM)
	if err != nil {
		return nil, fmt.Errorf("client key pair: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(c.CACertPEM) {
		return nil, errors.New("CA certificate: no certificate in PEM")
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}
