package webhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SecretPrefix starts every signing secret.
const SecretPrefix = "whsec_"

// Bounds of a secret's decoded length, as the Standard Webhooks
// specification recommends.
const (
	MinSecretBytes = 24
	MaxSecretBytes = 64
)

// Headers of a signed delivery (Standard Webhooks).
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Secret is an endpoint's signing key. It never prints: String and
// GoString show only that it is set.
type Secret struct {
	key []byte
}

// ParseSecret decodes "whsec_" followed by the standard base64 (with
// padding) of 24 to 64 random bytes, the form every Standard Webhooks
// library reads. Its errors never show the secret.
func ParseSecret(s string) (Secret, error) {
	enc, ok := strings.CutPrefix(s, SecretPrefix)
	if !ok {
		return Secret{}, fmt.Errorf("%w: does not start with %s", ErrSecret, SecretPrefix)
	}
	key, err := base64.StdEncoding.Strict().DecodeString(enc)
	if err != nil {
		return Secret{}, fmt.Errorf("%w: not standard base64 (A-Z a-z 0-9 + /, = padding) after %s", ErrSecret, SecretPrefix)
	}
	if len(key) < MinSecretBytes || len(key) > MaxSecretBytes {
		return Secret{}, fmt.Errorf("%w: %d bytes after decoding, want %d to %d (e.g. %s$(openssl rand -base64 32))",
			ErrSecret, len(key), MinSecretBytes, MaxSecretBytes, SecretPrefix)
	}
	return Secret{key: key}, nil
}

// Sign returns the webhook-signature value of a delivery: "v1," and the
// base64 HMAC-SHA256, keyed with the decoded secret, of id "." the Unix
// seconds of ts "." body.
func (s Secret) Sign(id string, ts time.Time, body []byte) string {
	h := hmac.New(sha256.New, s.key)
	h.Write([]byte(id))
	h.Write([]byte{'.'})
	h.Write(strconv.AppendInt(nil, ts.Unix(), 10))
	h.Write([]byte{'.'})
	h.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// IsZero reports whether the secret is unset.
func (s Secret) IsZero() bool { return len(s.key) == 0 }

func (s Secret) String() string {
	if s.IsZero() {
		return ""
	}
	return SecretPrefix + "(hidden)"
}

// GoString keeps %#v from printing the key.
func (s Secret) GoString() string { return "webhooks.Secret(" + strconv.Quote(s.String()) + ")" }

// MarshalText keeps encoders from writing the key.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

func (s Secret) equal(o Secret) bool { return hmac.Equal(s.key, o.key) }
