package main

// The container image is FROM scratch and has no CA bundle: the CLI carries
// Mozilla's roots (from x/crypto) for TLS to NATS, used when the system has
// none (see cmd/worker/roots.go).
import _ "golang.org/x/crypto/x509roots/fallback"
