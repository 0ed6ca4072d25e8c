// Package watch keeps the watch list: the accounts fetched on a cadence,
// as JetStream message schedules in the fetch stream, registered and
// removed from the command line or by a NATS request.
package watch

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
)

// Schedule is one JetStream message schedule of an account's cadence.
type Schedule struct {
	// Name is the last token of the schedule's subject.
	Name string `json:"name"`
	// Spec is the Nats-Schedule value: a 6-field cron (seconds first, in
	// Europe/Stockholm time) or "@every <duration>".
	Spec string `json:"spec"`
}

// Cron reports whether the schedule is a cron expression (which fires on
// Stockholm wall-clock time) rather than an interval.
func (s Schedule) Cron() bool { return !strings.HasPrefix(s.Spec, "@") }

// DefaultCadence is daily at 06:30, and at 12:00 and 16:00 on the four
// days up to the 12th and the 26th, the common due dates.
var DefaultCadence = []Schedule{
	{Name: "daily", Spec: "0 30 6 * * *"},
	{Name: "duedays", Spec: "0 0 12,16 9-12,23-26 * *"},
}

// ParseCadence reads a cadence:
//   - "" or "default": DefaultCadence;
//   - an interval, "6h" or "@every 6h" (at least 1s): as a cron expression
//     when it divides an hour or a day evenly (so it can leave out the
//     service window), else as "@every" (the worker skips ticks that fall
//     in the window);
//   - one to maxCrons 6-field cron expressions (seconds first),
//     separated by ";", none of which may fire in the service window
//     03:00–05:00.
//
// How often a cadence may fire is the Manager's business (WithMinInterval).
func ParseCadence(s string) ([]Schedule, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "default" {
		return slices.Clone(DefaultCadence), nil
	}
	if d, ok := interval(s); ok {
		if d < time.Second {
			return nil, fmt.Errorf("cadence %q: interval must be at least 1s", s)
		}
		return []Schedule{{Name: "every", Spec: intervalSpec(d)}}, nil
	}
	var out []Schedule
	for i, part := range strings.Split(s, ";") {
		part = strings.Join(strings.Fields(part), " ")
		if part == "" {
			continue
		}
		c, err := parseCron(part)
		if err != nil {
			return nil, fmt.Errorf("cadence %q: %w", part, err)
		}
		for h := contract.ServiceWindowStart; h < contract.ServiceWindowEnd; h++ {
			if c.has(cronHour, h) {
				return nil, fmt.Errorf("cadence %q fires at %02d:xx, inside Skatteverket's service window 03:00–05:00", part, h)
			}
		}
		out = append(out, Schedule{Name: "cron" + strconv.Itoa(i+1), Spec: part})
	}
	if len(out) == 0 {
		return nil, errors.New("cadence: empty")
	}
	if len(out) > maxCrons {
		return nil, fmt.Errorf("cadence: %d cron expressions, at most %d", len(out), maxCrons)
	}
	return out, nil
}

func interval(s string) (time.Duration, bool) {
	s = strings.TrimSpace(strings.TrimPrefix(s, "@every"))
	d, err := time.ParseDuration(s)
	return d, err == nil
}

// intervalSpec turns an interval into a schedule that avoids the service
// window where it can.
func intervalSpec(d time.Duration) string {
	outside := fmt.Sprintf("0-%d,%d-23", contract.ServiceWindowStart-1, contract.ServiceWindowEnd)
	switch {
	case d%time.Minute == 0 && time.Hour%d == 0:
		m := int(d / time.Minute)
		if m == 60 {
			return "0 0 " + outside + " * * *"
		}
		return fmt.Sprintf("0 */%d %s * * *", m, outside)
	case d%time.Hour == 0 && (24*time.Hour)%d == 0:
		step := int(d / time.Hour)
		var hours []string
		for h := 6; h < 6+24; h += step {
			hh := h % 24
			if !contract.ServiceWindowHour(hh) {
				hours = append(hours, strconv.Itoa(hh))
			}
		}
		slices.SortFunc(hours, func(a, b string) int { x, _ := strconv.Atoi(a); y, _ := strconv.Atoi(b); return x - y })
		return "0 0 " + strings.Join(hours, ",") + " * * *"
	}
	return "@every " + d.String()
}

