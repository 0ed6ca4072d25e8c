package sim

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Correlation header names accepted on API calls (case-insensitive).
const (
	CorrelationHeader    = "SKV-client_correlationid"
	AltCorrelationHeader = "skv_client_correlation_id"
)

// felkod messages and HTTP statuses, as in the service description.
var felkoder = map[int]struct {
	status int
	text   string
}{
	1: {http.StatusBadRequest, "Felaktigt organisationsnummer"},
	2: {http.StatusBadRequest, "Felaktigt datum"},
	3: {http.StatusNotFound, "Registrerat skattekonto saknas"},
	4: {http.StatusInternalServerError, "Internt fel"},
	5: {http.StatusServiceUnavailable, "Skattekontot är stängt"},
	6: {http.StatusForbidden, "Auktorisation saknas"},
}

// felkodBody returns the HTTP status and body of a felkod answer.
func felkodBody(code int) (int, []byte) {
	f, ok := felkoder[code]
	if !ok {
		f = felkoder[4]
	}
	b, _ := json.Marshal(felkodError{Felkod: code, Felmeddelande: f.text})
	return f.status, b
}

func correlationID(r *http.Request) string {
	if v := r.Header.Get(CorrelationHeader); v != "" {
		return v
	}
	return r.Header.Get(AltCorrelationHeader)
}

func secureEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// serveAPIPath routes a call below APIPrefix to its operation; a path no
// operation is served under answers 404 without a felkod, as the
// gateway does for a resource that does not exist.
func (s *Sim) serveAPIPath(w http.ResponseWriter, r *http.Request) {
	op, omf, ok := s.routeAPI(strings.TrimPrefix(r.URL.Path, APIPrefix))
	if !ok {
		writeJSON(w, http.StatusNotFound, gatewayError{Error: "No resource found"})
		return
	}
	status := s.serveAPI(w, r, op, omf)
	if s.log.Debug().Enabled() {
		s.log.Debug().Str("op", op).Str("omfragad", Mask(omf)).
			Str("correlationId", correlationID(r)).Int("status", status).Msg("sim api call")
	}
}

// serveAPI answers one API call and returns the HTTP status written
// (0 when the request was abandoned).
func (s *Sim) serveAPI(w http.ResponseWriter, r *http.Request, op, omf string) int {
	corr := correlationID(r)
	s.mu.Lock()
	s.calls[op]++
	if corr != "" {
		s.corrIDs = append(s.corrIDs, corr)
	}
	s.mu.Unlock()

	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET")
		writeJSON(w, http.StatusMethodNotAllowed, gatewayError{Error: "Method not allowed"})
		return http.StatusMethodNotAllowed
	}
	ctx := r.Context()
	if s.cfg.Latency > 0 {
		if s.sleep(ctx, s.cfg.Latency) != nil {
			return 0
		}
	}
	if st := s.gateway(w, r, corr); st != 0 {
		return st
	}
	if win, closed := s.windowClosed(); closed {
		return s.serveWindow(ctx, w, win)
	}
	key := omf
	if k, ok := canonicalOmfragad(omf); ok {
		key = k
	}
	if s.personDenied(r, key) {
		st, b := felkodBody(6) // the person may not see this account
		writeBody(w, st, b)
		return st
	}
	f := s.takeFault(key, op)
	if f != nil {
		if st, done := s.serveFault(ctx, w, f); done {
			return st
		}
	}
	st, body := s.answer(op, omf, r.URL.Query())
	if f != nil && f.Kind == FaultTruncated {
		writeBody(w, http.StatusOK, body[:len(body)/2])
		return http.StatusOK
	}
	if f != nil && reshapeKind(f.Kind) && st == http.StatusOK {
		body = reshape(body, f)
	}
	writeBody(w, st, body)
	return st
}

// gateway makes the API gateway's checks: keys, token and scope (unless
// keys only), correlation id, rate limit. It answers a call that fails
// them and returns its status; 0 lets the call through.
func (s *Sim) gateway(w http.ResponseWriter, r *http.Request, corr string) int {
	if !secureEqual(r.Header.Get("client_id"), s.cfg.ClientID) || !secureEqual(r.Header.Get("client_secret"), s.cfg.ClientSecret) {
		writeJSON(w, http.StatusUnauthorized, gatewayError{Error: "Invalid client credentials"})
		return http.StatusUnauthorized
	}
	if !s.cfg.KeysOnly {
		if st, msg := s.checkToken(r); st != 0 {
			if st == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			}
			writeJSON(w, st, gatewayError{Error: msg})
			return st
		}
	}
	if corr == "" {
		writeJSON(w, http.StatusBadRequest, gatewayError{Error: "Missing required header " + CorrelationHeader})
		return http.StatusBadRequest
	}
	if len(corr) > 36 {
		writeJSON(w, http.StatusBadRequest, gatewayError{Error: "Header " + CorrelationHeader + " longer than 36 characters"})
		return http.StatusBadRequest
	}
	s.mu.Lock()
	ok, wait := s.bucket.take(s.now())
	s.mu.Unlock()
	if !ok {
		w.Header().Set("Retry-After", retryAfter(wait))
		writeJSON(w, http.StatusTooManyRequests, gatewayError{Error: "Too many requests"})
		return http.StatusTooManyRequests
	}
	return 0
}

