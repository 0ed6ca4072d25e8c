package main

// The container image is FROM scratch and has no CA bundle: the worker
// carries Mozilla's roots (from x/crypto) and uses them when the system has
// none, for TLS to Skatteverket's API and token endpoints and to NATS. Roots
// the system does have (a distro image, a mounted bundle, SSL_CERT_FILE)
// take precedence; GODEBUG=x509usefallbackroots=1 forces the embedded ones.
import _ "golang.org/x/crypto/x509roots/fallback"
