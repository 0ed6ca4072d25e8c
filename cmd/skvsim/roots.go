package main

// The simulator ships in the same FROM scratch image as the worker; like the
// other binaries there it carries Mozilla's roots (from x/crypto) for any TLS
// it verifies, used when the system has none (see cmd/worker/roots.go).
import _ "golang.org/x/crypto/x509roots/fallback"
