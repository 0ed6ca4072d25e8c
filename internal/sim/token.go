package sim

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strings"
	"time"
)

type tokenAnswer struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope"`
}

type oauthError struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description,omitempty"`
}

// serveToken is the OAuth2 client-credentials token endpoint.
func (s *Sim) serveToken(w http.ResponseWriter, r *http.Request) {
	st := s.token(w, r)
	s.log.Debug().Str("op", OpToken).Int("status", st).Msg("sim token request")
}

func (s *Sim) token(w http.ResponseWriter, r *http.Request) int {
	s.mu.Lock()
	s.calls[OpToken]++
	s.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")

	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeJSON(w, http.StatusMethodNotAllowed, oauthError{Error: "invalid_request", ErrorDescription: "use POST"})
		return http.StatusMethodNotAllowed
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, oauthError{Error: "invalid_request", ErrorDescription: "malformed form body"})
		return http.StatusBadRequest
	}

	grantScope := s.cfg.Scope
	if f := s.takeFault("", OpToken); f != nil {
		st, done := s.tokenFault(w, r, f)
		if done {
			return st
		}
		if f.Kind == FaultScopeMissing {
			grantScope = "skahmst"
			if s.cfg.Scope == grantScope {
				grantScope = "other"
			}
		}
	}

	id, secret, basic := r.BasicAuth()
	if !basic {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if !secureEqual(id, s.cfg.ClientID) || !secureEqual(secret, s.cfg.ClientSecret) {
		w.Header().Set("WWW-Authenticate", `Basic realm="sysorg"`)
		writeJSON(w, http.StatusUnauthorized, oauthError{Error: "invalid_client"})
		return http.StatusUnauthorized
	}
	switch gt := r.PostForm.Get("grant_type"); gt {
	case "client_credentials":
	case "":
		writeJSON(w, http.StatusBadRequest, oauthError{Error: "invalid_request", ErrorDescription: "grant_type missing"})
		return http.StatusBadRequest
	default:
		writeJSON(w, http.StatusBadRequest, oauthError{Error: "unsupported_grant_type"})
		return http.StatusBadRequest
	}
	for _, sc := range strings.Fields(r.PostForm.Get("scope")) {
		if sc != s.cfg.Scope {
			writeJSON(w, http.StatusBadRequest, oauthError{Error: "invalid_scope"})
			return http.StatusBadRequest
		}
	}

	var raw [32]byte
	_, _ = rand.Read(raw[:])
	tok := base64.RawURLEncoding.EncodeToString(raw[:])
	s.mu.Lock()
	now := s.now()
	s.pruneTokens(now)
	s.tokens[tok] = tokenInfo{expires: now.Add(s.cfg.TokenTTL), scope: grantScope}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, tokenAnswer{AccessToken: tok, TokenType: "Bearer", ExpiresIn: int64(s.cfg.TokenTTL.Seconds()), Scope: grantScope})
	return http.StatusOK
}

// tokenFault acts out a fault on the token endpoint. done is false when
// the request goes on (latency, scope-missing); status 0 with done means
// it was abandoned.
func (s *Sim) tokenFault(w http.ResponseWriter, r *http.Request, f *Fault) (status int, done bool) {
	if f.Latency > 0 && s.sleep(r.Context(), f.Latency) != nil {
		return 0, true
	}
	switch f.Kind {
	case FaultTokenRefused:
		writeJSON(w, http.StatusUnauthorized, oauthError{Error: "invalid_client"})
		return http.StatusUnauthorized, true
	case FaultHang:
		<-r.Context().Done()
		return 0, true
	case FaultHTTP429:
		w.Header().Set("Retry-After", retryAfter(f.RetryAfter))
		writeJSON(w, http.StatusTooManyRequests, gatewayError{Error: "Too many requests"})
		return http.StatusTooManyRequests, true
	case FaultHTTP502:
		writeJSON(w, http.StatusBadGateway, gatewayError{Error: "Bad gateway"})
		return http.StatusBadGateway, true
	case FaultHTTP503, FaultFelkod:
		writeJSON(w, http.StatusServiceUnavailable, gatewayError{Error: "Service unavailable"})
		return http.StatusServiceUnavailable, true
	case FaultNonJSON:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(nonJSONBody))
		return http.StatusOK, true
	case FaultTruncated:
		writeBody(w, http.StatusOK, []byte(`{"access_token":"`))
		return http.StatusOK, true
	}
	return 0, false
}

// IssueToken returns a fresh valid token without an HTTP round trip,
// for tests that exercise the API only.
func (s *Sim) IssueToken() string {
	var raw [32]byte
	_, _ = rand.Read(raw[:])
	tok := base64.RawURLEncoding.EncodeToString(raw[:])
	s.mu.Lock()
	s.tokens[tok] = tokenInfo{expires: s.now().Add(s.cfg.TokenTTL), scope: s.cfg.Scope}
	s.mu.Unlock()
	return tok
}

// pruneTokens forgets long-expired tokens once the map has doubled since
// the last pruning, keeping issuance amortised O(1). Called with s.mu held.
func (s *Sim) pruneTokens(now time.Time) {
	if len(s.tokens) < s.pruneAt {
		return
	}
	for k, ti := range s.tokens {
		if now.Sub(ti.expires) > s.cfg.TokenTTL {
			delete(s.tokens, k)
		}
	}
	s.pruneAt = max(1024, 2*len(s.tokens))
}
