package login

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/idnr"
)

// Why Check refuses a fetch request. Each is wrapped with the login's
// reference; test with errors.Is.
var (
	// ErrBadProof: the request does not carry a valid proof
	// (contract.LoginProofHeader) from the login it names — forged,
	// changed on the way, or not sent by the login component.
	ErrBadProof = errors.New("not signed by the login it names")
	// ErrStaleRequest: the proof is older than Config.RequestMaxAge.
	ErrStaleRequest = errors.New("older than a login's request may be")
	// ErrAccountNotChosen: the account is not one the person chose.
	ErrAccountNotChosen = errors.New("names an account the login was not made for")
)

// proofVersion starts every proof; proofSkew is how far in the future a
// proof's time may lie (clocks of replicas differ a little).
const (
	proofVersion = "v1"
	proofSkew    = time.Minute
)

// sign returns the proof of a login's fetch request: "v1 <unix seconds>
// <base64url HMAC-SHA256>", the hash keyed with the login's secret over
// the version, the time, the subject and the body.
func sign(secret []byte, at time.Time, subject string, body []byte) string {
	unix := at.Unix()
	return proofVersion + " " + strconv.FormatInt(unix, 10) + " " + base64.RawURLEncoding.EncodeToString(proofMAC(secret, unix, subject, body))
}

func proofMAC(secret []byte, unix int64, subject string, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte("skattekonto-login-request\x00" + proofVersion + "\x00" + strconv.FormatInt(unix, 10) + "\x00" + subject + "\x00"))
	h.Write(body)
	return h.Sum(nil)
}

// parseProof reads a proof header: outside input.
func parseProof(s string) (unix int64, mac []byte, err error) {
	if s == "" {
		return 0, nil, errors.New("no proof")
	}
	if len(s) > 100 {
		return 0, nil, fmt.Errorf("proof of %d bytes", len(s))
	}
	parts := strings.Split(s, " ")
	if len(parts) != 3 || parts[0] != proofVersion {
		return 0, nil, errors.New("proof is not \"v1 <time> <mac>\"")
	}
	for _, c := range parts[1] {
		if c < '0' || c > '9' {
			return 0, nil, errors.New("proof time is not a number")
		}
	}
	unix, err = strconv.ParseInt(parts[1], 10, 64)
	if err != nil || len(parts[1]) > 12 {
		return 0, nil, errors.New("proof time out of range")
	}
	mac, err = base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(mac) != sha256.Size {
		return 0, nil, errors.New("proof mac is not 32 bytes of base64url")
	}
	return unix, mac, nil
}

// Check accepts a fetch request with "auth": "user" only when the login
// component sent it (jobs.Sessions): proof, the request's
// contract.LoginProofHeader, must be the login's signature of this
// subject and body, not older than Config.RequestMaxAge, and the subject
// must name one of the accounts the person chose. A request that fails
// is never served with the login.
func (m *Manager) Check(subject string, body []byte, proof string) error {
	var w struct {
		Session string `json:"session"`
	}
	if json.Unmarshal(body, &w) != nil || w.Session == "" {
		return fmt.Errorf("login request: %w: it names no login", ErrBadProof)
	}
	ctx, cancel := context.WithTimeout(m.octx, 10*time.Second)
	defer cancel()
	l, err := m.lookup(ctx, w.Session)
	if err != nil {
		return err
	}
	rec, _ := l.snapshot()
	unix, mac, err := parseProof(proof)
	if err != nil {
		return fmt.Errorf("login %s: request %w: %v", rec.Ref, ErrBadProof, err)
	}
	if !hmac.Equal(mac, proofMAC(rec.Secret, unix, subject, body)) {
		return fmt.Errorf("login %s: request %w", rec.Ref, ErrBadProof)
	}
	now, at := m.cfg.Now(), time.Unix(unix, 0)
	if at.After(now.Add(proofSkew)) {
		return fmt.Errorf("login %s: request %w: its time lies ahead", rec.Ref, ErrBadProof)
	}
	if now.Sub(at) > m.cfg.RequestMaxAge {
		return fmt.Errorf("login %s: request %w (sent %s ago, %s allowed)", rec.Ref, ErrStaleRequest,
			now.Sub(at).Truncate(time.Second), m.cfg.RequestMaxAge)
	}
	acct, err := idnr.Parse(strings.TrimPrefix(subject, contract.FetchPrefix))
	if err != nil || !strings.HasPrefix(subject, contract.FetchPrefix) || !rec.hasAccount(acct) {
		return fmt.Errorf("login %s: request %w", rec.Ref, ErrAccountNotChosen)
	}
	return nil
}
