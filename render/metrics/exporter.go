package metrics

import (
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/netdx/netdx/collectors"
	"github.com/netdx/netdx/drops"
	"github.com/netdx/netdx/internal/promtext"
	"github.com/netdx/netdx/report"
)

// Exporter is what `netdx serve` exports of its own: the latest report,
// replaced whole on every evaluation (so a finding that no longer stands
// disappears), and netdx's own health. It is safe for concurrent use.
type Exporter struct {
	mu  sync.Mutex
	rep *report.Report

	collectors   map[string]*collectorHealth
	samples      uint64
	sampleDur    time.Duration
	lastSample   time.Time
	evaluations  uint64
	lastEval     time.Time
	traces       map[string]*traceHealth
	traceTargets []string
	// drops is the latest cumulative window of drop reasons.
	drops *drops.Window
}

type collectorHealth struct {
	duration    time.Duration
	lastSuccess time.Time
	failures    uint64
}

type traceHealth struct {
	runs, failures uint64
	duration       time.Duration
	lastSuccess    time.Time
}

// NewExporter returns an Exporter with nothing to report yet; targets are
// the traced hosts, exported with zero counts until their first run.
func NewExporter(targets ...string) *Exporter {
	e := &Exporter{collectors: map[string]*collectorHealth{}, traces: map[string]*traceHealth{}}
	for _, t := range targets {
		if e.traces[t] == nil {
			e.traces[t] = &traceHealth{}
			e.traceTargets = append(e.traceTargets, t)
		}
	}
	return e
}

// Publish makes rep the report /metrics exports. evaluated says the rules
// ran on it (rather than it holding only counters), at its end time.
func (e *Exporter) Publish(rep *report.Report, evaluated bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.rep = rep
	if evaluated {
		e.evaluations++
		e.lastEval = rep.EndedAt
	}
}

// Report returns the report last published, nil before the first.
func (e *Exporter) Report() *report.Report {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.rep
}

// ObserveSample records a host sample: its collectors' runs and how long
// it took.
func (e *Exporter) ObserveSample(snap *collectors.Snapshot, took time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.samples++
	e.sampleDur = took
	e.lastSample = snap.Taken
	for _, r := range snap.Runs {
		h := e.collectors[r.Collector]
		if h == nil {
			h = &collectorHealth{}
			e.collectors[r.Collector] = h
		}
		h.duration = r.Duration
		if r.Failed {
			h.failures++
		} else {
			h.lastSuccess = snap.Taken
		}
	}
}

// ObserveDrops records the drop reasons counted since serve started (a
// cumulative snapshot), exported as netdx_drops_total.
func (e *Exporter) ObserveDrops(w drops.Window) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.drops = &w
}

// ObserveTrace records a trace of target that ended at end, failed when
// err is not nil.
func (e *Exporter) ObserveTrace(target string, took time.Duration, end time.Time, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	h := e.traces[target]
	if h == nil {
		h = &traceHealth{}
		e.traces[target] = h
		e.traceTargets = append(e.traceTargets, target)
	}
	h.runs++
	h.duration = took
	if err != nil {
		h.failures++
	} else {
		h.lastSuccess = end
	}
}

// Collect adds the latest report and netdx's health to s: one of the
// collect functions of serve's promtext.Handler. A wrong series is left
// out and returned as an error; the others are added.
func (e *Exporter) Collect(s *promtext.Set) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	em := &emitter{set: s, serve: true}
	emitDrops(em, e.drops)
	collectReport(em, e.rep)
	names := make([]string, 0, len(e.collectors))
	for n := range e.collectors {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		h := e.collectors[n]
		em.emit(mCollectorDur, h.duration.Seconds(), n)
		em.emit(mCollectorFail, float64(h.failures), n)
		if !h.lastSuccess.IsZero() {
			em.emit(mCollectorOK, unix(h.lastSuccess), n)
		}
	}
	em.emit(mSamples, float64(e.samples))
	if e.samples > 0 {
		em.emit(mSampleDur, e.sampleDur.Seconds())
		em.emit(mSampleTS, unix(e.lastSample))
	}
	em.emit(mEvaluations, float64(e.evaluations))
	if !e.lastEval.IsZero() {
		em.emit(mEvaluationTS, unix(e.lastEval))
	}
	for _, t := range e.traceTargets {
		h := e.traces[t]
		em.emit(mTraceRuns, float64(h.runs), t)
		em.emit(mTraceFailures, float64(h.failures), t)
		if h.runs > 0 {
			em.emit(mTraceDuration, h.duration.Seconds(), t)
		}
		if !h.lastSuccess.IsZero() {
			em.emit(mTraceSuccessTS, unix(h.lastSuccess), t)
		}
	}
	return errors.Join(em.errs...)
}

func unix(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
