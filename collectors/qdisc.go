package collectors

import (
	"context"
	"sort"
)

// Qdisc is one queueing discipline and its statistics (tc -s qdisc).
type Qdisc struct {
	Iface string `json:"iface"`
	Kind  string `json:"kind"`
	// Handle and Parent are in tc's notation ("8001:", "root", "ingress").
	Handle string `json:"handle"`
	Parent string `json:"parent"`
	// Root is true for the qdisc at the root of the interface's egress;
	// its counters include its children's (mq sums its per-queue qdiscs).
	Root    bool   `json:"root"`
	Bytes   uint64 `json:"bytes"`
	Packets uint64 `json:"packets"`
	// Drops, Overlimits and Requeues are 32-bit kernel counters: judge
	// them with Delta32.
	Drops      uint64 `json:"drops"`
	Overlimits uint64 `json:"overlimits"`
	Requeues   uint64 `json:"requeues"`
	// Backlog (bytes) and Qlen (packets) are what is queued now: gauges.
	Backlog uint64 `json:"backlog_bytes"`
	Qlen    uint64 `json:"qlen"`
}

type qdiscs struct{}

func init() { Register(qdiscs{}) }

func (qdiscs) Name() string { return "qdisc" }

func (qdiscs) Collect(_ context.Context, src *Sources, snap *Snapshot) error {
	if err := src.liveOnly("netlink qdiscs"); err != nil {
		return err
	}
	all, err := src.Netlink.Qdiscs()
	if err != nil {
		return err
	}
	out := make([]Qdisc, 0, len(all))
	for _, q := range all {
		if src.wants(q.Iface) {
			out = append(out, q)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Iface != out[j].Iface {
			return out[i].Iface < out[j].Iface
		}
		return out[i].Root && !out[j].Root
	})
	snap.Qdiscs = out
	return nil
}
