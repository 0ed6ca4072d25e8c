package contract

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Stream names.
const (
	// FetchStream holds fetch requests and the watch list's schedules.
	FetchStream = "SKATTEKONTO_FETCH"
	// EventsStream holds the events and the accounts' states.
	EventsStream = "SKATTEKONTO_EVENTS"
)

// DefaultPartitions is how many partitions the fetch stream spreads the
// accounts over unless a deployment chooses otherwise: each partition is
// served by one worker replica at a time, so it bounds the replicas that
// share the work (docs/operations.md).
const DefaultPartitions = 8

// MaxPartitions bounds the partitions a deployment may choose.
const MaxPartitions = 256

// FetchStreamConfig is PartitionedFetchStreamConfig with DefaultPartitions.
func FetchStreamConfig(replicas int) jetstream.StreamConfig {
	return PartitionedFetchStreamConfig(replicas, DefaultPartitions)
}

// PartitionedFetchStreamConfig is the configuration of the fetch request
// stream: a work queue, each request removed once answered. A subject
// transform stores a request published to skattekonto.fetch.<omfragad>
// as skattekonto.fetch.<p>.<omfragad>, p one of partitions chosen by a
// hash of the account, so that every request of an account (and every
// tick of its schedules) lands in the same partition. replicas <= 0
// means 1, partitions <= 0 DefaultPartitions.
func PartitionedFetchStreamConfig(replicas, partitions int) jetstream.StreamConfig {
	if replicas <= 0 {
		replicas = 1
	}
	if partitions <= 0 {
		partitions = DefaultPartitions
	}
	return jetstream.StreamConfig{
		Name:        FetchStream,
		Description: "skattekonto-events: fetch requests",
		Subjects:    []string{FetchPrefix + ">", SchedulePrefix + ">"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
		Discard:     jetstream.DiscardOld,
		MaxMsgSize:  MaxFetchRequestSize + 1024,
		// Recurring fetches are JetStream message schedules on
		// skattekonto.schedule.<omfragad>.<name> targeting the fetch subject.
		AllowMsgSchedules: true,
		SubjectTransform:  &jetstream.SubjectTransformConfig{Source: FetchPrefix + "*", Destination: partitionDest(partitions)},
	}
}

func partitionDest(n int) string {
	return FetchPrefix + "{{partition(" + strconv.Itoa(n) + ",1)}}.{{wildcard(1)}}"
}

// StreamPartitions returns the number of partitions of a fetch stream's
// configuration, or 0 when the stream has no partitioning transform (a
// stream made before partitions: every request then stays on
// skattekonto.fetch.<omfragad>, served by the legacy consumer).
func StreamPartitions(c jetstream.StreamConfig) int {
	t := c.SubjectTransform
	if t == nil || t.Source != FetchPrefix+"*" {
		return 0
	}
	rest, ok := strings.CutPrefix(t.Destination, FetchPrefix+"{{partition(")
	if !ok {
		return 0
	}
	num, ok := strings.CutSuffix(rest, ",1)}}.{{wildcard(1)}}")
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(num)
	if err != nil || n <= 0 || n > MaxPartitions || partitionDest(n) != t.Destination {
		return 0
	}
	return n
}

// PartitionFilter is the subject filter of partition p's requests.
func PartitionFilter(p int) string { return FetchPrefix + strconv.Itoa(p) + ".*" }

// LegacyFilter is the subject filter of requests stored before the stream
// was partitioned (and of every request on a stream without the
// transform): skattekonto.fetch.<omfragad>.
const LegacyFilter = FetchPrefix + "*"

// PartitionConsumer is the name of partition p's consumer of the workers
// whose legacy consumer is durable (Durable by default):
// skattekonto-worker-0, skattekonto-worker-1, …
func PartitionConsumer(durable string, p int) string { return fmt.Sprintf("%s-%d", durable, p) }

// PriorityGroup is the priority group the workers pull in from each
// partition's consumer; the server pins it to one of them at a time.
const PriorityGroup = "workers"

// RequestSubject returns the subject a fetch request was published to,
// given the subject it is stored under: skattekonto.fetch.<p>.<omfragad>
// gives skattekonto.fetch.<omfragad>; a subject without a partition is
// returned as it is.
func RequestSubject(stored string) string {
	rest, ok := strings.CutPrefix(stored, FetchPrefix)
	if !ok {
		return stored
	}
	p, acct, ok := strings.Cut(rest, ".")
	if !ok || strings.Contains(acct, ".") {
		return stored
	}
	if _, err := strconv.Atoi(p); err != nil {
		return stored
	}
	return FetchPrefix + acct
}

// EventsStreamSettings are what a deployment chooses of the events
// stream. The zero value means the defaults.
type EventsStreamSettings struct {
	// Name of the stream; default EventsStream.
	Name string
	// Replicas; default (when 0) 1.
	Replicas int
	// Duplicates is the de-duplication window for Nats-Msg-Id; default
	// (when 0) 10 minutes.
	Duplicates time.Duration
	// MaxAge of events; default 0 (kept forever).
	MaxAge time.Duration
}

// EventsStreamConfig is the configuration the events stream needs: atomic
// batches for events with their state, rollup so that each account keeps
// one state message, direct get to read it cheaply.
func EventsStreamConfig(s EventsStreamSettings) jetstream.StreamConfig {
	if s.Name == "" {
		s.Name = EventsStream
	}
	if s.Replicas == 0 {
		s.Replicas = 1
	}
	if s.Duplicates == 0 {
		s.Duplicates = 10 * time.Minute
	}
	return jetstream.StreamConfig{
		Name:               s.Name,
		Description:        "skattekonto-events: business events and per-account state",
		Subjects:           []string{EventsPrefix + ">", StatePrefix + ">"},
		Retention:          jetstream.LimitsPolicy,
		Storage:            jetstream.FileStorage,
		Replicas:           s.Replicas,
		Duplicates:         s.Duplicates,
		MaxAge:             s.MaxAge,
		AllowAtomicPublish: true,
		AllowRollup:        true,
		AllowDirect:        true,
		DenyDelete:         true,
	}
}

// ConsumerSettings are the workers' consumer settings, defaults already
// applied (the worker's configuration owns them).
type ConsumerSettings struct {
	Durable     string
	AckWait     time.Duration
	MaxDeliver  int
	Concurrency int
	Replicas    int
	// PinnedTTL is how long a partition stays pinned to a replica that
	// stopped pulling from it.
	PinnedTTL time.Duration
	// Partitions is how many partitions share the requests in hand.
	Partitions int
}

// maxAckPending bounds the requests a consumer hands out unacknowledged:
// what a worker holds at most (each one kept alive while it waits for a
// slot) is max(1000, 4×Concurrency) over all the partitions it serves, so
// a replica pinned to every partition holds no more than one consumer
// once let it (with 1000 per partition and 8 partitions, 10,000 queued
// requests took a worker to 330 MB).
func (s ConsumerSettings) maxAckPending() int {
	total := max(1000, 4*s.Concurrency)
	if s.Partitions <= 1 {
		return total
	}
	return max(16, (total+s.Partitions-1)/s.Partitions)
}

// ConsumerConfig is the durable pull consumer of partition p on
// FetchStream: the workers share it, and the server pins its priority
// group to one of them at a time (the others wait as hot standbys and
// one takes over when the pinned one stops pulling for PinnedTTL).
func ConsumerConfig(s ConsumerSettings, p int) jetstream.ConsumerConfig {
	c := LegacyConsumerConfig(s)
	c.Durable = PartitionConsumer(s.Durable, p)
	c.Description = fmt.Sprintf("skattekonto-events workers, partition %d", p)
	c.FilterSubject = PartitionFilter(p)
	c.PriorityPolicy = jetstream.PriorityPolicyPinned
	c.PriorityGroups = []string{PriorityGroup}
	c.PinnedTTL = s.PinnedTTL
	c.MaxAckPending = s.maxAckPending()
	return c
}

// LegacyConsumerConfig is the workers' consumer of unpartitioned requests
// (LegacyFilter): the one consumer of the streams made before partitions,
// kept while requests stored then wait, without a priority group.
func LegacyConsumerConfig(s ConsumerSettings) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       s.Durable,
		Description:   "skattekonto-events workers",
		FilterSubject: LegacyFilter,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       s.AckWait,
		MaxDeliver:    s.MaxDeliver,
		MaxAckPending: max(1000, 4*s.Concurrency),
		Replicas:      s.Replicas,
	}
}
