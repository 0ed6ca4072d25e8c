// Package loadtest drives skattekonto-events end to end: it runs NATS
// (embedded, single or a three-node cluster) and the API simulator,
// starts worker processes, enqueues fetch requests and measures
// throughput, latency, API calls, CPU, memory and storage (Run); and it
// kills workers and NATS servers at random moments and then checks the
// stream against the simulator's own record (Crash).
package loadtest
