package booking

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// Rule is one row of a Table. It decodes from the JSON of a rules file.
type Rule struct {
	// Match is "prefix:Text", "contains:text" or "regexp:expr", compared
	// case-insensitively with the transaction text (trimmed of spaces).
	Match string `json:"match"`
	// Account is the counter-account, 4 digits, or a setting name in
	// braces such as "{prelSkatt}". Required unless Unmapped.
	Account string `json:"account,omitempty"`
	// SoleTrader is the counter-account for sole traders when it differs
	// (e.g. "2013", private).
	SoleTrader string `json:"soleTrader,omitempty"`
	// Refund is the counter-account when the amount is positive, if
	// different.
	Refund string `json:"refund,omitempty"`
	// Unmapped leaves matching texts unmapped on purpose (e.g. Anstånd),
	// so that no later rule books them.
	Unmapped bool `json:"unmapped,omitempty"`
	// Note documents the rule; it has no effect.
	Note string `json:"note,omitempty"`
}

// Table is a versioned rule table. ID and Version go into every voucher's
// rules field as "<id>@<version>". Rules are tried in order.
type Table struct {
	ID      string `json:"id"`
	Version string `json:"version"`
	Rules   []Rule `json:"rules"`
	// Accounts names the accounts the rules book (1630 included), for
	// exports that declare them (SIE's #KONTO). Optional; names do not
	// change a proposal, so they are not part of the version.
	Accounts map[string]string `json:"accounts,omitempty"`
}

// maxAccountName bounds an account name of a rules file, in characters.
const maxAccountName = 100

// AccountName returns the name t gives account, and false when it names
// none.
func (t *Table) AccountName(account string) (string, bool) {
	name, ok := t.Accounts[account]
	return name, ok && name != ""
}

//go:embed default-rules.json
var defaultRules []byte

var defaultTable = sync.OnceValue(func() *Table {
	t, err := Load(bytes.NewReader(defaultRules))
	if err != nil {
		panic("booking: default-rules.json invalid: " + err.Error()) // a bug in this package
	}
	return t
})

// DefaultRules returns the JSON of the default table, the form a user's
// replacement file takes.
func DefaultRules() []byte { return bytes.Clone(defaultRules) }

// Default returns the default table (default-rules.json), a copy the
// caller may change.
func Default() *Table {
	t := *defaultTable()
	t.Rules = append([]Rule(nil), t.Rules...)
	t.Accounts = maps.Clone(t.Accounts)
	return &t
}

// RuleError reports an invalid rule of a rules file.
type RuleError struct {
	// Index is the rule's position in the file, from 0.
	Index int
	// Field is the JSON name of the offending field.
	Field string
	Err   error
}

func (e *RuleError) Error() string {
	return fmt.Sprintf("rule %d: %s: %v", e.Index, e.Field, e.Err)
}

func (e *RuleError) Unwrap() error { return e.Err }

// SettingError reports an invalid field of Settings.
type SettingError struct {
	Name string
	Err  error
}

func (e *SettingError) Error() string { return fmt.Sprintf("setting %s: %v", e.Name, e.Err) }

func (e *SettingError) Unwrap() error { return e.Err }

// Errors wrapped by RuleError and SettingError.
var (
	ErrAccount = errors.New("not a 4-digit account")
	ErrSetting = errors.New("unknown setting")
	ErrMatch   = errors.New("invalid match")
)

// Load reads a rules file, JSON of the form of default-rules.json:
// {"id": …, "version": …, "rules": [{"match": …, "account": …}, …]}.
// It refuses unknown fields, an empty id, version or rule list, an
// accounts entry that is not a 4-digit account with a name, and any
// rule that is invalid: a match that is not prefix:, contains: or a
// regexp: that compiles, an account that is neither 4 digits nor a known
// {setting}, 1630 as counter-account, a mapped rule without account, or
// an unmapped rule with one. Errors about a rule are a *RuleError.
func Load(r io.Reader) (*Table, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var t Table
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("decode rules: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("decode rules: data after the table")
	}
	if t.ID == "" || t.Version == "" {
		return nil, errors.New("rules: id and version are required")
	}
	if len(t.Rules) == 0 {
		return nil, errors.New("rules: no rules")
	}
	for i, r := range t.Rules {
		if err := r.validate(); err != nil {
			err.Index = i
			return nil, err
		}
	}
	for a, name := range t.Accounts {
		if err := checkNamed(a, name); err != nil {
			return nil, fmt.Errorf("rules: accounts: %w", err)
		}
	}
	return &t, nil
}

