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
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/procfs"
)

// Collector reads one source into a Snapshot.
type Collector interface {
	// Name is short and stable ("netstat", "softnet", "ethtool").
	Name() string
	// Collect reads the source into snap. An error whose chain holds
	// fs.ErrPermission, errors.ErrUnsupported or fs.ErrNotExist (see
	// SourceError) is recorded as a skip; any other error as a failed source.
	Collect(ctx context.Context, src *Sources, snap *Snapshot) error
}

// Sources says where collectors read from.
type Sources struct {
	// Proc is the procfs root (/proc, or the host's /proc mounted in a
	// container, or a fixture tree in tests).
	Proc procfs.FS
	// ProcPath and SysPath are the roots Proc and sysfs reads use.
	ProcPath, SysPath string
	// Ifaces, when not empty, limits per-interface sources to these names.
	Ifaces []string
	// Log receives per-collector diagnostics; nil discards them.
	Log *slog.Logger
}

// NewSources opens procfs at procPath.
func NewSources(procPath, sysPath string, log *slog.Logger) (*Sources, error) {
	fs, err := procfs.NewFS(procPath)
	if err != nil {
		return nil, fmt.Errorf("open procfs at %s: %w", procPath, err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Sources{Proc: fs, ProcPath: procPath, SysPath: sysPath, Log: log}, nil
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

// Take runs every collector once and returns the snapshot. Collectors run
// one after another: a snapshot is cheap, and sequential reads keep the
// counters of one snapshot close in time without racing each other.
func Take(ctx context.Context, src *Sources, now func() time.Time) *Snapshot {
	snap := &Snapshot{Taken: now()}
	for _, c := range All() {
		if ctx.Err() != nil {
			snap.Skipped = append(snap.Skipped, Skip{Source: c.Name(), Kind: SkipError, Message: "interrupted before it was read"})
			continue
		}
		start := time.Now()
		err := c.Collect(ctx, src, snap)
		log := src.Log.With("collector", c.Name(), "duration", time.Since(start))
		if err != nil {
			s := skipFor(c.Name(), err)
			snap.Skipped = append(snap.Skipped, s)
			if s.Kind == SkipError {
				log.Warn("collector failed", "err", err)
			} else {
				log.Debug("source skipped", "kind", s.Kind, "err", err)
			}
			continue
		}
		log.Debug("collected")
	}
	return snap
}
