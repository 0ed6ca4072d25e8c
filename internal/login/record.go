package login

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// record is one login as every replica sees it, sealed in the bucket
// under loginKey(Ref). It changes only by compare-and-set (Manager.modify).
type record struct {
	// Ref is the login's public reference: it names the login in fetch
	// requests, events and logs, and is of no use without Secret.
	Ref string `json:"ref"`
	// Browser is browserKey of the browser (and forwarded user) that
	// logged in: the page shows the login to it alone.
	Browser  string    `json:"browser"`
	Accounts []string  `json:"accounts"`
	Started  time.Time `json:"started"`
	// Secret signs the login's fetch requests (proof.go). It never leaves
	// the sealed record.
	Secret []byte `json:"secret"`
	// Token is the login's newest token; nil once the login ended.
	Token          *oauth2.Token `json:"token,omitempty"`
	Issued         time.Time     `json:"issued"`
	Refreshes      int           `json:"refreshes"`
	RefreshExpires time.Time     `json:"refreshExpires"`
	// Claim is set while a replica spends the refresh token.
	Claim *claim `json:"claim,omitempty"`
	// Published counts the fetch requests sent; LastRound is when the
	// last round of them was sent.
	Published int       `json:"published"`
	LastRound time.Time `json:"lastRound,omitzero"`
	// End is set once the login ended.
	End *end `json:"end,omitempty"`
}

// claim says that replica By is refreshing the login's token until Until
// at the latest: others wait for its answer instead of spending the same
// refresh token.
type claim struct {
	By    string    `json:"by"`
	Until time.Time `json:"until"`
}

// Ways a login ends.
const (
	endRefused   = "refused"   // the token endpoint refused the refresh
	endNoRefresh = "norefresh" // the access token expired and no refresh token was given
	endLogout    = "logout"    // the user logged out
)

// end says why and when a login ended.
type end struct {
	Kind string    `json:"kind"`
	At   time.Time `json:"at"`
	// Refreshes, HTTP and Code describe a refused refresh.
	Refreshes int    `json:"refreshes,omitempty"`
	HTTP      int    `json:"http,omitempty"`
	Code      string `json:"code,omitempty"`
}

// reason says why the login ended, in English for logs and events, or
// in the page's language.
func (e *end) reason(lang string) string {
	sv := lang == langSV
	switch e.Kind {
	case endRefused:
		if sv {
			return fmt.Sprintf("Skatteverket vägrade förnya inloggningen efter %d förnyelser (http %d %s)", e.Refreshes, e.HTTP, e.Code)
		}
		return fmt.Sprintf("refresh refused after %d refreshes (http %d %s)", e.Refreshes, e.HTTP, e.Code)
	case endNoRefresh:
		if sv {
			return "åtkomsttoken gick ut och ingen förnyelsetoken gavs"
		}
		return "the access token expired and no refresh token was given"
	case endLogout:
		if sv {
			return "du loggade ut"
		}
		return "logged out by the user"
	}
	return e.Kind
}

// Durations of the keys in the bucket.
const (
	// keepEnded is how long an ended login stays on the page.
	keepEnded = 6 * time.Hour
	// pendingTTL is how long a started login may take at the authorize
	// endpoint.
	pendingTTL = 10 * time.Minute
	// claimTTL bounds one replica's refresh; refreshTimeout, shorter,
	// bounds its call to the token endpoint, so that a claim is never
	// taken over while its refresh may still succeed.
	claimTTL       = 2 * time.Minute
	refreshTimeout = 30 * time.Second
)

// ttl is how long the record is kept from now: a live login until its
// refresh token expires and keepEnded more (to show and report its end),
// an ended one keepEnded after its end.
func (r *record) ttl(now time.Time) time.Duration {
	if r.End != nil {
		return max(keepEnded-now.Sub(r.End.At), time.Second)
	}
	return max(r.RefreshExpires.Sub(now), 0) + keepEnded
}

// earlyExpiry is how long before its expiry a token is refreshed: a
// minute, or a quarter of its life when that is shorter.
func earlyExpiry(issued, expiry time.Time) time.Duration {
	return max(0, min(time.Minute, expiry.Sub(issued)/4))
}

// fresh reports whether the access token may still be used at now.
func (r *record) fresh(now time.Time) bool {
	t := r.Token
	return t != nil && t.AccessToken != "" && (t.Expiry.IsZero() || now.Add(earlyExpiry(r.Issued, t.Expiry)).Before(t.Expiry))
}

// refreshDue is when the access token should be refreshed; zero when it
// never needs to be (no expiry, or the login ended).
func (r *record) refreshDue() time.Time {
	if r.End != nil || r.Token == nil || r.Token.Expiry.IsZero() {
		return time.Time{}
	}
	return r.Token.Expiry.Add(-earlyExpiry(r.Issued, r.Token.Expiry))
}

func (r *record) masked() []string { return maskAll(r.Accounts) }

// refreshTTL reads the refresh token's life from the token answer
// (refresh_expires_in or refresh_token_expires_in), else the default.
func refreshTTL(t *oauth2.Token) time.Duration {
	for _, k := range []string{"refresh_expires_in", "refresh_token_expires_in"} {
		switch v := t.Extra(k).(type) {
		case float64:
			if v > 0 {
				return time.Duration(v) * time.Second
			}
		case json.Number:
			if n, err := v.Int64(); err == nil && n > 0 {
				return time.Duration(n) * time.Second
			}
		case string:
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				return time.Duration(n) * time.Second
			}
		}
	}
	return DefaultRefreshTTL
}

// pending is a login sent to the authorize endpoint, waiting for its
// callback, under pendingKey(state).
type pending struct {
	Browser  string    `json:"browser"`
	Verifier string    `json:"verifier"`
	Accounts []string  `json:"accounts"`
	Created  time.Time `json:"created"`
	Lang     string    `json:"lang"`
}

// Keys in the bucket.
const (
	loginPrefix   = "login."
	leasePrefix   = "lease."
	pendingPrefix = "pending."
)

func loginKey(ref string) string { return loginPrefix + ref }
func leaseKey(ref string) string { return leasePrefix + ref }

// pendingKey names a started login by a hash of its state, so the key
// does not give the state away.
func pendingKey(state string) string {
	sum := sha256.Sum256([]byte("skattekonto-login-state\x00" + state))
	return pendingPrefix + hex.EncodeToString(sum[:16])
}

// browserKey is what a record keeps of the browser that may see it: a
// hash of its cookie and, behind a forward-auth proxy, of the user.
func browserKey(cookie, user string) string {
	sum := sha256.Sum256([]byte("skattekonto-login-browser\x00" + cookie + "\x00" + user))
	return hex.EncodeToString(sum[:])
}

// newRef returns a fresh login reference, "lg-" and 22 random characters.
func newRef() string { return "lg-" + randomID(16) }

// validRef reports whether s looks like a reference newRef returns (it
// becomes part of a KV key).
func validRef(s string) bool {
	rest, ok := strings.CutPrefix(s, "lg-")
	if !ok || len(rest) != 22 {
		return false
	}
	for _, c := range rest {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
