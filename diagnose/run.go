package diagnose

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netdx/netdx/capture"
	"github.com/netdx/netdx/collectors"
	"github.com/netdx/netdx/drops"
	"github.com/netdx/netdx/probes"
	"github.com/netdx/netdx/report"
)

// Plan is what one report examines: the host over a window, paths to
// trace, captures to analyse; any of them may be absent. Every command
// (diag, trace, pcap analyze, serve, and diag's merged report) builds a
// Plan and hands it to Run; the plan says how to read each source, Run
// decides how they run together and what the report says about them.
type Plan struct {
	// Command is the report's command ("diag", "trace", "pcap analyze",
	// "serve").
	Command string
	Tool    report.Tool
	Host    report.Host
	Started time.Time

	Sample   *Sampling
	Paths    []Path
	Captures []Capture
	// Reasons, when set, reads the kernel's drop reasons over the host's
	// window (or over its own, without Sample).
	Reasons *Reasons

	// Watch, when set, is called once the sources are being read with
	// their live state, and returns what stops watching: a progress line.
	Watch func(*Progress) (stop func())
}

// Sampling reads the host: two samples Interval apart, or one (Interval
// 0) whose since-boot totals are judged.
type Sampling struct {
	Interval time.Duration
	// Take reads sample n (0 the first of two, 1 the last) with the
	// warnings of its sources.
	Take func(ctx context.Context, n int) (*collectors.Snapshot, []string, error)
	// Sleep waits d or until ctx is done.
	Sleep func(ctx context.Context, d time.Duration)
	// ReadFrom says which roots and namespace were read.
	ReadFrom *report.DiagReadFrom
	// NoSinceBoot reports the counters of a single sample without judging
	// its since-boot totals (serve before its first window).
	NoSinceBoot bool
	// Conns bounds and filters the per-connection TCP view (--conn-top,
	// --conn).
	Conns collectors.TCPHealthOptions
	// NameOwners, when set, names the processes holding the connections
	// the view lists; what it could not read becomes a NOT READ line.
	NameOwners func(*collectors.TCPHealth) error
}

// Reasons reads the kernel's drop reasons: snapshots of a drops.Source
// taken right after each host sample, so reasons and counters cover the
// same window; without a host sample, two snapshots Interval apart.
type Reasons struct {
	// Take reads snapshot n (0 the first, 1 the last) of the drops
	// counted since the source started.
	Take func(n int) (drops.Window, error)
	// Interval and Sleep make the window when the plan samples no host.
	Interval time.Duration
	Sleep    func(ctx context.Context, d time.Duration)
	// Netns is the inode of the namespace the host's counters are read
	// in (0: netdx's own), which the reasons are reconciled in.
	Netns uint32
	// Keep, when set, keeps the drops the command's filters allow.
	Keep   func(d *drops.Drop) bool
	Filter *report.DropFilter
	// Required says the reasons are the report's point (netdx drops):
	// without any source of reasons nothing was produced.
	Required bool
}

// Path is one network path to trace.
type Path struct {
	// Target is the host as the user gave it.
	Target string
	// Rounds is how many rounds the trace plans, for progress.
	Rounds int
	// Trace traces the path, telling rounds how many rounds are done.
	Trace func(ctx context.Context, rounds func(int)) PathResult
}

// PathResult is what tracing a path gave.
type PathResult struct {
	Trace    *probes.Trace
	Warnings []string
	// Skips are what the trace could not use or do (raw sockets refused,
	// or why it could not run at all).
	Skips []report.Skip
	// Interrupted says the trace was stopped by the user before its end.
	Interrupted bool
	Err         error
}

// Capture is one capture file to analyse.
type Capture struct {
	// Name is how the report names it ("stdin" for standard input).
	Name string
	// Open opens it, with its size and what closes it. A size says the
	// input is a regular file, whose reads do not block; -1 is any other
	// (a pipe, a FIFO, a device).
	Open    func() (r io.Reader, size int64, done func(), err error)
	Options capture.Options
	// List is how many flows the report lists, worst first (0: all).
	List int
}

// Progress is the live state of a run, for a progress line.
type Progress struct {
	// Sampled is set once the host's samples are taken.
	Sampled  atomic.Bool
	Interval time.Duration
	Paths    []*PathProgress
	Captures []*CaptureProgress
}

