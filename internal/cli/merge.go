package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netdx/netdx/diagnose"

	"github.com/netdx/netdx/capture"
	"github.com/netdx/netdx/probes"
	"github.com/netdx/netdx/report"
)

// merge runs the paths (--trace) and captures (--pcap) that diag merges
// into its report, alongside the host's sampling interval: each trace in
// its own goroutine (they wait on the network), the captures one after
// the other in another (they need the CPU).
type merge struct {
	wg       sync.WaitGroup
	paths    []*pathJob
	captures []*captureJob
}

// pathJob is one --trace.
type pathJob struct {
	host     string
	count    int
	rounds   atomic.Int64
	tr       *probes.Trace
	warnings []string
	// rawSkip says raw sockets were refused, when they were.
	rawSkip *report.Skip
	err     error
}

// captureJob is one --pcap.
type captureJob struct {
	name  string
	state atomic.Int32 // 0 waiting, 1 reading, 2 done
	size  atomic.Int64
	read  progressReader
	res   *capture.Result
	err   error
}

func (a *app) startMerge(ctx context.Context, o *diagOptions) *merge {
	m := &merge{}
	now := o.traceNow
	if now == nil {
		now = time.Now
	}
	for _, h := range o.traces {
		j := &pathJob{host: h, count: o.trace.count}
		m.paths = append(m.paths, j)
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			j.run(ctx, a, &o.trace, now)
		}()
	}
	if len(o.pcaps) == 0 {
		return m
	}
	for _, name := range o.pcaps {
		m.captures = append(m.captures, &captureJob{name: name})
	}
	opts, _ := (&pcapOptions{maxFlows: capture.DefaultMaxFlows, list: listFlows, progress: "never"}).engine()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		for _, j := range m.captures {
			if ctx.Err() != nil {
				j.err = ctx.Err()
				continue
			}
			j.run(ctx, a, opts)
		}
	}()
	return m
}

func (j *pathJob) run(ctx context.Context, a *app, o *traceOptions, now func() time.Time) {
	cfg, nw, warnings, err := openTrace(ctx, o, j.host)
	if err != nil {
		j.err = err
		return
	}
	defer nw.Close()
	j.warnings = warnings
	tracer, named := o.tracer(nw, now, a.logger())
	tr, err := tracer.Run(ctx, cfg, func(t *probes.Trace) { j.rounds.Store(int64(t.Rounds)) })
	if err != nil {
		j.err = err
		return
	}
	named(tr)
	j.tr = tr
	if sk, ok := rawSocketsSkip(o, tr); ok {
		sk.Source = "trace " + j.host + ": " + sk.Source
		j.rawSkip = &sk
	}
}

func (j *captureJob) run(ctx context.Context, a *app, opts capture.Options) {
	defer j.state.Store(2)
	r, size, done, err := a.openCapture(j.name)
	if err != nil {
		j.err = err
		return
	}
	defer done()
	j.size.Store(size)
	j.read.r = r
	j.state.Store(1)
	opts.Name = displayName(j.name)
	j.res, j.err = capture.Analyze(ctx, &j.read, opts)
}

// wait returns when every trace and capture has finished.
func (m *merge) wait() { m.wg.Wait() }

// progress describes what is still running, for the progress line.
func (m *merge) progress() []string {
	var out []string
	for _, j := range m.paths {
		if n := j.rounds.Load(); n < int64(j.count) {
			out = append(out, fmt.Sprintf("tracing %s: %d of %d rounds", j.host, n, j.count))
		}
	}
	for _, j := range m.captures {
		if j.state.Load() != 1 {
			continue
		}
		n, size := j.read.n.Load(), j.size.Load()
		if size > 0 {
			out = append(out, fmt.Sprintf("reading %s: %.0f%%", displayName(j.name), 100*float64(n)/float64(size)))
		} else {
			out = append(out, fmt.Sprintf("reading %s: %.1f MiB", displayName(j.name), float64(n)/(1<<20)))
		}
	}
	return out
}

// report adds what the traces and captures produced to rep and in, and
// returns the failures: a trace that could not run, a capture that could
// not be read to its end (a file cut short is only a warning).
func (m *merge) report(rep *report.Report, in *diagnose.Input) []error {
	var errs []error
	for _, j := range m.paths {
		rep.Sources = append(rep.Sources, diagnose.TraceStatus(j.host, j.tr, j.err))
		for _, w := range j.warnings {
			rep.Warnings = append(rep.Warnings, "trace "+j.host+": "+w)
		}
		if j.rawSkip != nil {
			rep.Skipped = append(rep.Skipped, *j.rawSkip)
		}
		if j.tr != nil {
			in.Traces = append(in.Traces, j.tr)
			rep.Traces = append(rep.Traces, report.NewTrace(j.tr))
		}
		if j.err != nil && !stopped(j.err) {
			rep.Skipped = append(rep.Skipped, privilegeSkip(failedSkip("trace "+j.host, j.err)))
			errs = append(errs, fmt.Errorf("trace %s: %w", j.host, j.err))
		}
	}
	for _, j := range m.captures {
		name := displayName(j.name)
		rep.Sources = append(rep.Sources, diagnose.CaptureStatus(name, j.res, j.err))
		if j.res != nil {
			in.Captures = append(in.Captures, j.res)
			rep.Captures = append(rep.Captures, report.NewCapture(j.res, listFlows))
			for _, w := range j.res.Warnings {
				rep.Warnings = append(rep.Warnings, j.res.Name+": "+w)
			}
		}
		if j.err == nil || errors.Is(j.err, capture.ErrCutShort) || stopped(j.err) {
			continue
		}
		errs = append(errs, j.err)
		if j.res == nil {
			sk := failedSkip(name, j.err)
			if sk.Fix == "" {
				sk.Fix = "give a pcap or pcapng file (optionally gzip-compressed)"
			}
			rep.Skipped = append(rep.Skipped, sk)
		}
	}
	return errs
}

// stopped reports whether err only says the run was interrupted or timed
// out, which the report says by itself.
func stopped(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// failedSkip is the NOT READ line for a merged source that failed.
func failedSkip(source string, err error) report.Skip {
	sk := report.Skip{Source: source, Reason: report.ReasonError, Message: err.Error()}
	var pe *privilegeError
	if errors.As(err, &pe) || errors.Is(err, fs.ErrPermission) {
		sk.Reason = report.ReasonPermission
	}
	return sk
}
