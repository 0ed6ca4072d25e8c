package webhooks_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/webhooks"
)

// verify is the receiver's check of docs/webhooks.md, with Go's standard
// library only: keep the two the same.
func verify(key []byte, h http.Header, body []byte, now time.Time) bool {
	id, ts := h.Get("webhook-id"), h.Get("webhook-timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || id == "" {
		return false
	}
	if d := now.Sub(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return false
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := []byte("v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	for _, sig := range strings.Fields(h.Get("webhook-signature")) {
		if hmac.Equal([]byte(sig), want) {
			return true
		}
	}
	return false
}

// Example sends a test event to a receiver that verifies it as
// docs/webhooks.md shows.
func Example() {
	const secret = "whsec_c2thdHRla29udG8tZXhhbXBsZS1vbmx5LTMyYnl0ZXM="
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
		if err != nil || !verify(key, r.Header, body, time.Now()) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()

	dir, _ := os.MkdirTemp("", "webhooks")
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "webhooks.json")
	_ = os.WriteFile(file, []byte(`{"endpoints": [{"name": "erp", "url": "`+receiver.URL+`/hooks", "secret": "`+secret+`"}]}`), 0o600)
	eps, err := webhooks.LoadFile(file, webhooks.Defaults{})
	if err != nil {
		fmt.Println(err)
		return
	}
	now := time.Now()
	id, body := webhooks.NewTestEvent("erp", now)
	ans, err := webhooks.Send(context.Background(), webhooks.NewClient(), &eps[0], id, body, now)
	fmt.Println(ans.Status, ans.Result, err)

	// A wrong secret does not verify.
	wrong, _ := webhooks.ParseSecret("whsec_" + base64.StdEncoding.EncodeToString([]byte("not-the-receivers-secret-32bytes")))
	eps[0].Secret = wrong
	ans, _ = webhooks.Send(context.Background(), webhooks.NewClient(), &eps[0], id, body, now)
	fmt.Println(ans.Status, ans.Result)
	// Output:
	// 204 ok <nil>
	// 401 client_error
}
