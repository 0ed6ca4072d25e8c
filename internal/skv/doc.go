// Package skv is a client for Skatteverket's "Skattekonto via API" v2: the
// four read operations, OAuth2 client credentials over mutual TLS, typed
// felkod errors, retries with backoff and a client-side rate limit.
package skv
