package webhooks

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "crm.secret"), []byte(secretB+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	data := `{"endpoints": [
		{"name": "erp", "url": "https://erp.example/hooks/skatt?token=abc", "secret": "` + secretA + `",
		 "subjects": ["skattekonto.events.*.NewTransaction", "skattekonto.events.*.AccessProblem"], "timeout": "3s", "maxAge": "24h"},
		{"name": "crm_2", "url": "http://127.0.0.1:8081/in", "secretFile": "crm.secret"},
		{"name": "local", "url": "http://localhost/x", "secret": "` + secretB + `", "subjects": ["skattekonto.events.165566778899.>"]}
	]}`
	eps, err := Parse([]byte(data), dir, Defaults{Timeout: 7 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, target string
		subjects     []string
		timeout      time.Duration
		maxAge       time.Duration
	}{
		{"erp", "https://erp.example/hooks/skatt", []string{"skattekonto.events.*.NewTransaction", "skattekonto.events.*.AccessProblem"}, 3 * time.Second, 24 * time.Hour},
		{"crm_2", "http://127.0.0.1:8081/in", DefaultSubjects, 7 * time.Second, DefaultMaxAge},
		{"local", "http://localhost/x", []string{"skattekonto.events.165566778899.>"}, 7 * time.Second, DefaultMaxAge},
	} {
		ep := Find(eps, tc.name)
		if ep == nil {
			t.Fatalf("%s: not found in %v", tc.name, eps)
		}
		if ep.Target() != tc.target || !slices.Equal(ep.Subjects, tc.subjects) || ep.Timeout != tc.timeout || ep.MaxAge != tc.maxAge || ep.Secret.IsZero() {
			t.Errorf("%s: got target %s, subjects %v, timeout %s, max age %s; want %s, %v, %s, %s",
				tc.name, ep.Target(), ep.Subjects, ep.Timeout, ep.MaxAge, tc.target, tc.subjects, tc.timeout, tc.maxAge)
		}
	}
	// The secret from the file is the same key as the inline one.
	b, _ := ParseSecret(secretB)
	if !Find(eps, "crm_2").Secret.equal(b) {
		t.Error("secretFile: not the key in the file")
	}
	if eps, err := Parse([]byte(`{"endpoints": []}`), dir, Defaults{}); err != nil || len(eps) != 0 {
		t.Errorf("no endpoints: got %v, %v", eps, err)
	}
}

func TestParseErrors(t *testing.T) {
	dir := t.TempDir()
	entry := func(fields string) string {
		return `{"endpoints": [` + fields + `]}`
	}
	ok := `"url": "https://erp.example/h", "secret": "` + secretA + `"`
	tests := []struct {
		name     string
		data     string
		is       error  // nil: not an endpoint's error
		endpoint string // the endpoint the error names
		field    string
	}{
		{"not JSON", `{"endpoints": [`, nil, "", ""},
		{"unknown member", entry(`{"name": "erp", ` + ok + `, "secrt": "x"}`), nil, "", ""},
		{"two values", `{"endpoints": []} {}`, nil, "", ""},
		{"no name", entry(`{` + ok + `}`), ErrName, "#1", "name"},
		{"name with a dot", entry(`{"name": "erp.x", ` + ok + `}`), ErrName, "#1", "name"},
		{"name with a wildcard", entry(`{"name": "erp*", ` + ok + `}`), ErrName, "#1", "name"},
		{"upper case name", entry(`{"name": "ERP", ` + ok + `}`), ErrName, "#1", "name"},
		{"name too long", entry(`{"name": "` + strings.Repeat("a", 33) + `", ` + ok + `}`), ErrName, "#1", "name"},
		{"duplicate name", entry(`{"name": "erp", ` + ok + `}, {"name": "erp", ` + ok + `}`), ErrName, "erp", "name"},
		{"no url", entry(`{"name": "erp", "secret": "` + secretA + `"}`), ErrURL, "erp", "url"},
		{"plain http remote", entry(`{"name": "erp", "url": "http://erp.example/h?token=q", "secret": "` + secretA + `"}`), ErrURL, "erp", "url"},
		{"ftp", entry(`{"name": "erp", "url": "ftp://erp.example/h", "secret": "` + secretA + `"}`), ErrURL, "erp", "url"},
		{"relative url", entry(`{"name": "erp", "url": "/hooks", "secret": "` + secretA + `"}`), ErrURL, "erp", "url"},
		{"bad url", entry(`{"name": "erp", "url": "https://erp.example:port/h?token=q", "secret": "` + secretA + `"}`), ErrURL, "erp", "url"},
		{"no secret", entry(`{"name": "erp", "url": "https://erp.example/h"}`), ErrSecret, "erp", "secret"},
		{"both secrets", entry(`{"name": "erp", ` + ok + `, "secretFile": "x"}`), ErrSecret, "erp", "secret"},
		{"secret without prefix", entry(`{"name": "erp", "url": "https://e.example/h", "secret": "c2thdHRla29udG8tdGVzdC1zZWNyZXQtQS0zMmJ5dGU="}`), ErrSecret, "erp", "secret"},
		{"secret not base64", entry(`{"name": "erp", "url": "https://e.example/h", "secret": "whsec_not*base64!!"}`), ErrSecret, "erp", "secret"},
		{"secret unpadded", entry(`{"name": "erp", "url": "https://e.example/h", "secret": "whsec_c2thdHRla29udG8tdGVzdC1zZWNyZXQtQg"}`), ErrSecret, "erp", "secret"},
		{"secret too short", entry(`{"name": "erp", "url": "https://e.example/h", "secret": "whsec_c2hvcnQtc2VjcmV0"}`), ErrSecret, "erp", "secret"},
		{"secret file missing", entry(`{"name": "erp", "url": "https://e.example/h", "secretFile": "nowhere.secret"}`), ErrSecret, "erp", "secretFile"},
		{"empty subjects", entry(`{"name": "erp", ` + ok + `, "subjects": []}`), ErrSubjects, "erp", "subjects"},
		{"state subject", entry(`{"name": "erp", ` + ok + `, "subjects": ["skattekonto.state.>"]}`), ErrSubjects, "erp", "subjects"},
		{"everything", entry(`{"name": "erp", ` + ok + `, "subjects": [">"]}`), ErrSubjects, "erp", "subjects"},
		{"all of skattekonto", entry(`{"name": "erp", ` + ok + `, "subjects": ["skattekonto.>"]}`), ErrSubjects, "erp", "subjects"},
		{"empty token", entry(`{"name": "erp", ` + ok + `, "subjects": ["skattekonto.events..NewTransaction"]}`), ErrSubjects, "erp", "subjects"},
		{"> not last", entry(`{"name": "erp", ` + ok + `, "subjects": ["skattekonto.events.>.NewTransaction"]}`), ErrSubjects, "erp", "subjects"},
		{"wildcard in a token", entry(`{"name": "erp", ` + ok + `, "subjects": ["skattekonto.events.*.New*"]}`), ErrSubjects, "erp", "subjects"},
		{"space", entry(`{"name": "erp", ` + ok + `, "subjects": ["skattekonto.events.*.New Transaction"]}`), ErrSubjects, "erp", "subjects"},
		{"overlap", entry(`{"name": "erp", ` + ok + `, "subjects": ["skattekonto.events.*.NewTransaction", "skattekonto.events.165566778899.>"]}`), ErrSubjects, "erp", "subjects"},
		{"same twice", entry(`{"name": "erp", ` + ok + `, "subjects": ["skattekonto.events.>", "skattekonto.events.>"]}`), ErrSubjects, "erp", "subjects"},
		{"bad timeout", entry(`{"name": "erp", ` + ok + `, "timeout": "soon"}`), ErrDuration, "erp", "timeout"},
		{"zero timeout", entry(`{"name": "erp", ` + ok + `, "timeout": "0s"}`), ErrDuration, "erp", "timeout"},
		{"long timeout", entry(`{"name": "erp", ` + ok + `, "timeout": "1h"}`), ErrDuration, "erp", "timeout"},
		{"short max age", entry(`{"name": "erp", ` + ok + `, "maxAge": "10ms"}`), ErrDuration, "erp", "maxAge"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			eps, err := Parse([]byte(tc.data), dir, Defaults{})
			if err == nil {
				t.Fatalf("accepted: %v", eps)
			}
			for _, secret := range []string{secretA, strings.TrimPrefix(secretA, SecretPrefix), "not*base64", "c2hvcnQtc2VjcmV0", "token=q"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error shows %q: %v", secret, err)
				}
			}
			if tc.is == nil {
				if errors.As(err, new(*EndpointError)) {
					t.Errorf("got an endpoint's error for a file's: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.is) {
				t.Errorf("got %v, want %v", err, tc.is)
			}
			ee, ok := errors.AsType[*EndpointError](err)
			if !ok {
				t.Fatalf("got %T %v, want an *EndpointError", err, err)
			}
			if ee.Endpoint != tc.endpoint || ee.Field != tc.field {
				t.Errorf("got endpoint %q field %q, want %q %q (%v)", ee.Endpoint, ee.Field, tc.endpoint, tc.field, err)
			}
		})
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	_, err := Parse([]byte(`{"endpoints": [{"name": "a", "url": "http://x.example/"}, {"name": "b", "url": "https://x.example/", "secret": "whsec_"}]}`), ".", Defaults{})
	for _, want := range []string{"endpoint a: url", "endpoint a: secret", "endpoint b: secret"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "w.json")
	if _, err := LoadFile(path, Defaults{}); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: got %v", err)
	}
	if err := os.WriteFile(path, []byte(strings.Repeat(" ", MaxFileSize+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile(path, Defaults{}); err == nil {
		t.Error("a file over the size limit was read")
	}
	if err := os.WriteFile(path, []byte(`{"endpoints": [{"name": "x", "url": "https://h.example/", "secret": "`+secretA+`"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	eps, err := LoadFile(path, Defaults{})
	if err != nil || len(eps) != 1 {
		t.Errorf("got %v, %v", eps, err)
	}
}

func TestOverlap(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"a.b.c", "a.b.c", true},
		{"a.b.c", "a.b.d", false},
		{"a.*.c", "a.b.c", true},
		{"a.*.c", "a.b.d", false},
		{"a.>", "a.b.c", true},
		{"a.b.>", "a.c.>", false},
		{"a.b", "a.b.c", false},
		{"a.*", "a.b.c", false},
		{"a.*.>", "a.b", false},
		{"a.*.>", "a.b.c", true},
		{"a.*.c", "a.b.*", true},
	} {
		if got := overlap(tc.a, tc.b); got != tc.want {
			t.Errorf("overlap(%s, %s): got %v, want %v", tc.a, tc.b, got, tc.want)
		}
		if got := overlap(tc.b, tc.a); got != tc.want {
			t.Errorf("overlap(%s, %s): got %v, want %v", tc.b, tc.a, got, tc.want)
		}
	}
}

func TestEndpointNeverShowsSecretOrQuery(t *testing.T) {
	eps, err := Parse([]byte(`{"endpoints": [{"name": "erp", "url": "https://user:pw@erp.example/h?token=q#f", "secret": "`+secretA+`"}]}`), ".", Defaults{})
	if err != nil {
		t.Fatal(err)
	}
	ep := &eps[0]
	for _, s := range []string{ep.String(), ep.Target(), fmt.Sprintf("%v", *ep), fmt.Sprintf("%+v", *ep), fmt.Sprintf("%#v", *ep), ep.Secret.String()} {
		for _, secret := range []string{"token", "pw", "user", strings.TrimPrefix(secretA, SecretPrefix), "skattekonto-test-secret"} {
			if strings.Contains(s, secret) {
				t.Errorf("%q shows %q", s, secret)
			}
		}
	}
	if ep.Target() != "https://erp.example/h" {
		t.Errorf("target: got %s", ep.Target())
	}
}

// FuzzParse feeds the file parser arbitrary input: it must not panic, and
// an error must never show a secret it was given.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"endpoints": [{"name": "erp", "url": "https://erp.example/h?t=1", "secret": "` + secretA + `", "subjects": ["skattekonto.events.*.NewTransaction"]}]}`))
	f.Add([]byte(`{"endpoints": [{"name": "a", "url": "http://127.0.0.1:1/", "secret": "whsec_AAAA", "timeout": "1s", "maxAge": "2s"}]}`))
	f.Add([]byte(`{"endpoints": [{"name": "a.b", "url": "://", "secretFile": "x.secret", "subjects": [">", "skattekonto.events.>.x"]}]}`))
	f.Add([]byte(`{}`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		eps, err := Parse(data, dir, Defaults{})
		if err != nil {
			if strings.Contains(err.Error(), strings.TrimPrefix(secretA, SecretPrefix)) {
				t.Errorf("error shows the secret: %v", err)
			}
			return
		}
		for _, ep := range eps {
			if ep.Secret.IsZero() || ep.url == nil || len(ep.Subjects) == 0 || ep.Timeout <= 0 || ep.MaxAge < time.Second {
				t.Errorf("accepted an incomplete endpoint: %v", ep.String())
			}
			if err := checkSubjects(ep.Subjects); err != nil {
				t.Errorf("accepted subjects %v: %v", ep.Subjects, err)
			}
		}
	})
}
