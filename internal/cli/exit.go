package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/netdx/netdx/diagnose"
	"github.com/netdx/netdx/report"
)

// Exit statuses, documented in docs/exit-codes.md and `netdx help exit-codes`.
const (
	exitOK          = 0   // nothing at or above --fail-on
	exitFindings    = 1   // findings at or above --fail-on
	exitUsage       = 2   // bad flags or arguments
	exitError       = 3   // could not run, bad input, or stopped by --timeout
	exitPrivilege   = 4   // not enough privilege to produce any result
	exitInterrupted = 130 // interrupted by a signal; the partial report was printed
)

// usageError is a mistake in flags or arguments.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// findingsError says findings reached the --fail-on severity. The report
// already said everything, so it prints nothing more.
type findingsError struct{ n int }

func (e *findingsError) Error() string {
	return fmt.Sprintf("%d finding(s) at or above --fail-on", e.n)
}

// privilegeError says nothing could be produced for lack of privilege; the
// message names the privilege and how to grant it.
type privilegeError struct{ err error }

func (e *privilegeError) Error() string { return e.err.Error() }
func (e *privilegeError) Unwrap() error { return e.err }

// errInterrupted is returned after a signal stopped the run and the
// partial report was printed.
var errInterrupted = errors.New("interrupted")

// exitStatus is the one place that turns a command's outcome into the
// process's exit status.
func exitStatus(err error) int {
	var (
		ue *usageError
		fe *findingsError
		pe *privilegeError
	)
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errInterrupted), errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.As(err, &ue):
		return exitUsage
	case errors.As(err, &fe):
		return exitFindings
	case errors.As(err, &pe), errors.Is(err, fs.ErrPermission):
		return exitPrivilege
	default:
		return exitError
	}
}

// partialError is input that failed while the rest of the input produced
// a report. It exits 3 whatever the cause: 4 (privilege) means nothing at
// all could be produced. It keeps its causes out of errors.Is and
// errors.As on purpose.
type partialError struct{ errs []error }

func (e *partialError) Error() string { return errors.Join(e.errs...).Error() }

// inputFailure is the error for the inputs that failed: nil when none
// did, a partialError when other input produced results, else the
// failures themselves (so a lack of privilege exits 4).
func inputFailure(errs []error, produced bool) error {
	switch {
	case len(errs) == 0:
		return nil
	case produced:
		return &partialError{errs}
	}
	return errors.Join(errs...)
}

// incomplete decides the outcome of a run that printed its report
// (emitErr is what printing returned) when some of its input failed
// (inputErr): an interruption, a timeout or a failed write wins; then the
// failed input, since findings from part of the input are not the whole
// answer (3 wins over 1); then findings at --fail-on.
func incomplete(emitErr, inputErr error) error {
	var fe *findingsError
	if inputErr != nil && (emitErr == nil || errors.As(emitErr, &fe)) {
		return inputErr
	}
	return emitErr
}

// reportError prints err for the user, unless the report already said it.
func reportError(w io.Writer, err error) {
	var fe *findingsError
	if err == nil || errors.As(err, &fe) {
		return
	}
	if errors.Is(err, errInterrupted) || errors.Is(err, context.Canceled) {
		fmt.Fprintln(w, "netdx: interrupted")
		return
	}
	msg := err.Error()
	fmt.Fprintf(w, "netdx: %s\n", msg)
	var ue *usageError
	if errors.As(err, &ue) && !strings.Contains(msg, "--help") {
		fmt.Fprintln(w, "Run 'netdx --help' for usage.")
	}
}

// finish prints rep and decides the exit status of a run whose input
// failed as f says: a host of which nothing could be read exits 4 or 3
// when nothing else was produced; failed input exits 3, since findings
// from part of the input are not the whole answer; then findings at
// --fail-on.
func (a *app) finish(ctx context.Context, rep *report.Report, f diagnose.Failures) error {
	errs := f.Inputs
	switch {
	case f.HostUnread && !f.Produced:
		return nothingRead(rep, a.emit(ctx, rep))
	case f.HostUnread:
		errs = append(errs, nothingRead(rep, nil))
	case f.HostErrors > 0:
		errs = append(errs, fmt.Errorf("%d source(s) could not be read; see NOT READ", f.HostErrors))
	}
	return incomplete(a.emit(ctx, rep), inputFailure(errs, f.Produced))
}
