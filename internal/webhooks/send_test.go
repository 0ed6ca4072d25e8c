package webhooks

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// endpointAt is a checked endpoint for url with secretA.
func endpointAt(t *testing.T, url string, timeout time.Duration) *Endpoint {
	t.Helper()
	eps, err := Parse([]byte(`{"endpoints": [{"name": "erp", "url": "`+url+`", "secret": "`+secretA+`"}]}`), ".", Defaults{Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	return &eps[0]
}

func TestSendSignsTheBodyAsGiven(t *testing.T) {
	r := newReceiver(t, secretA)
	ep := endpointAt(t, r.srv.URL+"/hooks?token=QUERYSECRET", time.Minute)
	body := []byte(`{"specversion":"1.0","id":"e1","data":{"text":"åäö"}}`)
	ans, err := Send(context.Background(), NewClient(), ep, "e1", body, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if ans.Status != 200 || ans.Result != ResultOK || string(ans.Body) != "answer OK" {
		t.Errorf("answer: %+v", ans)
	}
	got := r.deliveries()
	if len(got) != 1 || got[0].id != "e1" || string(got[0].body) != string(body) {
		t.Fatalf("received %v", got)
	}
	if ua := got[0].header.Get("User-Agent"); ua != userAgent {
		t.Errorf("user agent %q", ua)
	}
}

func TestSendResults(t *testing.T) {
	for _, tc := range []struct {
		status int
		want   Result
	}{
		{200, ResultOK}, {202, ResultOK}, {204, ResultOK},
		{301, ResultRedirect}, {307, ResultRedirect},
		{400, ResultClientError}, {401, ResultClientError}, {410, ResultClientError}, {429, ResultClientError},
		{500, ResultServerError}, {503, ResultServerError},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			if tc.status/100 == 3 {
				w.Header().Set("Location", "/elsewhere")
			}
			w.WriteHeader(tc.status)
		}))
		ans, err := Send(context.Background(), NewClient(), endpointAt(t, srv.URL+"/?token=QUERYSECRET", time.Minute), "e1", []byte(`{}`), time.Now())
		srv.Close()
		if ans.Result != tc.want || ans.Status != tc.status {
			t.Errorf("%d: got %s %d, want %s", tc.status, ans.Result, ans.Status, tc.want)
		}
		if (err == nil) != (tc.want == ResultOK) {
			t.Errorf("%d: error %v", tc.status, err)
		}
		de, ok := errors.AsType[*DeliveryError](err)
		if err != nil && (!ok || de.Status != tc.status || de.Result != tc.want || de.Endpoint != "erp") {
			t.Errorf("%d: got %#v", tc.status, err)
		}
		if err != nil && strings.Contains(err.Error(), "QUERYSECRET") {
			t.Errorf("%d: error shows the query: %v", tc.status, err)
		}
	}
}

// TestRedirectsAreNotFollowed: a 3xx is the answer, and a failure; the
// place it points to never hears from us.
func TestRedirectsAreNotFollowed(t *testing.T) {
	var elsewhere atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		elsewhere.Add(1)
	}))
	defer target.Close()
	for _, status := range []int{301, 302, 303, 307, 308} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target.URL+"/stolen", status)
		}))
		ans, err := Send(context.Background(), NewClient(), endpointAt(t, srv.URL, time.Minute), "e1", []byte(`{}`), time.Now())
		srv.Close()
		if ans.Result != ResultRedirect || !errors.As(err, new(*DeliveryError)) {
			t.Errorf("%d: got %s, %v", status, ans.Result, err)
		}
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the redirect target got %d requests", n)
	}
}

func TestSendTimeoutAndUnreachable(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	ans, err := Send(context.Background(), NewClient(), endpointAt(t, slow.URL+"/?token=QUERYSECRET", 50*time.Millisecond), "e1", []byte(`{}`), time.Now())
	if ans.Result != ResultTimeout || ans.Status != 0 {
		t.Errorf("slow endpoint: got %+v", ans)
	}
	if err == nil || strings.Contains(err.Error(), "QUERYSECRET") || !strings.Contains(err.Error(), "no answer within 50ms") {
		t.Errorf("slow endpoint: error %v", err)
	}
	ans, err = Send(context.Background(), NewClient(), endpointAt(t, closedURL(t)+"?token=QUERYSECRET", time.Minute), "e1", []byte(`{}`), time.Now())
	if ans.Result != ResultUnreachable {
		t.Errorf("closed port: got %+v", ans)
	}
	if err == nil || strings.Contains(err.Error(), "QUERYSECRET") {
		t.Errorf("closed port: error %v", err)
	}
}
