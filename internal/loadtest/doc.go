// Package loadtest drives skattekonto-events end to end: it runs NATS
// (embedded, single or a three-node cluster) and the API simulator,
// starts worker processes, enqueues fetch requests and measures
// throughput, latency, API calls, CPU, memory and storage (Run); it
// kills workers and NATS servers at random moments and then checks the
// stream against the simulator's own record (Crash); and it sends bursts
// of requests to several workers, with kills and faults injected on real
// connections through an embedded Toxiproxy (cuts mid-commit, latency,
// bandwidth, API resets, a partition, a full storage), then checks that
// every request has exactly one answer (Burst, BurstSuite).
package loadtest
