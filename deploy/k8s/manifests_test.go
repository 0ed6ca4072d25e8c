// Package k8s holds the Kubernetes manifests. Its tests keep the NACK
// stream and consumer resources in step with the configuration the code
// creates itself (contract.FetchStreamConfig, contract.EventsStreamConfig,
// jobs.Config.ConsumerConfig), and render every kustomization to check
// what the result means: whom the NetworkPolicy lets the worker reach and
// who may reach it, that selectors, ports, Secrets, the ServiceMonitor and
// KEDA find what they name, and that the alerts read real metrics.
package k8s

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go/jetstream"
	"go.yaml.in/yaml/v3"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/jobs"
	"github.com/skattekonto-events/skattekonto-events/internal/login"
)

// replicas is STREAM_REPLICAS in base/configmap.yaml.
const replicas = 3

// nackStream is the part of NACK's v1beta2 StreamSpec the project uses.
type nackStream struct {
	Name               string   `yaml:"name"`
	Description        string   `yaml:"description"`
	Subjects           []string `yaml:"subjects"`
	Retention          string   `yaml:"retention"`
	Storage            string   `yaml:"storage"`
	Replicas           int      `yaml:"replicas"`
	Discard            string   `yaml:"discard"`
	MaxMsgSize         int32    `yaml:"maxMsgSize"`
	MaxAge             string   `yaml:"maxAge"`
	DuplicateWindow    string   `yaml:"duplicateWindow"`
	AllowAtomicPublish bool     `yaml:"allowAtomicPublish"`
	AllowMsgSchedules  bool     `yaml:"allowMsgSchedules"`
	AllowRollup        bool     `yaml:"allowRollup"`
	AllowDirect        bool     `yaml:"allowDirect"`
	DenyDelete         bool     `yaml:"denyDelete"`
	SubjectTransform   *struct {
		Source string `yaml:"source"`
		Dest   string `yaml:"dest"`
	} `yaml:"subjectTransform"`
}

// nackConsumer is the part of NACK's v1beta2 ConsumerSpec the project uses.
type nackConsumer struct {
	StreamName    string `yaml:"streamName"`
	DurableName   string `yaml:"durableName"`
	Description   string `yaml:"description"`
	FilterSubject string `yaml:"filterSubject"`
	DeliverPolicy string `yaml:"deliverPolicy"`
	AckPolicy     string `yaml:"ackPolicy"`
	AckWait       string `yaml:"ackWait"`
	MaxDeliver    int    `yaml:"maxDeliver"`
	MaxAckPending int    `yaml:"maxAckPending"`
	Replicas      int    `yaml:"replicas"`
	// Priority groups: pinned_client on the workers' consumers.
	PriorityPolicy string   `yaml:"priorityPolicy"`
	PriorityGroups []string `yaml:"priorityGroups"`
	PinnedTTL      string   `yaml:"pinnedTtl"`
}

// nackKeyValue is the part of NACK's v1beta2 KeyValueSpec the project uses.
type nackKeyValue struct {
	Bucket         string `yaml:"bucket"`
	Description    string `yaml:"description"`
	History        uint8  `yaml:"history"`
	TTL            string `yaml:"ttl"`
	LimitMarkerTTL int64  `yaml:"limitMarkerTtl"` // nanoseconds
	Storage        string `yaml:"storage"`
	Replicas       int    `yaml:"replicas"`
}

// nackObjectStore is the part of NACK's v1beta2 ObjectStoreSpec the
// project uses.
type nackObjectStore struct {
	Bucket      string `yaml:"bucket"`
	Description string `yaml:"description"`
	TTL         string `yaml:"ttl"`
	MaxBytes    int64  `yaml:"maxBytes"`
	Storage     string `yaml:"storage"`
	Replicas    int    `yaml:"replicas"`
	Compression bool   `yaml:"compression"`
}

// specs decodes every document of file into a new T, strictly: a field
// the struct does not know fails the test.
func specs[T any](t *testing.T, file string) []T {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var out []T
	for {
		var doc struct {
			APIVersion string    `yaml:"apiVersion"`
			Kind       string    `yaml:"kind"`
			Metadata   yaml.Node `yaml:"metadata"`
			Spec       yaml.Node `yaml:"spec"`
		}
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if doc.APIVersion != "jetstream.nats.io/v1beta2" {
			t.Errorf("%s: apiVersion %q, want jetstream.nats.io/v1beta2", file, doc.APIVersion)
		}
		var spec T
		var buf bytes.Buffer
		if err := yaml.NewEncoder(&buf).Encode(&doc.Spec); err != nil {
			t.Fatal(err)
		}
		d := yaml.NewDecoder(&buf)
		d.KnownFields(true)
		if err := d.Decode(&spec); err != nil {
			t.Fatalf("%s %s: %v", file, doc.Kind, err)
		}
		out = append(out, spec)
	}
	return out
}

