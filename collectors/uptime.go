package collectors

import (
	"bytes"
	"context"
	"math"
	"path/filepath"
	"strconv"
	"time"
)

// uptime reads /proc/uptime, which turns since-boot totals into average
// rates when netdx diag runs without an interval.
type uptime struct{}

func init() { Register(uptime{}) }

func (uptime) Name() string { return "uptime" }

func (uptime) Collect(_ context.Context, src *Sources, snap *Snapshot) error {
	path := filepath.Join(src.ProcPath, "uptime")
	b, err := readFile(path)
	if err != nil {
		return err
	}
	f := bytes.Fields(b)
	if len(f) == 0 {
		return emptyFile(path)
	}
	secs, err := strconv.ParseFloat(string(f[0]), 64)
	// NaN, Inf and more than 292 years would turn into a negative duration.
	if err != nil || !(secs >= 0 && secs < float64(math.MaxInt64/int64(time.Second))) {
		return parseErr(path, 1, "%q is not a number of seconds", f[0])
	}
	snap.Uptime = time.Duration(secs * float64(time.Second))
	return nil
}
