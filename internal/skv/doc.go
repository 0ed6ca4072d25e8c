// Package skv is a client for Skatteverket's "Skattekonto via API" v2: the
// four read operations, OAuth2 client credentials over mutual TLS (or the
// gateway keys alone, for the simple test service), typed felkod errors,
// retries with backoff and a client-side rate limit.
//
// The first contact with the real service is made safe: every
// operation's path is configuration (Config.Paths); a path that does not
// exist (404 without a felkod) is ErrOperationUnavailable, asked once;
// and answers that differ from the service description — fields the
// client does not know, missing mandatory fields, the payout blocks under
// an unknown key — are reported as Drift on the Trace and to a
// DriftObserver, never swallowed. Unknown fields never fail an operation;
// a missing field fails only an operation that cannot do without it
// (ErrMissingField).
package skv
