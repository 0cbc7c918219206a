package collectors

import "time"

// Snapshot is everything read from the host at one moment. Sections a
// source could not provide stay nil and are named in Skipped.
type Snapshot struct {
	Taken time.Time
	// MPTCP is nil when the kernel has no MPTCP or it could not be read.
	MPTCP   *MPTCP
	Skipped []Skip
}

// AddSkip records that source could not be read because of err, for a
// collector that reads several sources and carries on past one that fails
// (one NIC whose driver lacks ring parameters, say).
func (s *Snapshot) AddSkip(source string, err error) {
	s.Skipped = append(s.Skipped, skipFor(source, err))
}
