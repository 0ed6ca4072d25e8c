package config

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/kelseyhightower/envconfig"
)

// configDoc is the one table of the worker's environment variables.
const configDoc = "../../docs/configuration.md"

// envVar is one environment variable: its name and its default in code.
type envVar struct {
	name, def string
}

// envVars lists the variables envconfig.Process(prefix, spec) reads, with
// their default tags. It asks envconfig itself (Usagef walks the struct as
// Process does: nested and embedded structs, split_words, prefixes,
// ignored fields), so the names are the ones the worker really reads.
func envVars(prefix string, spec any) ([]envVar, error) {
	var b bytes.Buffer
	const format = "{{range .}}{{usage_key .}}\t{{usage_default .}}\n{{end}}"
	if err := envconfig.Usagef(prefix, spec, &b, format); err != nil {
		return nil, fmt.Errorf("list variables: %w", err)
	}
	var out []envVar
	for line := range strings.SplitSeq(strings.TrimSuffix(b.String(), "\n"), "\n") {
		if line == "" {
			continue
		}
		name, def, _ := strings.Cut(line, "\t")
		out = append(out, envVar{name, def})
	}
	return out, nil
}

// TestEnvVarsFollowsEnvconfigNaming pins how names are built for the
// shapes a configuration may grow into, so that the documentation check
// below cannot silently miss the variables of a nested struct.
func TestEnvVarsFollowsEnvconfigNaming(t *testing.T) {
	type Inner struct {
		PathSaldo string `envconfig:"PATH_SALDO" default:"/saldo"`
		MaxAge    string `split_words:"true"`
	}
	type Embedded struct {
		Webhooks string `envconfig:"WEBHOOKS_FILE"`
	}
	type spec struct {
		Embedded
		Plain   string
		Tagged  string `envconfig:"SKV_SCOPE" default:"ska"`
		Split   int    `split_words:"true" default:"3"`
		SKV     Inner
		Nested  Inner  `envconfig:"X"`
		Skipped []byte `ignored:"true"`
		hidden  string
	}
	tests := []struct {
		name   string
		prefix string
		want   []envVar
	}{
		{"no prefix", "", []envVar{
			{"WEBHOOKS_FILE", ""}, {"PLAIN", ""}, {"SKV_SCOPE", "ska"}, {"SPLIT", "3"},
			{"SKV_PATH_SALDO", "/saldo"}, {"SKV_MAX_AGE", ""}, {"X_PATH_SALDO", "/saldo"}, {"X_MAX_AGE", ""},
		}},
		{"prefix", "app", []envVar{
			{"APP_WEBHOOKS_FILE", ""}, {"APP_PLAIN", ""}, {"APP_SKV_SCOPE", "ska"}, {"APP_SPLIT", "3"},
			{"APP_SKV_PATH_SALDO", "/saldo"}, {"APP_SKV_MAX_AGE", ""}, {"APP_X_PATH_SALDO", "/saldo"}, {"APP_X_MAX_AGE", ""},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var s spec
			_ = s.hidden
			got, err := envVars(tc.prefix, &s)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// docRow is one row of the variables table.
type docRow struct {
	line int
	name string
	// def is the default in code form (the default cell's leading code
	// span); "" when the cell does not start with one.
	def string
}

var codeSpan = regexp.MustCompile("^`([^`]*)`")

// readVarTable reads the table whose header is | variable | default |
// meaning |: the first cell of each row is one variable in a code span.
func readVarTable(doc []byte) ([]docRow, error) {
	var rows []docRow
	in, found := false, false
	sc := bufio.NewScanner(bytes.NewReader(doc))
	for n := 1; sc.Scan(); n++ {
		cells := tableCells(sc.Text())
		switch {
		case !in && slices.Equal(cells, []string{"variable", "default", "meaning"}):
			if found {
				return nil, fmt.Errorf("line %d: a second variables table (keep one)", n)
			}
			in, found = true, true
		case in && cells == nil:
			in = false
		case in && strings.Trim(strings.Join(cells, ""), "-: ") == "":
			// the separator row
		case in:
			if len(cells) != 3 {
				return nil, fmt.Errorf("line %d: %d cells, want variable | default | meaning", n, len(cells))
			}
			m := codeSpan.FindStringSubmatch(cells[0])
			if m == nil || m[0] != cells[0] {
				return nil, fmt.Errorf("line %d: first cell %q is not one `VARIABLE`", n, cells[0])
			}
			r := docRow{line: n, name: m[1]}
			if d := codeSpan.FindStringSubmatch(cells[1]); d != nil {
				r.def = d[1]
				if r.def == "" {
					return nil, fmt.Errorf("line %d: empty code span as the default of %s", n, r.name)
				}
			}
			rows = append(rows, r)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("no table with the header | variable | default | meaning |")
	}
	return rows, nil
}

// tableCells splits a markdown table row into trimmed cells; nil when the
// line is not a table row. A \| inside a cell does not split it.
func tableCells(line string) []string {
	line = strings.TrimSpace(line)
	if !strings.HasPrefix(line, "|") || !strings.HasSuffix(line, "|") || len(line) < 2 {
		return nil
	}
	var cells []string
	var cur strings.Builder
	body := line[1 : len(line)-1]
	for i := 0; i < len(body); i++ {
		switch {
		case body[i] == '\\' && i+1 < len(body) && body[i+1] == '|':
			cur.WriteByte('|')
			i++
		case body[i] == '|':
			cells = append(cells, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteByte(body[i])
		}
	}
	return append(cells, strings.TrimSpace(cur.String()))
}

// checkVarTable compares the documented rows with the variables the code
// reads and returns every disagreement.
func checkVarTable(rows []docRow, vars []envVar) []string {
	var problems []string
	code := map[string]string{}
	for _, v := range vars {
		code[v.name] = v.def
	}
	seen := map[string]bool{}
	for _, r := range rows {
		def, ok := code[r.name]
		switch {
		case seen[r.name]:
			problems = append(problems, fmt.Sprintf("line %d: %s is listed twice", r.line, r.name))
		case !ok:
			problems = append(problems, fmt.Sprintf("line %d: %s is documented but the configuration does not read it", r.line, r.name))
		case def != r.def && def == "":
			problems = append(problems, fmt.Sprintf("line %d: %s has no default in code, but its default cell starts with `%s` (write none, empty, or from …)", r.line, r.name, r.def))
		case def != r.def:
			problems = append(problems, fmt.Sprintf("line %d: %s defaults to %q in code; its default cell must start with `%s`", r.line, r.name, def, def))
		}
		seen[r.name] = true
	}
	for _, v := range vars {
		if !seen[v.name] {
			problems = append(problems, fmt.Sprintf("%s (default %q) is read by the configuration but missing from the table", v.name, v.def))
		}
	}
	return problems
}

// TestConfigurationDocMatchesConfig keeps docs/configuration.md true to
// the configuration: every variable the worker reads is a row, every row
// is a variable it reads, and the defaults agree.
func TestConfigurationDocMatchesConfig(t *testing.T) {
	doc, err := os.ReadFile(configDoc)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := readVarTable(doc)
	if err != nil {
		t.Fatalf("%s: %v", configDoc, err)
	}
	// Load processes the environment without a prefix.
	vars, err := envVars("", &Config{})
	if err != nil {
		t.Fatal(err)
	}
	if len(vars) == 0 {
		t.Fatal("the configuration reads no variables")
	}
	for _, p := range checkVarTable(rows, vars) {
		t.Errorf("%s: %s", configDoc, p)
	}
}

// TestCheckVarTableFindsDisagreements shows the check above failing on
// each kind of drift.
func TestCheckVarTableFindsDisagreements(t *testing.T) {
	vars := []envVar{{"NATS_URL", ""}, {"SKV_SCOPE", "ska"}}
	tests := []struct {
		name string
		doc  string
		want []string // substrings, one per expected problem
	}{
		{"agrees", "| `NATS_URL` | empty | x |\n| `SKV_SCOPE` | `ska` | y |", nil},
		{"variable missing", "| `NATS_URL` | empty | x |", []string{"SKV_SCOPE (default \"ska\") is read by the configuration but missing"}},
		{"unknown variable", "| `NATS_URL` | none | x |\n| `SKV_SCOPE` | `ska` | y |\n| `SKV_PATH_SALDO` | none | z |", []string{"SKV_PATH_SALDO is documented but"}},
		{"wrong default", "| `NATS_URL` | none | x |\n| `SKV_SCOPE` | `openid` | y |", []string{"SKV_SCOPE defaults to \"ska\""}},
		{"default not in code form", "| `NATS_URL` | none | x |\n| `SKV_SCOPE` | ska | y |", []string{"SKV_SCOPE defaults to \"ska\""}},
		{"default invented", "| `NATS_URL` | `nats://x` | x |\n| `SKV_SCOPE` | `ska` | y |", []string{"NATS_URL has no default in code"}},
		{"listed twice", "| `NATS_URL` | none | x |\n| `NATS_URL` | none | x |\n| `SKV_SCOPE` | `ska` | y |", []string{"NATS_URL is listed twice"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc := "# c\n\n| variable | default | meaning |\n|---|---|---|\n" + tc.doc + "\n\nafter\n"
			rows, err := readVarTable([]byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			got := checkVarTable(rows, vars)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d problems %q, want %d", len(got), got, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("problem %d: got %q, want it to contain %q", i, got[i], w)
				}
			}
		})
	}
}

func TestReadVarTableRefusesMalformedTables(t *testing.T) {
	tests := []struct {
		name, doc string
	}{
		{"no table", "# nothing here\n"},
		{"two tables", "| variable | default | meaning |\n|---|---|---|\n| `A` | none | x |\n\n| variable | default | meaning |\n|---|---|---|\n"},
		{"two variables in a row", "| variable | default | meaning |\n|---|---|---|\n| `A`, `B` | none | x |\n"},
		{"missing cell", "| variable | default | meaning |\n|---|---|---|\n| `A` | none |\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if rows, err := readVarTable([]byte(tc.doc)); err == nil {
				t.Errorf("accepted: %v", rows)
			}
		})
	}
}

// mdLink finds inline markdown links and images: [text](target).
var mdLink = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)

// TestDocsStayInTheRepository checks what a user reads — README.md,
// BENCHMARKS.md and docs/*.md — for relative links: each must name a file
// or directory inside the repository that exists (no ../shared links, no
// dead ones), and no other file holds a second table of variables.
func TestDocsStayInTheRepository(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	docs = append(docs, filepath.Join(root, "README.md"), filepath.Join(root, "BENCHMARKS.md"))
	for _, path := range docs {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, path)
		for _, m := range mdLink.FindAllSubmatch(b, -1) {
			target := string(m[1])
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") || strings.HasPrefix(target, "#") {
				continue
			}
			target, _, _ = strings.Cut(target, "#")
			abs := filepath.Join(filepath.Dir(path), filepath.FromSlash(target))
			if r, err := filepath.Rel(root, abs); err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
				t.Errorf("%s: link %q leaves the repository", rel, m[1])
				continue
			}
			if _, err := os.Stat(abs); err != nil {
				t.Errorf("%s: link %q is dead", rel, m[1])
			}
		}
		if filepath.Base(path) != filepath.Base(configDoc) && bytes.Contains(b, []byte("| variable |")) {
			t.Errorf("%s: a table of variables; the one table is docs/configuration.md (link to it)", rel)
		}
	}
}
