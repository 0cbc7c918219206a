// Package collectors reads the host's network counters and settings from
// the kernel: /proc and /sys through prometheus/procfs, NICs through
// ethtool, qdiscs, links and sockets through netlink.
//
// Each source is one Collector in its own file. A source the kernel, the
// driver or the caller's privileges do not offer is recorded in
// Snapshot.Skipped with the reason and a fix; it never fails the snapshot.
package collectors

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Collector reads one source into a Snapshot.
type Collector interface {
	// Name is short and stable ("netstat", "softnet", "ethtool").
	Name() string
	// Collect reads the source into snap. An error whose chain holds
	// fs.ErrPermission, errors.ErrUnsupported or fs.ErrNotExist (see
	// SourceError) is recorded as a skip; any other error as a failed source.
	// It runs at the same time as other collectors, each with a snap of
	// its own (see Dependent), so it changes nothing it shares with them:
	// src, a section it was handed, package state.
	Collect(ctx context.Context, src *Sources, snap *Snapshot) error
}

var registry struct {
	sync.Mutex
	byName map[string]Collector
}

// Register adds a collector; it is called from init functions.
func Register(c Collector) {
	registry.Lock()
	defer registry.Unlock()
	if registry.byName == nil {
		registry.byName = map[string]Collector{}
	}
	if _, dup := registry.byName[c.Name()]; dup {
		panic("collectors: duplicate collector " + c.Name())
	}
	registry.byName[c.Name()] = c
}

// All returns the registered collectors sorted by name.
func All() []Collector {
	registry.Lock()
	defer registry.Unlock()
	out := make([]Collector, 0, len(registry.byName))
	for _, c := range registry.byName {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out
}

// Take runs every collector once and returns the snapshot. Collectors
// that do not read each other's sections run at the same time, one per
// CPU (see schedule.go); the snapshot is the same whatever the order they
// ran in. When src reads another network namespace, every thread that
// runs a collector is switched into it.
func Take(ctx context.Context, src *Sources, now func() time.Time) *Snapshot {
	src.fillDefaults()
	snap := &Snapshot{Taken: now()}
	newSchedule(ctx, src, snap, All()).run()
	return snap
}

// collect runs one collector, records why it could not read its source,
// and records the run.
func collect(ctx context.Context, c Collector, src *Sources, snap *Snapshot) {
	if ctx.Err() != nil {
		snap.Skipped = append(snap.Skipped, Skip{Source: c.Name(), Kind: SkipError, Message: "interrupted before it was read"})
		return
	}
	start := time.Now()
	err := c.Collect(ctx, src, snap)
	run := Run{Collector: c.Name(), Duration: time.Since(start)}
	log := src.Log.With("collector", c.Name(), "duration", run.Duration)
	switch {
	case err == nil:
		log.Debug("collected")
	default:
		s := skipFor(c.Name(), err)
		snap.Skipped = append(snap.Skipped, s)
		run.Failed = s.Kind == SkipError
		if run.Failed {
			log.Warn("collector failed", "err", err)
		} else {
			log.Debug("source skipped", "kind", s.Kind, "err", err)
		}
	}
	snap.Runs = append(snap.Runs, run)
}
