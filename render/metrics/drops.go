package metrics

import (
	"cmp"
	"slices"
	"strconv"

	"github.com/netdx/netdx/drops"
	"github.com/netdx/netdx/internal/promql"
	"github.com/netdx/netdx/internal/promtext"
	"github.com/netdx/netdx/report"
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
	mDrops         = &Def{Desc: promtext.Desc{Name: promql.MetricDrops, Type: counter, Labels: []string{"reason", "netns", "device"}, Help: "Packets the kernel dropped, by reason (enum skb_drop_reason), network namespace (its /run/netns name, host, self, comm[pid] or netns:[inode]) and device: since serve started counting, or over diag's window; at most 500 series, the rest summed per reason under netns and device \"_other\" (docs/drops.md)."}}
	mDropsUnplaced = &Def{Serve: true, Desc: promtext.Desc{Name: "netdx_drops_unplaced_total", Type: counter, Labels: []string{"kind"}, Help: "Drops counted without a place: the kernel's drop map was full (kind map_full) or the perf ring lost samples (kind lost)."}}
	mDropsSource   = &Def{Serve: true, Desc: promtext.Desc{Name: "netdx_drops_source_info", Type: gauge, Labels: []string{"source"}, Help: "Always 1; the source of the drop reasons: bpf-tp_btf, bpf-tracepoint, perf, or none (no reasons: netdx_source_skipped says why)."}}
)

// dropSeries is one {reason,netns,device} series.
type dropSeries struct {
	reason, netns, device string
	count                 uint64
}

// dropSeriesOf sums rows into series, bounded by max: the largest are
// kept, the others summed per reason under otherPlace.
func dropSeriesOf(rows []dropSeries, max int) []dropSeries {
	at := map[[3]string]int{}
	var out []dropSeries
	for _, r := range rows {
		k := [3]string{r.reason, r.netns, r.device}
		if i, ok := at[k]; ok {
			out[i].count += r.count
			continue
		}
		at[k] = len(out)
		out = append(out, r)
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

// emitDrops exports serve's cumulative window of drop reasons; the
// report's own drops are then not exported again.
func emitDrops(em *emitter, w *drops.Window) {
	if w == nil {
		return
	}
	em.dropsDone = true
	em.emit(mDropsSource, 1, string(w.Kind))
	if w.Kind == drops.KindNone {
		return
	}
	rows := make([]dropSeries, 0, len(w.Drops))
	for _, d := range w.Drops {
		device := d.Interface
		if device == "" && d.Ifindex != 0 {
			device = "ifindex " + strconv.Itoa(d.Ifindex)
		}
		rows = append(rows, dropSeries{reason: d.Reason, netns: d.Netns.String(), device: device, count: d.Count})
	}
	for _, s := range dropSeriesOf(rows, MaxDropSeries) {
		em.emit(mDrops, float64(s.count), s.reason, s.netns, s.device)
	}
	em.emit(mDropsUnplaced, float64(w.Overflow.MapFull), "map_full")
	em.emit(mDropsUnplaced, float64(w.Overflow.Lost), "lost")
}

// reportDrops exports the drops of a report (diag -o prometheus): its
// window's counts.
func reportDrops(em *emitter, d *report.Drops) {
	if d == nil || em.dropsDone {
		return
	}
	rows := make([]dropSeries, 0, len(d.Entries))
	for _, e := range d.Entries {
		device := e.Interface
		if device == "" && e.Ifindex != 0 {
			device = "ifindex " + strconv.Itoa(e.Ifindex)
		}
		rows = append(rows, dropSeries{reason: e.Reason, netns: e.Netns.Name, device: device, count: e.Count})
	}
	for _, s := range dropSeriesOf(rows, MaxDropSeries) {
		em.emit(mDrops, float64(s.count), s.reason, s.netns, s.device)
	}
}