func duration(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

// toNACK renders a stream configuration the way the manifests spell it.
func toNACK(c jetstream.StreamConfig) nackStream {
	s := nackStream{
		Name:               c.Name,
		Description:        c.Description,
		Subjects:           c.Subjects,
		Retention:          map[jetstream.RetentionPolicy]string{jetstream.LimitsPolicy: "limits", jetstream.InterestPolicy: "interest", jetstream.WorkQueuePolicy: "workqueue"}[c.Retention],
		Storage:            map[jetstream.StorageType]string{jetstream.FileStorage: "file", jetstream.MemoryStorage: "memory"}[c.Storage],
		Replicas:           c.Replicas,
		MaxMsgSize:         c.MaxMsgSize,
		MaxAge:             duration(c.MaxAge),
		AllowAtomicPublish: c.AllowAtomicPublish,
		AllowMsgSchedules:  c.AllowMsgSchedules,
		AllowRollup:        c.AllowRollup,
		AllowDirect:        c.AllowDirect,
		DenyDelete:         c.DenyDelete,
	}
	s.Discard = "old"
	if c.Discard == jetstream.DiscardNew {
		s.Discard = "new"
	}
	if c.Duplicates != 0 {
		s.DuplicateWindow = c.Duplicates.String()
	}
	if t := c.SubjectTransform; t != nil {
		s.SubjectTransform = &struct {
			Source string `yaml:"source"`
			Dest   string `yaml:"dest"`
		}{t.Source, t.Destination}
	}
	return s
}

func TestStreamsMatchCode(t *testing.T) {
	got := map[string]nackStream{}
	for _, s := range specs[nackStream](t, "base/nack-streams.yaml") {
		if s.DuplicateWindow != "" {
			d, err := time.ParseDuration(s.DuplicateWindow)
			if err != nil {
				t.Fatalf("%s duplicateWindow: %v", s.Name, err)
			}
			s.DuplicateWindow = d.String()
		}
		got[s.Name] = s
	}
	want := map[string]nackStream{}
	for _, c := range []jetstream.StreamConfig{
		contract.FetchStreamConfig(replicas),
		contract.EventsStreamConfig(contract.EventsStreamSettings{Replicas: replicas}),
	} {
		want[c.Name] = toNACK(c)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("base/nack-streams.yaml differs from the code (-code +manifest):\n%s", diff)
	}
}

// TestConsumerMatchesCode checks the partitions' consumers against the
// ones the worker would create with the configmap's settings, in order.
func TestConsumerMatchesCode(t *testing.T) {
	cs := specs[nackConsumer](t, "base/nack-consumer.yaml")
	code := jobs.Config{Replicas: replicas}.ConsumerConfigs()
	if len(cs) != len(code) {
		t.Fatalf("consumers: got %d, want %d (one per partition)", len(cs), len(code))
	}
	for i, got := range cs {
		c := code[i]
		for _, d := range []*string{&got.AckWait, &got.PinnedTTL} {
			v, err := time.ParseDuration(*d)
			if err != nil {
				t.Fatalf("%s: %v", got.DurableName, err)
			}
			*d = v.String()
		}
		want := nackConsumer{
			StreamName:     contract.FetchStream,
			DurableName:    c.Durable,
			Description:    c.Description,
			FilterSubject:  c.FilterSubject,
			DeliverPolicy:  "all",
			AckPolicy:      "explicit",
			AckWait:        c.AckWait.String(),
			MaxDeliver:     c.MaxDeliver,
			MaxAckPending:  c.MaxAckPending,
			Replicas:       c.Replicas,
			PriorityPolicy: "pinned_client",
			PriorityGroups: c.PriorityGroups,
			PinnedTTL:      c.PinnedTTL.String(),
		}
		if c.AckPolicy != jetstream.AckExplicitPolicy || c.DeliverPolicy != jetstream.DeliverAllPolicy || c.PriorityPolicy != jetstream.PriorityPolicyPinned {
			t.Errorf("code's consumer: ack policy %v, deliver policy %v, priority policy %v; update this test and the manifest", c.AckPolicy, c.DeliverPolicy, c.PriorityPolicy)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("base/nack-consumer.yaml differs from the code (-code +manifest):\n%s", diff)
		}
	}
}

func TestLoginBucketMatchesCode(t *testing.T) {
	kvs := specs[nackKeyValue](t, "base/nack-kv.yaml")
	if len(kvs) != 1 {
		t.Fatalf("buckets: got %d, want 1", len(kvs))
	}
	got := kvs[0]
	ttl, err := time.ParseDuration(got.TTL)
	if err != nil {
		t.Fatalf("ttl: %v", err)
	}
	got.TTL = ttl.String()
	c := login.BucketConfig()
	want := nackKeyValue{
		Bucket:         c.Bucket,
		Description:    c.Description,
		History:        max(c.History, 1),
		TTL:            c.TTL.String(),
		LimitMarkerTTL: int64(c.LimitMarkerTTL),
		Storage:        map[jetstream.StorageType]string{jetstream.FileStorage: "file", jetstream.MemoryStorage: "memory"}[c.Storage],
		Replicas:       max(c.Replicas, 1),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("base/nack-kv.yaml differs from login.BucketConfig() (-code +manifest):\n%s", diff)
	}
}

// TestAuditBucketMatchesCode checks the audit bucket against the one the
// worker would create with the configmap's settings (AUDIT_MAX_AGE unset:
// 0, kept forever; STREAM_REPLICAS), since with STREAMS_AUTO_CREATE=false
// it only opens the bucket NACK made.
func TestAuditBucketMatchesCode(t *testing.T) {
	buckets := specs[nackObjectStore](t, "base/nack-audit.yaml")
	if len(buckets) != 1 {
		t.Fatalf("buckets: got %d, want 1", len(buckets))
	}
	got := buckets[0]
	if got.TTL != "" {
		ttl, err := time.ParseDuration(got.TTL)
		if err != nil {
			t.Fatalf("ttl: %v", err)
		}
		got.TTL = duration(ttl)
	}
	c := contract.AuditBucketConfig(contract.AuditSettings{Replicas: replicas})
	want := nackObjectStore{
		Bucket:      c.Bucket,
		Description: c.Description,
		TTL:         duration(c.TTL),
		MaxBytes:    c.MaxBytes,
		Storage:     map[jetstream.StorageType]string{jetstream.FileStorage: "file", jetstream.MemoryStorage: "memory"}[c.Storage],
		Replicas:    c.Replicas,
		Compression: c.Compression,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("base/nack-audit.yaml differs from contract.AuditBucketConfig (-code +manifest):\n%s", diff)
	}
	b, err := os.ReadFile("base/configmap.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Data map[string]string `yaml:"data"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("base/configmap.yaml: %v", err)
	}
	cm := doc.Data
	if v, ok := cm["AUDIT_MAX_AGE"]; ok && v != "0" && v != "0s" {
		t.Errorf("configmap AUDIT_MAX_AGE %q: the test compares the bucket for 0; update both", v)
	}
	if v := cm["STREAM_REPLICAS"]; v != strconv.Itoa(replicas) {
		t.Errorf("configmap STREAM_REPLICAS %q, want %d", v, replicas)
	}
}

// TestReaderConsumersSeeNoState checks the readers' consumers: on the
// events stream, filtered to events (never skattekonto.state.>), each
// named in deploy/nats/auth.conf's reader permissions.
func TestReaderConsumersSeeNoState(t *testing.T) {
	auth, err := os.ReadFile(filepath.Join("..", "nats", "auth.conf"))
	if err != nil {
		t.Fatal(err)
	}
	cs := specs[nackConsumer](t, "base/nack-reader-consumer.yaml")
	if len(cs) == 0 {
		t.Fatal("no reader consumer")
	}
	for _, c := range cs {
		if c.StreamName != contract.EventsStream {
			t.Errorf("reader consumer %s reads stream %s", c.DurableName, c.StreamName)
		}
		if !strings.HasPrefix(c.FilterSubject, contract.EventsPrefix) {
			t.Errorf("reader consumer %s filters %q: it must see events only, never %s>", c.DurableName, c.FilterSubject, contract.StatePrefix)
		}
		next := "$JS.API.CONSUMER.MSG.NEXT." + contract.EventsStream + "." + c.DurableName + `"`
		if !bytes.Contains(auth, []byte(next)) {
			t.Errorf("deploy/nats/auth.conf lets no reader pull from consumer %s", c.DurableName)
		}
	}
}
