// Package jobs consumes fetch requests from JetStream and orchestrates each
// fetch: parse and validate the request, call the Skattekonto API, diff the
// answers against the account's stored state, and commit the events and the
// new state exactly once before acknowledging the request.
package jobs
