package config

import (
	"bytes"
	"encoding/base64"
	"reflect"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// Secret values as distinctive strings, so that any trace of them shows.
const (
	clientSecret = "cs-Zq81-never-print"
	natsCreds    = "/run/secrets/nats-Zq82.creds"
	natsNKey     = "/run/secrets/nkey-Zq83.seed"
	natsPassword = "pw-Zq84"
)

// tokenKey is 32 bytes that appear in no other value.
var tokenKey = []byte("tk-Zq85-32-bytes-of-token-key!!!")

func TestEffectiveNeverShowsSecrets(t *testing.T) {
	setEnv(t, map[string]string{
		"NATS_URL":            "nats://worker:" + natsPassword + "@nats-0:4222,tls://worker:" + natsPassword + "@nats-1:4222",
		"NATS_CREDS":          natsCreds,
		"NATS_NKEY":           natsNKey,
		"SKV_BASE_URL":        "https://api.example.se/v2",
		"SKV_TOKEN_URL":       "https://token.example.se/token",
		"SKV_CLIENT_ID":       "client-id-shown",
		"SKV_CLIENT_SECRET":   clientSecret,
		"LOGIN_ENABLED":       "true",
		"LOGIN_TOKEN_KEY":     base64.StdEncoding.EncodeToString(tokenKey),
		"LOGIN_AUTHORIZE_URL": "https://login.example.se/authorize",
		"LOGIN_TOKEN_URL":     "https://login.example.se/token",
	})
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	log := zerolog.New(&buf)
	log.Info().Object("config", c).Msg("effective configuration")
	out := buf.String()
	for _, s := range []string{clientSecret, natsCreds, natsNKey, natsPassword, "Zq8",
		string(tokenKey), base64.StdEncoding.EncodeToString(tokenKey), base64.RawURLEncoding.EncodeToString(tokenKey)} {
		if strings.Contains(out, s) {
			t.Errorf("output shows a secret %q:\n%s", s, out)
		}
	}
	shown := map[string]string{}
	for _, s := range c.Effective() {
		shown[s.Name] = s.Value
	}
	for name, want := range map[string]string{
		"SKV_CLIENT_SECRET":  "(set)",
		"LOGIN_TOKEN_KEY":    "(set)",
		"NATS_CREDS":         "(set)",
		"NATS_NKEY":          "(set)",
		"NATS_URL":           "nats://nats-0:4222,tls://nats-1:4222",
		"SKV_CLIENT_ID":      "client-id-shown",
		"SKV_BASE_URL":       "https://api.example.se/v2",
		"WORKER_CONCURRENCY": "128",
		"WORKER_ACK_WAIT":    "30s",
		"LOGIN_ENABLED":      "true",
		"NATS_CA_FILE":       "",
	} {
		if got := shown[name]; got != want {
			t.Errorf("%s: got %q, want %q", name, got, want)
		}
	}
}

func TestEffectiveCoversEveryVariable(t *testing.T) {
	setEnv(t, nil)
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	shown := map[string]bool{}
	for _, s := range c.Effective() {
		shown[s.Name] = true
	}
	typ := reflect.TypeOf(*c)
	for i := range typ.NumField() {
		name := typ.Field(i).Tag.Get("envconfig")
		if name == "" {
			continue
		}
		if !shown[name] {
			t.Errorf("%s is not shown", name)
		}
		// A new variable that holds a credential must be listed as secret.
		looksSecret := strings.Contains(name, "SECRET") || strings.Contains(name, "PASSWORD") ||
			strings.Contains(name, "TOKEN_KEY") || strings.Contains(name, "CREDS") || strings.Contains(name, "NKEY")
		if looksSecret && !secret[name] {
			t.Errorf("%s looks like a secret but is not in the secret list", name)
		}
	}
	for name := range secret {
		if !shown[name] {
			t.Errorf("secret list names %s, which Config does not read", name)
		}
	}
}

func TestWithoutUserinfo(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"nats://u:p@h:4222", "nats://h:4222"},
		{"nats://h:4222", "nats://h:4222"},
		{"nats://u:p@a:1, nats://u:p@b:2", "nats://a:1,nats://b:2"},
		{"user@example", "(hidden: not a URL, contains @)"},
		{"nats://u:p%zz@h", "(hidden: not a URL, contains @)"},
	} {
		if got := withoutUserinfo(tc.in); got != tc.want {
			t.Errorf("withoutUserinfo(%q): got %q, want %q", tc.in, got, tc.want)
		}
	}
}