// LoadFile reads a rules file from path; see Load.
func LoadFile(path string) (*Table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	t, err := Load(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

func (r Rule) validate() *RuleError {
	if _, err := compile(r.Match); err != nil {
		return &RuleError{Field: "match", Err: err}
	}
	if r.Unmapped {
		if r.Account != "" || r.SoleTrader != "" || r.Refund != "" {
			return &RuleError{Field: "unmapped", Err: errors.New("an unmapped rule names no account")}
		}
		return nil
	}
	if r.Account == "" {
		return &RuleError{Field: "account", Err: errors.New("required unless unmapped")}
	}
	for _, f := range []struct{ name, v string }{{"account", r.Account}, {"soleTrader", r.SoleTrader}, {"refund", r.Refund}} {
		if f.v == "" {
			continue
		}
		if _, err := resolve(f.v, Settings{}); err != nil {
			return &RuleError{Field: f.name, Err: err}
		}
	}
	return nil
}

// resolve turns a rule's account, 4 digits or "{setting}", into an
// account.
func resolve(account string, s Settings) (string, error) {
	if name, ok := strings.CutPrefix(account, "{"); ok {
		if name, ok = strings.CutSuffix(name, "}"); ok {
			a, known := s.lookup(name)
			if !known {
				return "", fmt.Errorf("%w %q", ErrSetting, account)
			}
			if err := checkAccount(a); err != nil {
				return "", &SettingError{Name: name, Err: err}
			}
			return a, nil
		}
	}
	if err := checkAccount(account); err != nil {
		return "", err
	}
	return account, nil
}

// checkNamed checks an entry of a table's accounts: a 4-digit account
// (1630 included) and a name of 1 to maxAccountName characters without
// control characters.
func checkNamed(a, name string) error {
	if err := checkAccount(a); err != nil && a != TaxAccount {
		return err
	}
	n := 0
	for _, r := range name {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == utf8.RuneError {
			return fmt.Errorf("account %s: name %q has a control or invalid character", a, name)
		}
		n++
	}
	if n == 0 || n > maxAccountName {
		return fmt.Errorf("account %s: name of %d characters, want 1 to %d", a, n, maxAccountName)
	}
	return nil
}

func checkAccount(a string) error {
	if len(a) != 4 {
		return fmt.Errorf("%w: %q", ErrAccount, a)
	}
	for i := range len(a) {
		if a[i] < '0' || a[i] > '9' {
			return fmt.Errorf("%w: %q", ErrAccount, a)
		}
	}
	if a == TaxAccount {
		return fmt.Errorf("%w: %s is the tax account itself", ErrAccount, a)
	}
	return nil
}

// matcher reports whether a trimmed, lower-cased text fits.
type matcher func(lower string) bool

// matchers caches compiled matches by their Match string, so that a Table
// needs no hidden state and Propose is safe for concurrent use. It holds
// at most maxCached entries; rule tables are small.
var (
	matchers sync.Map // string → matcher
	cached   atomic.Int64
)

const maxCached = 1024

func compile(match string) (matcher, error) {
	if m, ok := matchers.Load(match); ok {
		return m.(matcher), nil
	}
	kind, pat, ok := strings.Cut(match, ":")
	if !ok || strings.TrimSpace(pat) == "" {
		return nil, fmt.Errorf("%w %q: want prefix:, contains: or regexp: and a pattern", ErrMatch, match)
	}
	var m matcher
	switch kind {
	case "prefix":
		p := strings.ToLower(pat)
		m = func(s string) bool { return strings.HasPrefix(s, p) }
	case "contains":
		p := strings.ToLower(pat)
		m = func(s string) bool { return strings.Contains(s, p) }
	case "regexp":
		re, err := regexp.Compile("(?i)" + pat)
		if err != nil {
			return nil, fmt.Errorf("%w %q: %w", ErrMatch, match, err)
		}
		m = re.MatchString
	default:
		return nil, fmt.Errorf("%w %q: unknown kind %q", ErrMatch, match, kind)
	}
	if cached.Load() < maxCached {
		if _, loaded := matchers.LoadOrStore(match, m); !loaded {
			cached.Add(1)
		}
	}
	return m, nil
}

// match returns the first rule that fits text. A rule whose match does
// not compile (only possible in a hand-built Table) never fits.
func (t *Table) match(text string) (Rule, bool) {
	lower := strings.ToLower(strings.TrimSpace(text))
	for _, r := range t.Rules {
		m, err := compile(r.Match)
		if err == nil && m(lower) {
			return r, true
		}
	}
	return Rule{}, false
}
