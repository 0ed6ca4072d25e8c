package contract

import (
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

// FetchStreamConfig is the configuration of the fetch request stream: a
// work queue, each request removed once answered. replicas <= 0 means 1.
func FetchStreamConfig(replicas int) jetstream.StreamConfig {
	if replicas <= 0 {
		replicas = 1
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
	}
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
}

// ConsumerConfig is the durable pull consumer on FetchStream that the
// workers share.
func ConsumerConfig(s ConsumerSettings) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       s.Durable,
		Description:   "skattekonto-events workers",
		FilterSubject: FetchPrefix + ">",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       s.AckWait,
		MaxDeliver:    s.MaxDeliver,
		MaxAckPending: max(1000, 4*s.Concurrency),
		Replicas:      s.Replicas,
	}
}
