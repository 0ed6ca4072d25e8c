package ratelimit_test

import (
	"github.com/skattekonto-events/skattekonto-events/internal/ratelimit"
	"github.com/skattekonto-events/skattekonto-events/internal/skv"
)

// The skv client calls Wait before every attempt and Throttled on every
// 429. The check lives in a test so that ratelimit does not depend on skv.
var (
	_ skv.Limiter   = (*ratelimit.Limiter)(nil)
	_ skv.Throttler = (*ratelimit.Limiter)(nil)
)
