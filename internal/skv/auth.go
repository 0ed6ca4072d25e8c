package skv

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// tokenEarlyExpiry is how long before its expiry a token is replaced.
const tokenEarlyExpiry = 60 * time.Second

// auth hands out access tokens: one cached token shared by all calls,
// fetched with the client credentials grant over the client's transport,
// and dropped when the API answers 401.
type auth struct {
	base oauth2.TokenSource

	mu  sync.Mutex
	src oauth2.TokenSource // ReuseTokenSource over base; replaced to invalidate
	gen uint64
}

func newAuth(cfg Config, hc *http.Client) *auth {
	if cfg.TokenSource != nil {
		a := &auth{base: &userSource{ts: cfg.TokenSource, obs: cfg.Observer}}
		a.src = oauth2.ReuseTokenSourceWithExpiry(nil, a.base, tokenEarlyExpiry)
		return a
	}
	cc := &clientcredentials.Config{
		ClientID:     cfg.ClientID,
		ClientSecret: cfg.ClientSecret,
		TokenURL:     cfg.TokenURL,
		Scopes:       cfg.Scopes,
		// Skatteverket's CCG flow authenticates the client by its
		// certificate; the id and secret go as HTTP Basic (which RFC 6749
		// requires servers to accept) or, if refused, in the form: the
		// style that works is remembered.
		AuthStyle: oauth2.AuthStyleAutoDetect,
	}
	// The oauth2 package takes its HTTP client from a context value; this
	// context lives only inside the token source.
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, hc)
	a := &auth{base: &checkedSource{cc: cc, ctx: ctx, scopes: cfg.Scopes, obs: cfg.Observer}}
	a.src = oauth2.ReuseTokenSourceWithExpiry(nil, a.base, tokenEarlyExpiry)
	return a
}

// token returns a valid token and the generation of the cache it came from.
func (a *auth) token() (*oauth2.Token, uint64, error) {
	a.mu.Lock()
	src, gen := a.src, a.gen
	a.mu.Unlock()
	t, err := src.Token()
	return t, gen, err
}

// invalidate drops the cached token of generation gen, so the next call
// fetches a new one. Calls that saw the same 401 invalidate only once.
func (a *auth) invalidate(gen uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if gen == a.gen {
		a.gen++
		a.src = oauth2.ReuseTokenSourceWithExpiry(nil, a.base, tokenEarlyExpiry)
	}
}

// checkedSource fetches a new token on every call, checks its granted
// scope and classifies failures.
type checkedSource struct {
	cc     *clientcredentials.Config
	ctx    context.Context
	scopes []string
	obs    Observer // nil for none
}

func (s *checkedSource) Token() (*oauth2.Token, error) {
	t, err := s.fetch()
	if s.obs != nil {
		s.obs.TokenFetched(err)
	}
	return t, err
}

func (s *checkedSource) fetch() (*oauth2.Token, error) {
	t, err := s.cc.Token(s.ctx)
	if err != nil {
		return nil, classifyTokenError(err)
	}
	if granted, ok := t.Extra("scope").(string); ok && granted != "" {
		have := strings.Fields(granted)
		for _, want := range s.scopes {
			if !contains(have, want) {
				return nil, &tokenError{err: ErrScopeMissing, code: "granted " + granted + ", missing " + want}
			}
		}
	}
	return t, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func classifyTokenError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		te := &tokenError{status: status, code: re.ErrorCode, cause: re}
		switch {
		case isRedirect(status):
			te.err = redirectError(re.Response)
		case status >= 400 && status < 500 && !retryableStatus(status):
			// 400 and 401 are the usual refusals; other 4xx cannot
			// heal by themselves either.
			te.err = ErrTokenRefused
		default:
			te.err = errors.New("token endpoint failed")
		}
		return te
	}
	// A transport error. url.Error carries the token URL, which holds no
	// secret, but keep only the cause for uniformity with API calls.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if certificateError(err) {
		return &tokenError{err: ErrCertificate, cause: err}
	}
	return &tokenError{err: err}
}

// userSource takes tokens from a caller's token source (a user's login)
// and classifies its failures like those of the token endpoint.
type userSource struct {
	ts  oauth2.TokenSource
	obs Observer // nil for none
}

func (s *userSource) Token() (*oauth2.Token, error) {
	t, err := s.ts.Token()
	if err != nil {
		err = classifyTokenError(err)
	}
	if s.obs != nil {
		s.obs.TokenFetched(err)
	}
	return t, err
}
