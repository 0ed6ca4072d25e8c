package webhooks

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// TestSignVerifiesWithTheOfficialLibrary signs as a delivery does and
// verifies with the Standard Webhooks library, and compares with the
// library's own signature.
func TestSignVerifiesWithTheOfficialLibrary(t *testing.T) {
	for _, secret := range []string{secretA, secretB} {
		s, err := ParseSecret(secret)
		if err != nil {
			t.Fatal(err)
		}
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		body := []byte(`{"specversion":"1.0","id":"e1","data":{"belopp":-1292,"text":"Moms oktober åäö"}}`)
		h := http.Header{}
		h.Set(HeaderID, "e1")
		h.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
		h.Set(HeaderSignature, s.Sign("e1", now, body))
		if err := wh.Verify(body, h); err != nil {
			t.Errorf("official library: %v", err)
		}
		want, err := wh.Sign("e1", now, body)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Sign("e1", now, body); got != want {
			t.Errorf("signature: got %s, want %s", got, want)
		}
		// A changed body, id or timestamp does not verify.
		if err := wh.Verify(append(body, ' '), h); !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
			t.Errorf("changed body: got %v", err)
		}
		h.Set(HeaderID, "e2")
		if err := wh.Verify(body, h); !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
			t.Errorf("changed id: got %v", err)
		}
	}
}

// TestSignKnownAnswer pins the signature of the Standard Webhooks
// specification's example (its test vectors).
func TestSignKnownAnswer(t *testing.T) {
	s, err := ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	got := s.Sign("msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestSecretNeverPrints(t *testing.T) {
	s, err := ParseSecret(secretA)
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{s.String(), fmt.Sprint(s), fmt.Sprintf("%+v %#v %s %q", s, s, s, s)} {
		if strings.Contains(out, "c2thdHRl") || strings.Contains(out, "skattekonto-test") || strings.Contains(out, "115 107") {
			t.Errorf("printed: %s", out)
		}
	}
	if txt, _ := s.MarshalText(); strings.Contains(string(txt), "c2thdHRl") {
		t.Errorf("marshalled: %s", txt)
	}
	if (Secret{}).String() != "" || !(Secret{}).IsZero() {
		t.Error("zero secret")
	}
}

func TestParseSecretBounds(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{"24 bytes", "whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB", true},
		{"23 bytes", "whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=", false},
		{"64 bytes", "whsec_" + strings.Repeat("QUFB", 21) + "QQ==", true},
		{"65 bytes", "whsec_" + strings.Repeat("QUFB", 21) + "QUE=", false},
		{"empty", "whsec_", false},
		{"url-safe alphabet", "whsec_" + "____QUFBQUFBQUFBQUFBQUFBQUFBQUFB", false},
	} {
		_, err := ParseSecret(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("%s: got %v, want ok %v", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrSecret) {
			t.Errorf("%s: got %v, want ErrSecret", tc.name, err)
		}
	}
}
