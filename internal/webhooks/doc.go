// Package webhooks delivers stored events to HTTP endpoints, signed per
// Standard Webhooks.
//
// The endpoints come from a JSON file (WEBHOOKS_FILE, see LoadFile), read
// again every few seconds so that a changed file takes effect without a
// restart. Each endpoint has its own durable consumer on the events
// stream, so a slow or dead endpoint delays no other. Its consumer lets one
// event out at a time (MaxAckPending 1): an endpoint receives the events in
// the order they were stored, the events of each account included, whichever
// worker replica delivers them.
//
// Each delivery is a POST in the CloudEvents HTTP binding's structured mode:
// the body is the event exactly as stored, with the headers webhook-id (the
// event id), webhook-timestamp and webhook-signature (Send). A 2xx answer
// acknowledges the event; anything else is retried with exponential backoff
// and jitter (Backoff) until the event is older than the endpoint's retry
// time, when it moves to the endpoint's dead-letter subject and an
// AccessProblem of kind webhook-failing is published once per endpoint and
// day. Redirects are not followed.
//
// No secret and no URL query reaches a log line or an error: endpoints are
// shown by name and by scheme, host and path (Endpoint.Target).
//
// Files: file.go reads and checks the endpoints' file, secret.go signs,
// send.go makes one delivery, retry.go decides what follows a failed one,
// deliverer.go runs the endpoints and follows the file, consumer.go is one
// endpoint's delivery loop, deadletter.go gives up on an event, replay.go
// re-delivers from the stream, testevent.go is the event a test delivery
// sends.
package webhooks