// PathProgress is one trace's rounds so far.
type PathProgress struct {
	Target string
	Rounds int
	Done   atomic.Int64
}

// CaptureProgress is one capture's bytes read so far.
type CaptureProgress struct {
	Name  string
	State atomic.Int32 // CaptureWaiting, CaptureReading or CaptureDone
	Size  atomic.Int64 // -1 when unknown
	Read  atomic.Int64
}

// Capture states.
const (
	CaptureWaiting = iota
	CaptureReading
	CaptureDone
)

// Failures are what went wrong with a run's input; the caller turns them
// into the exit status.
type Failures struct {
	// Inputs are the paths that could not be traced and the captures not
	// read to their end (a capture cut short is only a warning).
	Inputs []error
	// HostUnread says the host was to be sampled and nothing at all could
	// be read; HostErrors counts its sources that failed with an error.
	HostUnread bool
	HostErrors int
	// Produced says some source gave a result.
	Produced bool
}

// Run reads every source of the plan — the traces each in its own
// goroutine (they wait on the network), the captures one after the
// other in another (they need the CPU), the host meanwhile — judges what
// they gave and returns the report. The error is for a plan that could
// produce no report (the host's sources could not be opened).
func Run(ctx context.Context, p Plan) (*report.Report, Failures, error) {
	rep := report.New(p.Command, p.Tool, p.Host, p.Started)
	prog := &Progress{}
	if p.Sample != nil {
		prog.Interval = p.Sample.Interval
	}
	jobsCtx, cancelJobs := context.WithCancel(ctx)
	defer cancelJobs()
	var wg sync.WaitGroup
	paths := make([]PathResult, len(p.Paths))
	for i, path := range p.Paths {
		pp := &PathProgress{Target: path.Target, Rounds: path.Rounds}
		prog.Paths = append(prog.Paths, pp)
		wg.Go(func() { paths[i] = path.Trace(jobsCtx, func(n int) { pp.Done.Store(int64(n)) }) })
	}
	type captured struct {
		res *capture.Result
		err error
	}
	captures := make([]captured, len(p.Captures))
	for _, c := range p.Captures {
		cp := &CaptureProgress{Name: c.Name}
		cp.Size.Store(-1)
		prog.Captures = append(prog.Captures, cp)
	}
	if len(p.Captures) > 0 {
		wg.Go(func() {
			for i, c := range p.Captures {
				if err := jobsCtx.Err(); err != nil {
					captures[i].err = err
					continue
				}
				captures[i].res, captures[i].err = analyze(jobsCtx, c, prog.Captures[i])
			}
		})
	}
	stop := func() {}
	if p.Watch != nil {
		stop = p.Watch(prog)
	}
	defer stop()

	var host *collectors.Window
	var hostWarnings []string
	reasons := &reasonSamples{r: p.Reasons}
	if p.Sample != nil {
		var err error
		host, hostWarnings, err = takeSamples(ctx, p.Sample, reasons)
		if err != nil {
			cancelJobs()
			wg.Wait()
			return nil, Failures{}, err
		}
	} else if p.Reasons != nil {
		reasons.take(0)
		p.Reasons.Sleep(ctx, p.Reasons.Interval)
		reasons.take(1)
	}
	prog.Sampled.Store(true)
	wg.Wait()
	stop()

	var f Failures
	in := &Input{NetNS: p.Host.NetNS}
	merged := len(p.Paths)+len(p.Captures)+boolInt(p.Sample != nil) > 1
	if p.Sample != nil {
		f.HostUnread = emptySnapshot(host.After)
		conns := tcpView(p.Sample, host)
		hostInput(rep, p.Sample, host, conns, hostWarnings, ctx.Err() != nil, !f.HostUnread)
		if !p.Sample.NoSinceBoot || !host.SinceBoot {
			in.Diag, in.Conns = host, conns
		}
		for _, s := range rep.Skipped {
			if s.Reason == report.ReasonError {
				f.HostErrors++
			}
		}
	}
	for i, path := range p.Paths {
		r := paths[i]
		st := TraceStatus(path.Target, r.Trace, r.Err)
		if r.Interrupted && st.Status == report.StatusOK {
			st.Status = report.StatusPartial
		}
		rep.Sources = append(rep.Sources, st)
		prefix := ""
		if merged {
			prefix = "trace " + path.Target + ": "
		}
		for _, w := range r.Warnings {
			rep.Warnings = append(rep.Warnings, prefix+w)
		}
		for _, sk := range r.Skips {
			if merged && r.Trace != nil {
				sk.Source = prefix + sk.Source
			}
			rep.Skipped = append(rep.Skipped, sk)
		}
		if r.Trace != nil {
			in.Traces = append(in.Traces, r.Trace)
			rep.Traces = append(rep.Traces, report.NewTrace(r.Trace))
		}
		if r.Err != nil && !stopped(r.Err) {
			f.Inputs = append(f.Inputs, fmt.Errorf("trace %s: %w", path.Target, r.Err))
		}
	}
	for i, c := range p.Captures {
		r := captures[i]
		rep.Sources = append(rep.Sources, CaptureStatus(c.Name, r.res, r.err))
		if r.res != nil {
			in.Captures = append(in.Captures, r.res)
			rep.Captures = append(rep.Captures, report.NewCapture(r.res, c.List))
			for _, w := range r.res.Warnings {
				rep.Warnings = append(rep.Warnings, r.res.Name+": "+w)
			}
		}
		if r.err == nil || errors.Is(r.err, capture.ErrCutShort) || stopped(r.err) {
			continue
		}
		f.Inputs = append(f.Inputs, r.err)
		if r.res == nil {
			rep.Skipped = append(rep.Skipped, captureSkip(c.Name, r.err))
		}
	}
	if p.Reasons != nil {
		reasons.input(rep, in, &f, host)
	}
	f.Produced = f.Produced || (p.Sample != nil && !f.HostUnread) || len(in.Traces)+len(in.Captures) > 0
	rep.Findings, rep.Checks = Evaluate(in)
	if rep.Drops != nil && in.Drops != nil {
		rep.Drops.Reconciliation = Reconcile(in)
	}
	return rep, f, nil
}