// serveFault acts out an API fault. done is false when the call goes on
// to its normal answer (latency, truncated); status 0 with done means the
// call was abandoned.
func (s *Sim) serveFault(ctx context.Context, w http.ResponseWriter, f *Fault) (status int, done bool) {
	if f.Latency > 0 && s.sleep(ctx, f.Latency) != nil {
		return 0, true
	}
	switch f.Kind {
	case FaultHang:
		<-ctx.Done()
		return 0, true
	case FaultFelkod:
		code := f.Felkod
		if code == 0 {
			code = 4
		}
		st, b := felkodBody(code)
		writeBody(w, st, b)
		return st, true
	case FaultHTTP429:
		w.Header().Set("Retry-After", retryAfter(f.RetryAfter))
		writeJSON(w, http.StatusTooManyRequests, gatewayError{Error: "Too many requests"})
		return http.StatusTooManyRequests, true
	case FaultHTTP503:
		if f.RetryAfter > 0 {
			w.Header().Set("Retry-After", retryAfter(f.RetryAfter))
		}
		writeJSON(w, http.StatusServiceUnavailable, gatewayError{Error: "Service unavailable"})
		return http.StatusServiceUnavailable, true
	case FaultHTTP502:
		writeJSON(w, http.StatusBadGateway, gatewayError{Error: "Bad gateway"})
		return http.StatusBadGateway, true
	case FaultNonJSON:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(nonJSONBody))
		return http.StatusOK, true
	}
	return 0, false
}

const nonJSONBody = "<!DOCTYPE html>\n<html><head><title>Service Unavailable</title></head>" +
	"<body><h1>Tjänsten är tillfälligt otillgänglig</h1><p>Försök igen senare.</p></body></html>\n"

// retryAfter renders d as whole seconds, rounded up, at least 1.
func retryAfter(d time.Duration) string {
	secs := int(math.Ceil(d.Seconds()))
	if secs < 1 {
		secs = 1
	}
	return strconv.Itoa(secs)
}

// checkToken returns 0 when the bearer token is valid and has the
// required scope, else the HTTP status and gateway message.
func (s *Sim) checkToken(r *http.Request) (int, string) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return http.StatusUnauthorized, "Invalid token: no bearer token"
	}
	tok = strings.TrimSpace(tok)
	s.mu.Lock()
	ti, found := s.tokens[tok]
	now := s.now()
	s.mu.Unlock()
	switch {
	case !found:
		return http.StatusUnauthorized, "Token has been revoked."
	case !now.Before(ti.expires):
		return http.StatusUnauthorized, "Invalid token: token has expired"
	case !hasScope(ti.scope, s.cfg.Scope):
		return http.StatusForbidden, "The required scopes are not authorized"
	}
	return 0, ""
}

func hasScope(granted, want string) bool {
	for _, g := range strings.Fields(granted) {
		if g == want {
			return true
		}
	}
	return false
}

// Wire structs: the JSON of the API answers.

type wireCommon struct {
	NastaAvstamningsdatum string   `json:"nastaAvstamningsdatum"`
	SenastUppdaterad      string   `json:"senastUppdaterad"`
	Informationstext      []string `json:"informationstext,omitempty"`
}

type wireSaldo struct {
	SaldoSkatteverket int64  `json:"saldoSkatteverket"`
	SaldoKronofogden  int64  `json:"saldoKronofogden"`
	RantaSkatteverket int64  `json:"rantaSkatteverket"`
	RantaKronofogden  int64  `json:"rantaKronofogden"`
	OcrNummer         string `json:"ocrNummer"`
	wireCommon
}

type wireTransaktioner struct {
	DatumFrom string   `json:"datumFrom"`
	OcrNummer string   `json:"ocrNummer"`
	Tidigare  []wireTx `json:"tidigareTransaktioner"`
	Kommande  []wireTx `json:"kommandeTransaktioner"`
	wireCommon
}

type wireTx struct {
	Transaktionsidentitet int64  `json:"transaktionsidentitet,omitempty"`
	Transaktionsdatum     string `json:"transaktionsdatum"`
	Forfallodatum         string `json:"forfallodatum,omitempty"`
	Ranteberakningsdatum  string `json:"ranteberakningsdatum"`
	Beslutsdatum          string `json:"beslutsdatum,omitempty"`
	Transaktionstext      string `json:"transaktionstext"`
	BeloppSkatteverket    *int64 `json:"beloppSkatteverket,omitempty"`
	BeloppKronofogden     *int64 `json:"beloppKronofogden,omitempty"`
}

type wireUtbetalningskonto struct {
	Utbetalningskonto *string `json:"utbetalningskonto,omitempty"`
	wireCommon
}

type wireSparrar struct {
	Sparrar []wireSparr `json:"utbetalningssparrar"`
	wireCommon
}

