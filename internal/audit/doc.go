// Package audit keeps every API answer as received, content-addressed,
// in a NATS Object Store bucket (contract.AuditBucket), and reads it back.
//
// An answer's object is named by the SHA-256 of its bytes in hex, so
// identical answers are stored once; its metadata say which operation,
// HTTP status, correlation id and time first brought it; a Store
// remembers the answers it knows are kept, so an answer that comes again
// costs no round trip. The worker
// keeps a fetch's answers before it commits the events they explain, and
// FetchCompleted.data.calls[].sha256 names them (the closing events are
// the index of which call brought which answer), so no event exists
// without its evidence. Verify re-runs the diff over the kept answers and
// reports the events that do not follow from them.
package audit
