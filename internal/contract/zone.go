package contract

import (
	"time"
	_ "time/tzdata" // Europe/Stockholm also where the host has no zone files
)

// ZoneName is the IANA name of Skatteverket's time zone.
const ZoneName = "Europe/Stockholm"

// Stockholm is the zone of every date the API shows, of the service
// window, and of the watch list's cron schedules.
var Stockholm = func() *time.Location {
	loc, err := time.LoadLocation(ZoneName)
	if err != nil {
		panic(err) // cannot happen: time/tzdata is embedded
	}
	return loc
}()

// Skatteverket's service window, 03:00–05:00 Stockholm time: the API may
// be down, and scheduled fetches are skipped.
const (
	ServiceWindowStart = 3 // first hour in the window
	ServiceWindowEnd   = 5 // first hour after it
)

// InServiceWindow reports whether t falls in the service window.
func InServiceWindow(t time.Time) bool { return ServiceWindowHour(t.In(Stockholm).Hour()) }

// ServiceWindowHour reports whether the Stockholm hour h (0–23) is in the
// service window.
func ServiceWindowHour(h int) bool { return h >= ServiceWindowStart && h < ServiceWindowEnd }
