package skv

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Placeholder marks where the 12-digit identity number goes in a path
// template.
const Placeholder = "{omfragad}"

// DefaultPaths are the operations' path templates below Config.BaseURL.
// Only saldo and transaktioner are confirmed by public clients; the other
// two are inferred from the pattern, so each is configurable
// (Config.Paths).
var DefaultPaths = map[Operation]string{
	OpSaldo:               "/skattekonton/{omfragad}/saldo",
	OpTransaktioner:       "/skattekonton/{omfragad}/transaktioner",
	OpUtbetalningskonto:   "/skattekonton/{omfragad}/utbetalningskonto",
	OpUtbetalningssparrar: "/skattekonton/{omfragad}/utbetalningssparrar",
}

// errPathTemplate is wrapped by every error of CheckPathTemplate.
var errPathTemplate = errors.New("invalid path template")

// CheckPathTemplate reports whether t is a usable path template: a path
// starting with "/", holding Placeholder exactly once, made of path
// characters only (letters, digits and -._~!$&'()*+,;=:@), with no empty,
// "." or ".." segment. Anything that would make it more than a path below
// the base URL — a scheme, a host, a query, a fragment, percent escapes —
// is refused.
func CheckPathTemplate(t string) error {
	if t == "" {
		return fmt.Errorf("%w: empty", errPathTemplate)
	}
	if n := strings.Count(t, Placeholder); n != 1 {
		return fmt.Errorf("%w: %q must contain %s exactly once, found %d", errPathTemplate, t, Placeholder, n)
	}
	if t[0] != '/' {
		return fmt.Errorf("%w: %q must be a path starting with /", errPathTemplate, t)
	}
	bare := strings.Replace(t, Placeholder, "x", 1)
	for i := 0; i < len(bare); i++ {
		if !pathChar(bare[i]) {
			return fmt.Errorf("%w: %q holds %q: only a path is allowed (no scheme, host, query, fragment or escapes)", errPathTemplate, t, bare[i])
		}
	}
	for _, seg := range strings.Split(bare[1:], "/") {
		switch seg {
		case "":
			return fmt.Errorf("%w: %q has an empty segment", errPathTemplate, t)
		case ".", "..":
			return fmt.Errorf("%w: %q has a %q segment", errPathTemplate, t, seg)
		}
	}
	return nil
}

// pathChar reports whether c may appear in a path template: RFC 3986
// pchar without percent escapes, and "/".
func pathChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~!$&'()*+,;=:@/", c) >= 0
}

// pathTemplate is a checked template split around its placeholder.
type pathTemplate struct {
	raw            string
	prefix, suffix string
}

func (p pathTemplate) expand(id string) string { return p.prefix + id + p.suffix }

// compilePaths fills in DefaultPaths for the operations paths lacks,
// checks every template and returns the full map and its compiled form.
// Errors name the Config field and the operation.
func compilePaths(paths map[Operation]string) (map[Operation]string, map[Operation]pathTemplate, error) {
	full := make(map[Operation]string, len(DefaultPaths))
	for op, t := range DefaultPaths {
		full[op] = t
	}
	ops := make([]string, 0, len(paths))
	for op := range paths {
		ops = append(ops, string(op))
	}
	sort.Strings(ops) // the first error is the same on every run
	for _, name := range ops {
		op := Operation(name)
		if _, ok := DefaultPaths[op]; !ok {
			return nil, nil, fmt.Errorf("skv config: Paths: unknown operation %q", name)
		}
		if err := CheckPathTemplate(paths[op]); err != nil {
			return nil, nil, fmt.Errorf("skv config: Paths[%s]: %w", op, err)
		}
		full[op] = paths[op]
	}
	compiled := make(map[Operation]pathTemplate, len(full))
	for op, t := range full {
		prefix, suffix, _ := strings.Cut(t, Placeholder)
		compiled[op] = pathTemplate{raw: t, prefix: prefix, suffix: suffix}
	}
	return full, compiled, nil
}
