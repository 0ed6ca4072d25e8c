package contract

import (
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// AuditBucket is the Object Store bucket that keeps every API answer as
// received, named by the SHA-256 of its bytes (hex). Its stream is "OBJ_" + the
// bucket's name; the raw answers hold personal data, so only the operator
// and the worker may use its subjects ($O.SKATTEKONTO_EVIDENCE.>).
const AuditBucket = "SKATTEKONTO_EVIDENCE"

// AuditSettings are what a deployment chooses of the audit bucket. The
// zero value means the defaults.
type AuditSettings struct {
	// Bucket name; default AuditBucket.
	Bucket string
	// MaxAge of the kept answers; default 0 (kept forever).
	MaxAge time.Duration
	// Replicas; default (when 0) 1.
	Replicas int
}

// AuditBucketConfig is the configuration of the audit bucket: file
// storage, the answers' retention as configured.
func AuditBucketConfig(s AuditSettings) jetstream.ObjectStoreConfig {
	if s.Bucket == "" {
		s.Bucket = AuditBucket
	}
	if s.Replicas == 0 {
		s.Replicas = 1
	}
	return jetstream.ObjectStoreConfig{
		Bucket:      s.Bucket,
		Description: "skattekonto-events: every API answer as received, by SHA-256",
		TTL:         s.MaxAge,
		Storage:     jetstream.FileStorage,
		Replicas:    s.Replicas,
		Compression: true,
	}
}
