package skv

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"

	"golang.org/x/oauth2"
)

// countingSource hands out a fixed token, or err.
type countingSource struct {
	n   atomic.Int32
	tok string
	err error
}

func (s *countingSource) Token() (*oauth2.Token, error) {
	s.n.Add(1)
	if s.err != nil {
		return nil, s.err
	}
	return &oauth2.Token{AccessToken: s.tok, TokenType: "Bearer"}, nil
}

func TestTokenSourceReplacesClientCredentials(t *testing.T) {
	var auth atomic.Value
	f, srv := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		auth.Store(r.Header.Get("Authorization"))
		respond(w, 200, `{"saldoSkatteverket":1,"saldoKronofogden":0,"rantaSkatteverket":0,"rantaKronofogden":0,"nastaAvstamningsdatum":"2026-04-04","senastUppdaterad":"2026-03-05T03:00:00"}`)
	})
	cfg := testConfig(srv)
	cfg.TokenURL = "" // not needed with a token source
	src := &countingSource{tok: "user-tok"}
	cfg.TokenSource = src
	c := newTestClient(t, cfg)
	if _, _, err := c.Saldo(context.Background(), testOrg); err != nil {
		t.Fatalf("Saldo: %v", err)
	}
	if got := auth.Load(); got != "Bearer user-tok" {
		t.Errorf("Authorization = %v, want Bearer user-tok", got)
	}
	if got := f.tokenCount.Load(); got != 0 {
		t.Errorf("token endpoint called %d times, want 0", got)
	}
	if got := c.Config().TokenSource; got != src {
		t.Errorf("Config().TokenSource = %v, want the source given", got)
	}
}

func TestTokenSourceEndedIsPermanent(t *testing.T) {
	_, srv := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		t.Error("API called without a token")
	})
	cfg := testConfig(srv)
	src := &countingSource{err: fmt.Errorf("session s-1: %w", ErrLoginEnded)}
	cfg.TokenSource = src
	c := newTestClient(t, cfg)
	_, _, err := c.Saldo(context.Background(), testOrg)
	if !errors.Is(err, ErrLoginEnded) {
		t.Fatalf("Saldo error = %v, want ErrLoginEnded", err)
	}
	if Retryable(err) {
		t.Errorf("Retryable(%v) = true, want false", err)
	}
	if got := src.n.Load(); got != 1 {
		t.Errorf("token source asked %d times, want 1 (no retries)", got)
	}
}
