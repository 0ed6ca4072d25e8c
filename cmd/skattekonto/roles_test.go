package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/natsserver"
)

// TestFetchOnEmbeddedDefault: without credentials the CLI is a requester
// of the worker's embedded server, which admits it by its inbox prefix.
func TestFetchOnEmbeddedDefault(t *testing.T) {
	if localInboxPrefix != natsserver.LocalInboxPrefix {
		t.Fatalf("inbox prefix %q, the embedded server's is %q", localInboxPrefix, natsserver.LocalInboxPrefix)
	}
	l, err := natsserver.StartOrJoin("127.0.0.1:0", natsserver.Config{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	nc, err := nats.Connect(l.URL, must(nats.NkeyOptionFromSeed(l.WorkerNKey)))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(t.Context(), contract.FetchStreamConfig(1)); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"NATS_URL": l.URL}
	var out bytes.Buffer
	if err := run(t.Context(), []string{"fetch", "165781006662"}, &out, &out, func(k string) string { return env[k] }); err != nil {
		t.Fatalf("fetch: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "queued (stream "+contract.FetchStream) {
		t.Errorf("fetch printed %q", out.String())
	}
	env["NATS_INBOX_PREFIX"] = "_INBOX"
	out.Reset()
	if err := run(t.Context(), []string{"fetch", "165781006662"}, &out, &out, func(k string) string { return env[k] }); err == nil {
		t.Errorf("fetch with the workers' inbox prefix: no error\n%s", out.String())
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
