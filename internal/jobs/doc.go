// Package jobs consumes fetch requests from JetStream and orchestrates each
// fetch: parse and validate the request, call the Skattekonto API, diff the
// answers against the account's stored state, and commit the events and the
// new state exactly once before acknowledging the request.
//
// One request reads top to bottom in these files:
//
//   - worker.go: Run pulls request messages and hands each to handle.
//   - message.go: handle parses the request (request.go), answers an
//     invalid one, and settles the message once its verdict is known.
//   - queue.go: takePart joins the account's queue; one round of
//     requests at a time per account, coalesced into one fetch.
//   - fetch.go: serve gives each member of a round its verdict: runFetch
//     loads the account's state (members it records as answered drop
//     out), then plan.go (what to call), call.go (the API), commit.go
//     (store, all or nothing, what diff.go made of the answers; again
//     after a conflict, within the same delivery); giveUp answers the
//     members whose deliveries ran out.
//   - outcome.go and trace.go: how the handling ended, in one table of
//     outcomes with their metric class and log level, and its log line.
//
// Beside the path: access.go (access problems for readiness and
// AccessProblem events), convert.go and body.go (API answers and request
// bodies as events carry them), hooks.go (where tests step in).
package jobs