// maxCrons bounds the cron expressions of a cadence.
const maxCrons = 16

// The fields of a cron expression, in order.
const (
	cronSecond = iota
	cronMinute
	cronHour
	cronDayOfMonth
	cronMonth
	cronDayOfWeek
)

// cron is a parsed 6-field cron expression: the values each field
// matches (bit v for value v), and whether it was written with * or ?
// (which decides how day of month and day of week combine, as in the
// NATS server).
type cron struct {
	fields [6]uint64
	star   [6]bool
}

// has reports whether field matches v.
func (c cron) has(field, v int) bool { return c.fields[field]&(1<<v) != 0 }

// parseCron validates a 6-field cron expression. Day of week 7 is Sunday,
// as 0 is.
func parseCron(spec string) (cron, error) {
	var c cron
	f := strings.Fields(spec)
	if len(f) != 6 {
		return c, fmt.Errorf("want 6 fields (second minute hour day-of-month month day-of-week), got %d", len(f))
	}
	bounds := [6][2]int{{0, 59}, {0, 59}, {0, 23}, {1, 31}, {1, 12}, {0, 6}} // day of week 0–6, as the server's schedules take it
	names := [6]string{"second", "minute", "hour", "day of month", "month", "day of week"}
	for i, field := range f {
		set, star, err := cronField(field, bounds[i][0], bounds[i][1])
		if err != nil {
			return c, fmt.Errorf("%s field %q: %w", names[i], field, err)
		}
		c.fields[i], c.star[i] = set, star
	}
	if c.has(cronDayOfWeek, 7) {
		c.fields[cronDayOfWeek] |= 1
	}
	return c, nil
}

// onDay reports whether c fires on the day of month dom, month and day of
// week dow (0 is Sunday): day of month and day of week must both match
// when either was written with * or ?, else either may.
func (c cron) onDay(dom, month, dow int) bool {
	if !c.has(cronMonth, month) {
		return false
	}
	d, w := c.has(cronDayOfMonth, dom), c.has(cronDayOfWeek, dow)
	if c.star[cronDayOfMonth] || c.star[cronDayOfWeek] {
		return d && w
	}
	return d || w
}

// cronField returns the values a field matches (bit v for value v, hi <
// 64), and whether it has a * or ?.
func cronField(field string, lo, hi int) (uint64, bool, error) {
	var set uint64
	star := false
	for _, item := range strings.Split(field, ",") {
		step := 1
		if i := strings.IndexByte(item, '/'); i >= 0 {
			n, err := strconv.Atoi(item[i+1:])
			if err != nil || n < 1 {
				return 0, false, fmt.Errorf("bad step %q", item[i+1:])
			}
			step, item = n, item[:i]
		}
		from, to := lo, hi
		switch {
		case item == "*" || item == "?":
			star = true
		case strings.Contains(item, "-"):
			a, b, _ := strings.Cut(item, "-")
			x, err1 := strconv.Atoi(a)
			y, err2 := strconv.Atoi(b)
			if err1 != nil || err2 != nil || x > y {
				return 0, false, fmt.Errorf("bad range %q", item)
			}
			from, to = x, y
		default:
			x, err := strconv.Atoi(item)
			if err != nil {
				return 0, false, fmt.Errorf("bad value %q", item)
			}
			from, to = x, x
			if step > 1 {
				to = hi
			}
		}
		if from < lo || to > hi {
			return 0, false, fmt.Errorf("%d-%d is outside %d-%d", from, to, lo, hi)
		}
		for v := from; v <= to; v += step {
			set |= 1 << v
		}
	}
	return set, star, nil
}