// takeSamples takes the host's samples: the first, the interval, the last. The
// last is read even when ctx was cancelled during the interval: it takes
// milliseconds, and rates over the shorter window still hold.
//
// The drop reasons' snapshots are taken right after the host's, so both
// count over the same window; since boot there are no reasons to judge.
func takeSamples(ctx context.Context, s *Sampling, reasons *reasonSamples) (*collectors.Window, []string, error) {
	var before *collectors.Snapshot
	if s.Interval > 0 {
		var err error
		if before, _, err = s.Take(ctx, 0); err != nil {
			return nil, nil, err
		}
		reasons.take(0)
		s.Sleep(ctx, s.Interval)
	}
	after, warnings, err := s.Take(context.WithoutCancel(ctx), 1)
	if err != nil {
		return nil, nil, err
	}
	if before != nil {
		reasons.take(1)
	}
	return collectors.NewWindow(before, after, s.Interval), warnings, nil
}

// tcpView compares the connections of the window's samples, bounded and
// filtered as the plan says, and names the processes of those it lists
// (a failure to read some is recorded as a skip of the last sample).
func tcpView(s *Sampling, w *collectors.Window) *collectors.TCPHealth {
	h := collectors.TCPHealthBetween(w.Before, w.After, s.Conns)
	if h != nil && s.NameOwners != nil {
		if err := s.NameOwners(h); err != nil {
			w.After.AddSkip("TCP connection owners", err)
		}
	}
	return h
}

// reasonSamples are the two snapshots of the drop reasons.
type reasonSamples struct {
	r    *Reasons
	w    [2]*drops.Window
	errs []error
}

func (rs *reasonSamples) take(n int) {
	if rs.r == nil {
		return
	}
	w, err := rs.r.Take(n)
	if err != nil {
		rs.errs = append(rs.errs, err)
		return
	}
	rs.w[n] = &w
}

