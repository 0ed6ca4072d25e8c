package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/skattekonto-events/skattekonto-events/internal/events"
	"github.com/skattekonto-events/skattekonto-events/internal/natstest"
	"github.com/skattekonto-events/skattekonto-events/internal/webhooks"
)

// testSecret is whsec_ and the base64 of 32 made-up bytes.
const testSecret = "whsec_c2thdHRla29udG8tdGVzdC1zZWNyZXQtQS0zMmJ5dGU="

// hookReceiver verifies each delivery with the official Standard Webhooks
// library, answers status, and keeps the ids and types it verified.
type hookReceiver struct {
	mu     sync.Mutex
	status int
	ids    []string
	types  []string
}

func newHookReceiver(t *testing.T, status int) (*hookReceiver, string) {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	h := &hookReceiver{status: status}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := wh.Verify(body, r.Header); err != nil {
			t.Errorf("delivery does not verify: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		ev, err := decodeEvent(body)
		if err != nil {
			t.Errorf("delivery is not an event: %v", err)
		}
		h.mu.Lock()
		h.ids = append(h.ids, r.Header.Get(webhooks.HeaderID))
		h.types = append(h.types, ev.Type)
		status := h.status
		h.mu.Unlock()
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"received":true}`))
	}))
	t.Cleanup(srv.Close)
	return h, srv.URL
}

// hooksFile writes an endpoints' file with one endpoint erp at url.
func hooksFile(t *testing.T, url string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "webhooks.json")
	body := `{"endpoints": [{"name": "erp", "url": "` + url + `", "secret": "` + testSecret + `"}]}`
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestWebhooksTest(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		ok     bool
	}{
		{"accepted", http.StatusOK, true},
		{"refused", http.StatusInternalServerError, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, url := newHookReceiver(t, tc.status)
			file := hooksFile(t, url+"/in?token=QUERYSECRET")
			var out, status bytes.Buffer
			env := map[string]string{"WEBHOOKS_FILE": file}
			err := run(t.Context(), []string{"webhooks", "test", "erp"}, &out, &status, func(k string) string { return env[k] })
			if (err == nil) != tc.ok {
				t.Fatalf("got %v, want ok %v", err, tc.ok)
			}
			if len(h.ids) != 1 || !strings.HasPrefix(h.ids[0], "test-") || h.types[0] != webhooks.TestEventType {
				t.Errorf("received %v %v", h.ids, h.types)
			}
			for _, want := range []string{"POST " + url + "/in ", h.ids[0], fmt.Sprintf("answered %d %s", tc.status, http.StatusText(tc.status)), `{"received":true}`} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, out.String())
				}
			}
			if all := out.String() + status.String() + errText(err); strings.Contains(all, "QUERYSECRET") || strings.Contains(all, "c2thdHRl") {
				t.Errorf("output shows the query or the secret:\n%s", all)
			}
		})
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestWebhooksReplay(t *testing.T) {
	srv := natstest.RunTest(t)
	_, js := natstest.Connect(t, srv)
	if _, err := js.CreateOrUpdateStream(t.Context(), events.StoreConfig{}.StreamConfig()); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i, acct := range []string{"198112189876", "165566778899", "198112189876"} {
		ev := events.Event{ID: events.NewID(acct, events.TypeNewTransaction, "replay", string(rune('a'+i))), Type: events.TypeNewTransaction,
			Subject: acct, Time: time.Now(), FetchID: "f", Data: map[string]any{"omfragad": acct}}
		m, err := ev.Msg()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.PublishMsg(t.Context(), m); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ev.ID)
	}
	h, url := newHookReceiver(t, http.StatusOK)
	env := map[string]string{"WEBHOOKS_FILE": hooksFile(t, url), "NATS_URL": srv.ClientURL()}
	getenv := func(k string) string { return env[k] }
	var out, status bytes.Buffer
	if err := run(t.Context(), []string{"webhooks", "replay", "erp", "-since", "1h"}, &out, &status, getenv); err != nil {
		t.Fatal(err)
	}
	if strings.Join(h.ids, ",") != strings.Join(ids, ",") {
		t.Errorf("received %v, want %v", h.ids, ids)
	}
	if !strings.Contains(out.String(), "3 events delivered to erp") || !strings.Contains(out.String(), "NewTransaction 19811218****") ||
		strings.Contains(out.String(), "198112189876") {
		t.Errorf("output:\n%s", out.String())
	}
	// Nothing stored since a time in the future; the flags may come first.
	out.Reset()
	if err := run(t.Context(), []string{"webhooks", "replay", "-since", time.Now().Add(time.Hour).Format(time.RFC3339), "erp"}, &out, &status, getenv); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "0 events delivered") {
		t.Errorf("output:\n%s", out.String())
	}
	// A refusal stops the replay and says where to resume.
	h.mu.Lock()
	h.status = http.StatusServiceUnavailable
	h.mu.Unlock()
	err := run(t.Context(), []string{"webhooks", "replay", "erp", "-since", "1h"}, &out, &status, getenv)
	if re, ok := errors.AsType[*webhooks.ReplayError](err); !ok || re.ID != ids[0] || !strings.Contains(err.Error(), "resume with -since") {
		t.Errorf("refused: got %v", err)
	}
}

func TestWebhooksUsageErrors(t *testing.T) {
	file := hooksFile(t, "https://erp.example/in")
	env := map[string]string{"WEBHOOKS_FILE": file}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no subcommand", []string{"webhooks"}, env, "test or replay"},
		{"unknown subcommand", []string{"webhooks", "send", "erp"}, env, "test or replay"},
		{"no name", []string{"webhooks", "test"}, env, "one endpoint name"},
		{"two names", []string{"webhooks", "test", "erp", "crm"}, env, "one endpoint name"},
		{"unknown endpoint", []string{"webhooks", "test", "crm"}, env, `no endpoint "crm"`},
		{"no file", []string{"webhooks", "test", "erp"}, nil, "WEBHOOKS_FILE"},
		{"bad timeout", []string{"webhooks", "test", "erp"}, map[string]string{"WEBHOOKS_FILE": file, "WEBHOOKS_TIMEOUT": "soon"}, "WEBHOOKS_TIMEOUT"},
		{"no since", []string{"webhooks", "replay", "erp"}, env, "-since"},
		{"bad since", []string{"webhooks", "replay", "erp", "-since", "yesterday"}, env, "neither an RFC 3339 time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(t.Context(), tc.args, &out, &out, func(k string) string { return tc.env[k] })
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"24h", now.Add(-24 * time.Hour), true},
		{"90m", now.Add(-90 * time.Minute), true},
		{"2026-11-30T08:00:00+01:00", time.Date(2026, 11, 30, 7, 0, 0, 0, time.UTC), true},
		{"2026-11-30T07:00:00.5Z", time.Date(2026, 11, 30, 7, 0, 0, 5e8, time.UTC), true},
		{"-1h", time.Time{}, false},
		{"2026-11-30", time.Time{}, false},
		{"", time.Time{}, false},
	} {
		got, err := parseSince(tc.in, now)
		if (err == nil) != tc.ok || tc.ok && !got.Equal(tc.want) {
			t.Errorf("parseSince(%q): got %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}
