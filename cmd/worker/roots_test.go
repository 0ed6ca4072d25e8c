package main

import (
	"crypto/x509"
	"os"
	"os/exec"
	"testing"
)

// TestFallbackRoots runs the test binary again on a "system" without a CA
// bundle (as in the scratch image) and checks that the worker still has
// roots to verify Skatteverket's and NATS's certificates with.
func TestFallbackRoots(t *testing.T) {
	if os.Getenv("ROOTS_TEST_CHILD") == "1" {
		pool, err := x509.SystemCertPool()
		if err != nil {
			t.Fatalf("SystemCertPool: %v", err)
		}
		if pool.Equal(x509.NewCertPool()) {
			t.Fatal("no CA roots without a system bundle: is golang.org/x/crypto/x509roots/fallback imported?")
		}
		return
	}
	empty := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestFallbackRoots$", "-test.count=1")
	cmd.Env = append(os.Environ(),
		"ROOTS_TEST_CHILD=1",
		"SSL_CERT_FILE="+empty+"/none.pem",
		"SSL_CERT_DIR="+empty,
	)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child without system roots: %v\n%s", err, out)
	}
}