type wireSparr struct {
	Sparridentitet int64  `json:"sparridentitet"`
	DatumFrom      string `json:"datumFrom"`
	DatumTom       string `json:"datumTom,omitempty"`
	Sparrbelopp    *int64 `json:"sparrbelopp,omitempty"`
	Totalsparr     *bool  `json:"totalsparr,omitempty"`
}

func common(a *Account, today time.Time) wireCommon {
	var info []string
	if len(a.Informationstext) > 0 {
		info = append([]string(nil), a.Informationstext...)
	}
	return wireCommon{NastaAvstamningsdatum: nextReconciliation(a.NastaAvstamningsdatum, today),
		SenastUppdaterad: a.SenastUppdaterad, Informationstext: info}
}

// answer computes the status and body of a call that passed the gateway.
// The wire value is built under the lock and encoded outside it.
func (s *Sim) answer(op, omf string, q url.Values) (int, []byte) {
	key, ok := canonicalOmfragad(omf)
	if !ok {
		return felkodBody(1)
	}
	today := s.today()
	var datumFrom string
	switch op {
	case OpSaldo:
		if d, ok := q["datum"]; ok && !validDate(d[0]) {
			return felkodBody(2)
		}
	case OpTransaktioner:
		from, ok := resolveDatumFrom(q.Get("datumFrom"), today)
		if !ok {
			return felkodBody(2)
		}
		datumFrom = from
	}

	var v any
	s.mu.Lock()
	a := s.accounts[key]
	switch {
	case a == nil:
		s.mu.Unlock()
		return felkodBody(3)
	case a.Unauthorized:
		s.mu.Unlock()
		return felkodBody(6)
	case a.Closed:
		s.mu.Unlock()
		return felkodBody(5)
	}
	switch op {
	case OpSaldo:
		v = wireSaldo{
			SaldoSkatteverket: a.SaldoSkatteverket, SaldoKronofogden: a.SaldoKronofogden,
			RantaSkatteverket: a.RantaSkatteverket, RantaKronofogden: a.RantaKronofogden,
			OcrNummer: a.OcrNummer, wireCommon: common(a, today),
		}
	case OpTransaktioner:
		// Tidigare is kept sorted by transaktionsdatum.
		i := sort.Search(len(a.Tidigare), func(i int) bool { return a.Tidigare[i].Transaktionsdatum >= datumFrom })
		tid := make([]wireTx, 0, len(a.Tidigare)-i)
		for _, t := range a.Tidigare[i:] {
			wt := toWire(t)
			if a.NoIdentities {
				wt.Transaktionsidentitet = 0
			}
			tid = append(tid, wt)
		}
		kom := make([]wireTx, 0, len(a.Kommande))
		for _, t := range a.Kommande {
			wt := toWire(t)
			wt.Transaktionsidentitet = 0
			kom = append(kom, wt)
		}
		v = wireTransaktioner{DatumFrom: datumFrom, OcrNummer: a.OcrNummer, Tidigare: tid, Kommande: kom, wireCommon: common(a, today)}
	case OpUtbetalningskonto:
		v = wireUtbetalningskonto{Utbetalningskonto: a.Utbetalningskonto, wireCommon: common(a, today)}
	case OpUtbetalningssparrar:
		sp := make([]wireSparr, 0, len(a.Sparrar))
		for _, b := range a.Sparrar {
			sp = append(sp, wireSparr(b))
		}
		v = wireSparrar{Sparrar: sp, wireCommon: common(a, today)}
	}
	s.mu.Unlock()

	b, err := json.Marshal(v)
	if err != nil {
		return felkodBody(4)
	}
	return http.StatusOK, b
}

func toWire(t Transaction) wireTx {
	return wireTx{
		Transaktionsidentitet: t.Transaktionsidentitet,
		Transaktionsdatum:     t.Transaktionsdatum,
		Forfallodatum:         t.Forfallodatum,
		Ranteberakningsdatum:  t.Ranteberakningsdatum,
		Beslutsdatum:          t.Beslutsdatum,
		Transaktionstext:      t.Transaktionstext,
		BeloppSkatteverket:    t.BeloppSkatteverket,
		BeloppKronofogden:     t.BeloppKronofogden,
	}
}

// Look-back rules of the transactions operation.
const (
	DefaultLookbackMonths = 18
	MaxLookbackDays       = 915
)

// resolveDatumFrom applies the datumFrom rules: empty → 18 months back,
// older than 915 days → 915 days back, invalid or future → not ok.
func resolveDatumFrom(in string, today time.Time) (string, bool) {
	if in == "" {
		return today.AddDate(0, -DefaultLookbackMonths, 0).Format(dateLayout), true
	}
	d, err := time.ParseInLocation(dateLayout, in, stockholm)
	if err != nil || d.Format(dateLayout) != in || d.After(today) {
		return "", false
	}
	if limit := today.AddDate(0, 0, -MaxLookbackDays); d.Before(limit) {
		return limit.Format(dateLayout), true
	}
	return in, true
}
