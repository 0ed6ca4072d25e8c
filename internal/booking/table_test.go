package booking

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDefaultIsValidAndCopied(t *testing.T) {
	tb, err := Load(bytes.NewReader(DefaultRules()))
	if err != nil {
		t.Fatalf("default-rules.json: %v", err)
	}
	if diff := cmp.Diff(tb, Default()); diff != "" {
		t.Errorf("Default() differs from default-rules.json (-file +Default):\n%s", diff)
	}
	d := Default()
	d.Rules[0].Account = "9999"
	if got := Default().Rules[0].Account; got != "6992" {
		t.Errorf("changing a Default() copy changed the default: rule 0 account %q, want 6992", got)
	}
}

func TestLoadReplacesTable(t *testing.T) {
	const file = `{
  "id": "acme",
  "version": "2026-03",
  "rules": [
    {"match": "contains:preliminärskatt", "account": "2510", "soleTrader": "2013"},
    {"match": "regexp:^moms\\s", "account": "2650", "refund": "1650"},
    {"match": "prefix:Inbetalning", "account": "1940", "note": "our bank"}
  ]
}`
	path := filepath.Join(t.TempDir(), "rules.json")
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	tb, err := LoadFile(path)
	if err != nil {
		t.Fatalf("LoadFile: %v", err)
	}
	tests := []struct {
		text string
		skv  int64
		want string // counter-account, "" for unmapped
	}{
		{"Debiterad preliminärskatt", -100, "2510"},
		{"Moms mars 2026", 100, "1650"},
		{"Inbetalning bokförd 260312", 100, "1940"},
		{"Kostnadsränta", -12, ""}, // not in the user's table
	}
	for _, tt := range tests {
		v := tb.Propose(tt.text, amt(tt.skv), nil, Company, Settings{})
		if v.Rules != "acme@2026-03" {
			t.Errorf("Rules = %q, want acme@2026-03", v.Rules)
		}
		got := ""
		for _, l := range v.Lines {
			if l.Account != TaxAccount {
				got = l.Account
			}
		}
		if got != tt.want {
			t.Errorf("Propose(%q, %d) counter-account = %q, want %q (voucher %+v)", tt.text, tt.skv, got, tt.want, v)
		}
	}
}

func TestLoadRefusesBadFiles(t *testing.T) {
	const head = `{"id": "x", "version": "1", "rules": [{"match": "prefix:Moms", "account": "2650"}, `
	tests := []struct {
		name    string
		file    string
		index   int   // rule named by the *RuleError; -1: not a rule error
		wantErr error // wrapped error, nil: not checked
	}{
		{name: "bad JSON", file: `{"id": "x", "version": "1", "rules": [`, index: -1},
		{name: "not an object", file: `[]`, index: -1},
		{name: "unknown field", file: head + `{"match": "prefix:A", "acount": "2650"}]}`, index: -1},
		{name: "trailing data", file: head + `{"match": "prefix:A", "account": "2650"}]} {}`, index: -1},
		{name: "no id", file: `{"version": "1", "rules": [{"match": "prefix:A", "account": "2650"}]}`, index: -1},
		{name: "no rules", file: `{"id": "x", "version": "1", "rules": []}`, index: -1},
		{name: "bad regexp", file: head + `{"match": "regexp:^moms(", "account": "2650"}]}`, index: 1, wantErr: ErrMatch},
		{name: "unknown match kind", file: head + `{"match": "suffix:moms", "account": "2650"}]}`, index: 1, wantErr: ErrMatch},
		{name: "empty pattern", file: head + `{"match": "prefix:", "account": "2650"}]}`, index: 1, wantErr: ErrMatch},
		{name: "3-digit account", file: head + `{"match": "prefix:A", "account": "265"}]}`, index: 1, wantErr: ErrAccount},
		{name: "letters in account", file: head + `{"match": "prefix:A", "account": "26S0"}]}`, index: 1, wantErr: ErrAccount},
		{name: "tax account as counter", file: head + `{"match": "prefix:A", "account": "1630"}]}`, index: 1, wantErr: ErrAccount},
		{name: "3-digit sole trader account", file: head + `{"match": "prefix:A", "account": "2650", "soleTrader": "201"}]}`, index: 1, wantErr: ErrAccount},
		{name: "bad refund account", file: head + `{"match": "prefix:A", "account": "2650", "refund": "x"}]}`, index: 1, wantErr: ErrAccount},
		{name: "unknown setting", file: head + `{"match": "prefix:A", "account": "{prelskatt}"}]}`, index: 1, wantErr: ErrSetting},
		{name: "no account", file: head + `{"match": "prefix:A"}]}`, index: 1},
		{name: "unmapped with account", file: head + `{"match": "prefix:A", "unmapped": true, "account": "2650"}]}`, index: 1},
		{name: "first rule bad", file: `{"id": "x", "version": "1", "rules": [{"match": "prefix:A", "account": "12345"}]}`, index: 0, wantErr: ErrAccount},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb, err := Load(strings.NewReader(tt.file))
			if err == nil {
				t.Fatalf("Load = %+v, nil; want an error", tb)
			}
			var re *RuleError
			switch {
			case tt.index < 0:
				if errors.As(err, &re) {
					t.Errorf("Load error %v names rule %d, want no rule", err, re.Index)
				}
			case !errors.As(err, &re):
				t.Errorf("Load error %v is not a *RuleError", err)
			case re.Index != tt.index:
				t.Errorf("Load error names rule %d, want %d (%v)", re.Index, tt.index, err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Load error %v does not wrap %v", err, tt.wantErr)
			}
		})
	}
}

