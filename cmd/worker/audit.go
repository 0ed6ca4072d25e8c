package main

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/skattekonto-events/skattekonto-events/internal/audit"
	"github.com/skattekonto-events/skattekonto-events/internal/config"
	"github.com/skattekonto-events/skattekonto-events/internal/jobs"
)

// openEvidence opens the audit bucket that keeps every API answer, or
// returns nil when AUDIT_ENABLED is false.
func openEvidence(ctx context.Context, cfg *config.Config, js jetstream.JetStream) (jobs.Evidence, error) {
	if !cfg.AuditEnabled {
		return nil, nil
	}
	s, err := audit.Open(ctx, js, audit.Config{MaxAge: cfg.AuditMaxAge, Replicas: cfg.StreamReplicas, NoCreate: !cfg.StreamsCreate})
	if err != nil {
		return nil, err
	}
	return s, nil
}
