package jobs

import (
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"testing"

	"github.com/rs/zerolog"

	"github.com/skattekonto-events/skattekonto-events/internal/events"
	"github.com/skattekonto-events/skattekonto-events/internal/metrics"
)

// outcomeConsts lists the constants of type Outcome declared in outcome.go.
func outcomeConsts(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "outcome.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			v := s.(*ast.ValueSpec)
			if id, ok := v.Type.(*ast.Ident); ok && id.Name == "Outcome" {
				names = append(names, v.Names[0].Name)
			}
		}
	}
	return names
}

// TestOutcomeTable checks that every outcome is in the table once, with a
// class that is one of the metric's outcome labels.
func TestOutcomeTable(t *testing.T) {
	classes := []string{metrics.OutcomeOK, metrics.OutcomeRetry, metrics.OutcomeFailed, metrics.OutcomeRejected, metrics.OutcomeCancelled, metrics.OutcomeDeferred}
	seen := map[Outcome]bool{}
	for _, row := range outcomeTable {
		if !slices.Contains(classes, row.class) {
			t.Errorf("class %q is not a metric label", row.class)
		}
		for _, o := range row.outcomes {
			if seen[o] {
				t.Errorf("%s is in the table twice", o)
			}
			seen[o] = true
		}
	}
	consts := outcomeConsts(t)
	if len(consts) != len(seen) {
		t.Errorf("outcome.go declares %d outcomes, the table holds %d", len(consts), len(seen))
	}
}

func TestOutcomeClass(t *testing.T) {
	for _, tc := range []struct {
		o     Outcome
		class string
		level zerolog.Level
	}{
		{OutcomeCompleted, metrics.OutcomeOK, zerolog.InfoLevel},
		{OutcomeConflictRetry, metrics.OutcomeRetry, zerolog.InfoLevel},
		{Outcome(events.ReasonRejected), metrics.OutcomeFailed, zerolog.WarnLevel},
		{Outcome(events.ReasonExhausted), metrics.OutcomeFailed, zerolog.WarnLevel},
		{OutcomeInvalidRequest, metrics.OutcomeRejected, zerolog.WarnLevel},
		{OutcomeGaveUp, metrics.OutcomeFailed, zerolog.ErrorLevel},
		{OutcomeHandedBack, metrics.OutcomeCancelled, zerolog.WarnLevel},
		{OutcomeCommitFailed, metrics.OutcomeRetry, zerolog.ErrorLevel},
		{OutcomeDeferred, metrics.OutcomeDeferred, zerolog.WarnLevel},
		{"", metrics.OutcomeRetry, zerolog.ErrorLevel},
	} {
		if c, l := tc.o.Class(), tc.o.Level(); c != tc.class || l != tc.level {
			t.Errorf("%q: got %s %s, want %s %s", tc.o, c, l, tc.class, tc.level)
		}
	}
}
