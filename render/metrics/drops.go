package metrics

import (
	"cmp"
	"slices"
	"strconv"

	"github.com/netdx/netdx/drops"
	"github.com/netdx/netdx/internal/promql"
)

// MaxDropSeries bounds netdx_drops_total: at most this many
// {reason,netns,device} series, the largest. The drops of the others are
// added, per reason, to {reason,netns="_other",device="_other"}, so the
// total stays right and the series are at most MaxDropSeries plus one
// per reason (the kernel names about 130). Which places are folded can
// change as counts grow, so an _other series may fall: Prometheus takes
// it as a counter reset, which rate() and increase() handle.
const MaxDropSeries = 500

// otherPlace is the label value of the folded series.
const otherPlace = "_other"

var (
	mDrops         = serveOnly(counter(promql.MetricDrops, "Packets the kernel dropped since netdx started counting, by reason (enum skb_drop_reason), network namespace (its /run/netns name, host, self, comm[pid] or netns:[inode]) and device; at most 500 series, the rest summed per reason under netns and device \"_other\" (docs/drops.md).", "reason", "netns", "device"))
	mDropsUnplaced = serveOnly(counter("netdx_drops_unplaced_total", "Drops counted without a place: the kernel's drop map was full (kind map_full) or the perf ring lost samples (kind lost).", "kind"))
	mDropsSource   = serveOnly(gauge("netdx_drops_source_info", "Always 1; the source of the drop reasons: bpf-tp_btf, bpf-tracepoint, perf, or none (no reasons: netdx_source_skipped says why).", "source"))
)

// dropSeries is one {reason,netns,device} series.
type dropSeries struct {
	reason, netns, device string
	count                 uint64
}

// dropSeriesOf sums the rows of a cumulative window into series, bounded
// by max.
func dropSeriesOf(w *drops.Window, max int) []dropSeries {
	at := map[[3]string]int{}
	var out []dropSeries
	for _, d := range w.Drops {
		device := d.Interface
		if device == "" && d.Ifindex != 0 {
			device = "ifindex " + strconv.Itoa(d.Ifindex)
		}
		k := [3]string{d.Reason, d.Netns.String(), device}
		if i, ok := at[k]; ok {
			out[i].count += d.Count
			continue
		}
		at[k] = len(out)
		out = append(out, dropSeries{reason: k[0], netns: k[1], device: k[2], count: d.Count})
	}
	if len(out) <= max {
		return out
	}
	slices.SortStableFunc(out, func(a, b dropSeries) int { return cmp.Compare(b.count, a.count) })
	kept := out[:max:max]
	other := map[string]int{}
	for _, s := range out[max:] {
		if i, ok := other[s.reason]; ok {
			kept[i].count += s.count
			continue
		}
		other[s.reason] = len(kept)
		kept = append(kept, dropSeries{reason: s.reason, netns: otherPlace, device: otherPlace, count: s.count})
	}
	return kept
}

// emitDrops exports a cumulative window of drop reasons.
func emitDrops(em *emitter, w *drops.Window) {
	if w == nil {
		return
	}
	em.emit(mDropsSource, 1, string(w.Kind))
	if w.Kind == drops.KindNone {
		return
	}
	for _, s := range dropSeriesOf(w, MaxDropSeries) {
		em.emit(mDrops, float64(s.count), s.reason, s.netns, s.device)
	}
	em.emit(mDropsUnplaced, float64(w.Overflow.MapFull), "map_full")
	em.emit(mDropsUnplaced, float64(w.Overflow.Lost), "lost")
}