func TestLoadFileMissing(t *testing.T) {
	_, err := LoadFile(filepath.Join(t.TempDir(), "absent.json"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadFile(absent) = %v, want os.ErrNotExist", err)
	}
}

func TestHandBuiltTable(t *testing.T) {
	// A table built in code is not validated: bad rules never match and
	// bad accounts give unmapped, never an invalid line.
	tb := &Table{ID: "code", Version: "0", Rules: []Rule{
		{Match: "regexp:(", Account: "6992"},
		{Match: "prefix:Moms", Account: "26"},
		{Match: "prefix:Moms", Account: "2650"},
	}}
	if v := tb.Propose("Moms", amt(-5), nil, Company, Settings{}); v.Status != StatusUnmapped {
		t.Errorf("Propose with a bad first matching account = %+v, want unmapped", v)
	}
	tb.Rules = tb.Rules[:1]
	if v := tb.Propose("(", amt(-5), nil, Company, Settings{}); v.Status != StatusUnmapped {
		t.Errorf("Propose with a bad regexp = %+v, want unmapped", v)
	}
}

func FuzzLoad(f *testing.F) {
	f.Add(DefaultRules())
	f.Add([]byte(`{"id": "x", "version": "1", "rules": [{"match": "regexp:^moms(", "account": "2650"}]}`))
	f.Add([]byte(`{"id": "x", "version": "1", "rules": [{"match": "contains:a", "account": "{momsRefund}", "soleTrader": "2013"}]}`))
	f.Add([]byte(`{"id": "x", "version": "1", "rules": [{"match": "prefix:A", "unmapped": true}]}`))
	f.Add([]byte(`{`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, data []byte) {
		tb, err := Load(bytes.NewReader(data))
		if err != nil {
			if tb != nil {
				t.Fatalf("Load returned a table and an error %v", err)
			}
			return
		}
		// A table Load accepts proposes only valid vouchers.
		for _, text := range []string{"Moms mars 2026", "Debiterad preliminärskatt", "A", string(data)} {
			for _, skv := range []int64{-1234, 1234} {
				for _, owner := range []Owner{Company, SoleTrader} {
					v := tb.Propose(text, &skv, nil, owner, Settings{MomsRefund: "1650"})
					checkVoucher(t, text, v, skv)
				}
			}
		}
	})
}

// TestDefaultNamesEveryAccount: every account the default table can book,
// under the defaults and each documented alternative of the settings, has
// a name, so an export can declare it.
func TestDefaultNamesEveryAccount(t *testing.T) {
	tb := Default()
	alternatives := []Settings{{}, {PrelSkatt: "2510", Arbetsgivaravg: "2730", SlutligSkatt: "2510", MomsRefund: "1650"}}
	accounts := map[string]bool{TaxAccount: true}
	for _, s := range alternatives {
		for _, r := range tb.Rules {
			for _, a := range []string{r.Account, r.SoleTrader, r.Refund} {
				if a == "" {
					continue
				}
				if resolved, err := resolve(a, s); err == nil {
					accounts[resolved] = true
				}
			}
		}
	}
	for a := range accounts {
		if _, ok := tb.AccountName(a); !ok {
			t.Errorf("default-rules.json names no account %s", a)
		}
	}
	if _, ok := tb.AccountName("9999"); ok {
		t.Error("AccountName(9999) found a name the table does not hold")
	}
	d := Default()
	d.Accounts["1630"] = "changed"
	if got, _ := Default().AccountName("1630"); got == "changed" {
		t.Error("changing a Default() copy's accounts changed the default")
	}
}

func TestLoadRefusesBadAccountNames(t *testing.T) {
	const head = `{"id": "x", "version": "1", "rules": [{"match": "prefix:Moms", "account": "2650"}], "accounts": `
	for _, tt := range []struct {
		name, accounts string
		ok             bool
	}{
		{"named", `{"2650": "Moms", "1630": "Skattekonto"}`, true},
		{"none", `{}`, true},
		{"3-digit account", `{"265": "Moms"}`, false},
		{"empty name", `{"2650": ""}`, false},
		{"newline in name", `{"2650": "Moms\nredovisning"}`, false},
		{"name too long", `{"2650": "` + strings.Repeat("å", 101) + `"}`, false},
		{"name not a string", `{"2650": 1}`, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(strings.NewReader(head + tt.accounts + "}"))
			if (err == nil) != tt.ok {
				t.Errorf("Load: error %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