// input fills the report's drops section, source line and NOT READ lines
// from the two snapshots, and the rules' input with the window.
func (rs *reasonSamples) input(rep *report.Report, in *Input, f *Failures, host *collectors.Window) {
	st := report.SourceStatus{Source: report.SourceDrops, Name: "kernel drop reasons", Status: report.StatusOK}
	var w drops.Window
	switch {
	case rs.w[0] != nil && rs.w[1] != nil:
		w = rs.w[1].Sub(*rs.w[0])
	case rs.w[1] != nil:
		w = *rs.w[1]
	case rs.w[0] != nil:
		w = *rs.w[0]
	}
	if rs.r.Keep != nil {
		kept := w.Drops[:0:0]
		for i := range w.Drops {
			if rs.r.Keep(&w.Drops[i]) {
				kept = append(kept, w.Drops[i])
			}
		}
		w.Drops = kept
	}
	rep.Skipped = append(rep.Skipped, report.DropsSkips(w)...)
	switch {
	case len(rs.errs) > 0:
		st.Status, st.Detail = report.StatusFailed, errors.Join(rs.errs...).Error()
		f.Inputs = append(f.Inputs, fmt.Errorf("drop reasons: %w", errors.Join(rs.errs...)))
	case w.Kind == "" || w.Kind == drops.KindNone:
		st.Status, st.Detail = report.StatusFailed, "no source of drop reasons could run; see skipped for what would enable one"
		if rs.r.Required {
			f.Inputs = append(f.Inputs, noReasons(w))
		}
	case rs.w[0] == nil || rs.w[1] == nil:
		st.Status, st.Detail = report.StatusFailed, "needs two snapshots: the host was read since boot (--interval 0)"
	default:
		st.Detail = reasonsDetail(w)
		if len(w.Failures) > 0 || w.Overflow.MapFull+w.Overflow.Lost > 0 {
			st.Status = report.StatusPartial
		}
		rep.Drops = report.NewDrops(w)
		rep.Drops.Filter = rs.r.Filter
		in.Drops, in.DropsNetns = &w, rs.r.Netns
		f.Produced = true
		if n := w.Overflow.MapFull; n > 0 {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("%d drops found the kernel's drop map full and were counted without a place: they are in no entry", n))
		}
		if n := w.Overflow.Lost; n > 0 {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("the perf ring lost %d samples of drops: the counts are low by at least that many", n))
		}
	}
	rep.Sources = append(rep.Sources, st)
}

// hostInput fills the report's host sections: what diag read, what it
// could not, and the host's source line.
func hostInput(rep *report.Report, s *Sampling, w *collectors.Window, conns *collectors.TCPHealth, warnings []string, interrupted, read bool) {
	rep.Diag = report.NewDiag(w)
	if rep.Diag != nil {
		rep.Diag.ReadFrom = s.ReadFrom
		rep.Diag.Connections = report.NewDiagConnections(conns)
	}
	rep.Skipped = report.DiagSkips(w)
	rep.Warnings = append(rep.Warnings, warnings...)
	if w.SinceBoot && !s.NoSinceBoot {
		rep.Warnings = append(rep.Warnings, "--interval 0: judged totals since boot, which may count events long past; run with an interval to see what is happening now.")
	}
	rep.Sources = append(rep.Sources, HostStatus(rep.Host, w, rep.Skipped, read, interrupted))
}

// analyze opens and analyses one capture, counting the bytes read.
func analyze(ctx context.Context, c Capture, p *CaptureProgress) (*capture.Result, error) {
	defer p.State.Store(CaptureDone)
	r, size, done, err := c.Open()
	if err != nil {
		return nil, err
	}
	defer done()
	p.Size.Store(size)
	p.State.Store(CaptureReading)
	opts := c.Options
	opts.Name = c.Name
	opts.RegularFile = size >= 0
	return capture.Analyze(ctx, &countingReader{r: r, n: &p.Read}, opts)
}

// countingReader counts the bytes read so a progress line can show them;
// the engine knows nothing about it.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n.Add(int64(n))
	return n, err
}

// captureSkip is the NOT READ line of a capture that could not be read.
func captureSkip(name string, err error) report.Skip {
	sk := report.Skip{Source: name, Reason: report.ReasonError, Message: err.Error(),
		Fix: "give a pcap or pcapng file (optionally gzip-compressed)"}
	if errors.Is(err, fs.ErrPermission) {
		sk.Reason = report.ReasonPermission
	}
	return sk
}

// stopped reports whether err only says the run was interrupted or timed
// out, which the report says by itself.
func stopped(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// emptySnapshot reports whether a snapshot holds no data at all.
func emptySnapshot(s *collectors.Snapshot) bool {
	return s.Netstat == nil && s.Softnet == nil && s.Links == nil && s.Qdiscs == nil && s.Sysctls == nil &&
		s.Sockets == nil && s.Sockstat == nil && s.Conntrack == nil && s.NICs == nil && s.MPTCP == nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
