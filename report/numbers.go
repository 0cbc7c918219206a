package report

import (
	"math"
	"time"
)

// The precision of the numbers the JSON document carries: every
// conversion from an engine's values and every rule's evidence rounds
// through these, so one value is written the same way everywhere.

// Round rounds v to places decimal places.
func Round(v float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(v*p) / p
}

// Ratio is part/whole, 0 when whole is 0.
func Ratio(part, whole uint64) float64 {
	if whole == 0 {
		return 0
	}
	return float64(part) / float64(whole)
}

// Millis is d in milliseconds, to the microsecond.
func Millis(d time.Duration) float64 { return Round(float64(d)/float64(time.Millisecond), 3) }
