package diagnose

import (
	"time"
)

// Gates shared by the host rules, and the time their alerts must hold.
const (
	// minEvents is how much most counters must move over the interval
	// before a rule speaks, so an idle or quiet host raises nothing.
	minEvents = 10
	// sinceBootMin is the since-boot total above which a rule reports
	// information (hotsos).
	sinceBootMin = 500

	// forCounter is how long an alert on counter increases must hold: its
	// window already smooths over promql.Window.
	forCounter = 2 * time.Minute
	// forLevel is how long an alert on a level (a table's fill, memory in
	// use) must hold, so a brief peak does not page.
	forLevel = 5 * time.Minute
)
