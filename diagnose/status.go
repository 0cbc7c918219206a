package diagnose

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/netdx/netdx/capture"
	"github.com/netdx/netdx/collectors"
	"github.com/netdx/netdx/drops"
	"github.com/netdx/netdx/probes"
	"github.com/netdx/netdx/report"
)

// HostStatus summarises what diag read of the host. read is false when
// nothing at all could be read; skipped are the sources it could not read.
func HostStatus(h report.Host, d *collectors.Window, skipped []report.Skip, read, interrupted bool) report.SourceStatus {
	s := report.SourceStatus{Source: report.SourceHost, Name: h.Hostname, Status: report.StatusOK}
	if s.Name == "" {
		s.Name = "this host"
	}
	if h.NetNS != "" {
		s.Name += " netns " + h.NetNS
	}
	if !read {
		s.Status, s.Detail = report.StatusFailed, "nothing could be read; see skipped"
		return s
	}
	switch {
	case d == nil || d.Before == nil:
		s.Detail = "one sample: totals since boot"
	default:
		s.Detail = fmt.Sprintf("two samples %s apart", fmtSeconds(d.Span().Seconds()))
	}
	missing := 0
	for _, sk := range skipped {
		if sk.Reason == report.ReasonPermission || sk.Reason == report.ReasonError {
			missing++
		}
	}
	if missing > 0 {
		s.Status = report.StatusPartial
		s.Detail += fmt.Sprintf("; %d source(s) not read for lack of permission or an error, see skipped", missing)
	}
	if interrupted {
		s.Status = report.StatusPartial
		s.Detail += "; interrupted"
	}
	return s
}

// TraceStatus summarises one trace of target (as the user gave it): tr is
// what was measured, err why it could not run.
func TraceStatus(target string, tr *probes.Trace, err error) report.SourceStatus {
	s := report.SourceStatus{Source: report.SourcePath, Name: target, Status: report.StatusOK}
	if tr == nil {
		s.Status = report.StatusFailed
		if err != nil {
			s.Detail = err.Error()
		}
		return s
	}
	var parts []string
	if n := tr.Config.Count; n > 0 && tr.Rounds < n {
		s.Status = report.StatusPartial
		parts = append(parts, fmt.Sprintf("stopped after %d of %d rounds", tr.Rounds, n))
	} else {
		parts = append(parts, plural(tr.Rounds, "round"))
	}
	switch tr.End {
	case probes.EndReached:
		parts = append(parts, fmt.Sprintf("destination reached at hop %d", tr.DestTTL))
	case probes.EndMaxTTL:
		parts = append(parts, fmt.Sprintf("destination not reached by TTL %d", tr.Config.MaxTTL))
	case probes.EndUnreachable:
		parts = append(parts, "a hop answered unreachable")
	}
	s.Detail = strings.Join(parts, ", ")
	return s
}

// CaptureStatus summarises one capture file: r is what was analysed (nil
// when the file could not be read), err why reading failed or stopped.
func CaptureStatus(name string, r *capture.Result, err error) report.SourceStatus {
	s := report.SourceStatus{Source: report.SourceCapture, Name: name, Status: report.StatusOK}
	if r == nil {
		s.Status = report.StatusFailed
		if err != nil {
			s.Detail = err.Error()
		}
		return s
	}
	s.Detail = fmt.Sprintf("%d packets, %d flows", r.Packets, r.FlowsSeen)
	if !r.Complete {
		s.Status = report.StatusPartial
		why := "reading stopped early"
		switch {
		case errors.Is(err, context.Canceled):
			why = "interrupted before the end of the capture"
		case errors.Is(err, context.DeadlineExceeded):
			why = "stopped by --timeout before the end of the capture"
		case err != nil:
			why = err.Error()
		}
		s.Detail += "; " + why
	}
	return s
}

// reasonsDetail says which source counted the drop reasons, what it
// sees, and how many drops it counted.
func reasonsDetail(w drops.Window) string {
	sees := map[drops.Kind]string{
		drops.KindBTF:        "reason, namespace, interface, protocol and socket",
		drops.KindTracepoint: "reason and protocol, no namespace",
		drops.KindPerf:       "reason and protocol, no namespace",
	}[w.Kind]
	var unspecified uint64
	for _, x := range w.Drops {
		if x.Reason == notSpecified {
			unspecified += x.Count
		}
	}
	d := fmt.Sprintf("%s (%s); %d drops in %s, %d of them NOT_SPECIFIED (code paths that do not say why: counted, not judged)",
		w.Kind, sees, w.Total(), fmtSeconds(w.End.Sub(w.Start).Seconds()), unspecified)
	for _, f := range w.Failures {
		d += fmt.Sprintf("; %s not used: %s", f.Kind, f.Need)
	}
	return d
}

// noReasons is the error of a run that needed drop reasons and had no
// source of them: a permission error (exit status 4) when any source was
// refused for lack of privilege.
func noReasons(w drops.Window) error {
	var needs []string
	perm := false
	for _, f := range w.Failures {
		if f.Need != "" && !slices.Contains(needs, f.Need) {
			needs = append(needs, f.Need)
		}
		perm = perm || errors.Is(f.Err, fs.ErrPermission)
	}
	msg := "no source of drop reasons could run"
	if len(needs) > 0 {
		msg += "; any of these would enable one: " + strings.Join(needs, "; ")
	}
	return &noReasonsError{msg: msg, permission: perm}
}

// noReasonsError is errors.Is fs.ErrPermission when a source was refused
// for lack of privilege.
type noReasonsError struct {
	msg        string
	permission bool
}

func (e *noReasonsError) Error() string { return e.msg }

func (e *noReasonsError) Is(target error) bool { return e.permission && target == fs.ErrPermission }
