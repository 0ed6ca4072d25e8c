package watch

import (
	"math"
	"math/bits"
	"time"
)

// gapDays is the span of days minGap walks from gapStart: 28 years, after
// which every date falls on the same day of the week again (from 1901 to
// 2099).
const gapDays = 28*365 + 7

var gapStart = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// never is the gap of schedules that fire at most once.
const never = time.Duration(math.MaxInt64)

const daySeconds = 24 * 60 * 60

// secondsOfDay holds one bit per second of a day.
type secondsOfDay [daySeconds / 64]uint64

// minGap returns the shortest time between two firings of the schedules
// together, never when they fire at most once. It stops at the first gap
// under floor it finds and returns that one. Cron expressions are walked
// day by day over 28 years of calendar, so that a gap across midnight, or
// between expressions for different days, is found too; days are counted
// as 24 hours (a change to or from summer time can make a gap an hour
// shorter or longer).
func minGap(scheds []Schedule, floor time.Duration) time.Duration {
	gap := never
	var days []cron
	var secs []*secondsOfDay
	for _, s := range scheds {
		if !s.Cron() {
			if d, ok := interval(s.Spec); ok {
				gap = min(gap, d)
			}
			continue
		}
		c, err := parseCron(s.Spec)
		if err != nil {
			continue // ParseCadence has refused it
		}
		b := new(secondsOfDay)
		for h := range 24 {
			for m := range 60 {
				for sec := range 60 {
					if c.has(cronHour, h) && c.has(cronMinute, m) && c.has(cronSecond, sec) {
						i := h*3600 + m*60 + sec
						b[i/64] |= 1 << (i % 64)
					}
				}
			}
		}
		days, secs = append(days, c), append(secs, b)
	}
	if gap < floor || len(days) == 0 {
		return gap
	}

	type dayStats struct{ first, last, step int }
	stats := map[uint64]dayStats{} // by the set of expressions firing on a day
	limit := int(min(floor/time.Second, daySeconds))
	prevLast := -1 // the last firing, in seconds from gapStart
	weekday := int(gapStart.Weekday())
	for d := range gapDays {
		_, month, dom := gapStart.AddDate(0, 0, d).Date()
		dow := (weekday + d) % 7
		var set uint64
		for i, c := range days {
			if c.onDay(dom, int(month), dow) {
				set |= 1 << i
			}
		}
		if set == 0 {
			continue
		}
		st, ok := stats[set]
		if !ok {
			var union secondsOfDay
			same := false // two expressions fire at the same second
			for i, b := range secs {
				if set&(1<<i) != 0 {
					for w := range union {
						same = same || union[w]&b[w] != 0
						union[w] |= b[w]
					}
				}
			}
			st.first, st.last, st.step = union.spread(limit)
			if same {
				st.step = 0
			}
			stats[set] = st
		}
		if st.step >= 0 {
			if st.step < limit {
				return time.Duration(st.step) * time.Second
			}
			gap = min(gap, time.Duration(st.step)*time.Second)
		}
		if prevLast >= 0 {
			g := time.Duration(d*daySeconds+st.first-prevLast) * time.Second
			if gap = min(gap, g); gap < floor {
				return gap
			}
		}
		prevLast = d*daySeconds + st.last
	}
	return gap
}

// spread returns the first and last second set and the shortest step
// between two set seconds (-1 when one is set), stopping at the first
// step under limit. At least one second must be set.
func (b *secondsOfDay) spread(limit int) (first, last, step int) {
	first, last, step = -1, -1, -1
	for w, word := range b {
		for word != 0 {
			i := w*64 + bits.TrailingZeros64(word)
			word &= word - 1
			if first < 0 {
				first = i
			} else if step < 0 || i-last < step {
				step = i - last
				if step < limit {
					return first, i, step
				}
			}
			last = i
		}
	}
	return first, last, step
}
