package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/netdx/netdx/collectors"
	"github.com/netdx/netdx/probes"
	"github.com/netdx/netdx/report"
)

type diagOptions struct {
	interval time.Duration
	proc     string
	sys      string
	netns    string
	ifaces   []string
	// traces and pcaps are the paths and captures merged into the
	// report; trace holds the embedded traces' settings.
	traces      []string
	pcaps       []string
	trace       traceOptions
	traceMethod string
	// Tests replace these: open returns the sources of sample 0 (before)
	// or 1 (after), to replay recorded hosts; sleep waits the interval;
	// host names the machine; traceNow is the embedded traces' clock.
	open     func(sample int) (*collectors.Sources, error)
	sleep    func(context.Context, time.Duration)
	host     func(netns string) report.Host
	traceNow func() time.Time
}

func newDiagCmd(a *app) *cobra.Command { return diagCommand(a, nil) }

// diagCommand builds `netdx diag`; runF, when set, replaces the run
// function so tests can check flags or inject sources.
func diagCommand(a *app, runF func(context.Context, *diagOptions) error) *cobra.Command {
	o := &diagOptions{trace: traceOptions{probeTimeout: probes.DefaultTimeout, firstTTL: 1, maxTTL: probes.DefaultMaxTTL, report: true}}
	cmd := &cobra.Command{
		Use:   "diag",
		Short: "Diagnose the host's packet drops and latency from its kernel counters",
		Long: `diag reads the host's counters and settings (netstat, snmp, softnet, interfaces,
ethtool, qdiscs, sysctls, sockets, conntrack, MPTCP) twice, --interval apart,
and judges the rates: what is dropping, where in the stack, how fast, and the
command that fixes it. With --interval 0 it judges since-boot totals only.

--trace HOST and --pcap FILE merge paths and captures into the same report:
traces run while the host is sampled, captures are analysed meanwhile, and
the findings of all of them are ranked together. Where the evidence of
several sources meets, one cross-source finding names the cause and folds
in the per-source findings it explains.

Run it as root to read everything; without root it says what it could not
read and why. In a container, mount the host's /proc and /sys and point
--proc and --sys at them; see docs/diag.md.`,
		Example: `  netdx diag
  netdx diag --interval 10s --json
  netdx diag --netns blue --iface veth0
  netdx diag --proc /host/proc --sys /host/sys
  netdx diag --interval 5s --trace 198.51.100.7 --pcap tunnel.pcap`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.traceFlags(cmd.Flags().Changed("trace-method")); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return runDiag(cmd.Context(), a, o)
		},
	}
	f := cmd.Flags()
	f.DurationVar(&o.interval, "interval", time.Second, "time between the two samples; 0 judges since-boot totals only")
	f.StringVar(&o.proc, "proc", "/proc", "procfs root (e.g. /host/proc in a container)")
	f.StringVar(&o.sys, "sys", "/sys", "sysfs root (e.g. /host/sys in a container)")
	f.StringVar(&o.netns, "netns", "", "diagnose this network namespace: a name under /run/netns, or a path such as /proc/PID/ns/net")
	f.StringSliceVar(&o.ifaces, "iface", nil, "limit per-interface checks to these interfaces (repeat or comma-separate)")
	f.StringArrayVar(&o.traces, "trace", nil, "also trace the path to HOST, during the interval, and merge it into the report (repeatable)")
	f.StringArrayVar(&o.pcaps, "pcap", nil, "also analyse this capture (pcap or pcapng, gzip too; - for stdin) and merge it into the report (repeatable)")
	f.IntVar(&o.trace.count, "trace-count", defaultReportCount, "rounds of each --trace")
	f.DurationVar(&o.trace.interval, "trace-interval", 0, "time between the rounds of each --trace; 0 paces each hop within its ICMP rate limit")
	f.StringVar(&o.traceMethod, "trace-method", "icmp", "probes of each --trace: icmp, udp or tcp (icmp falls back to udp without privilege unless given)")
	f.IntVar(&o.trace.port, "trace-port", 0, "destination port of --trace probes (tcp default 80)")
	f.BoolVar(&o.trace.noDNS, "no-dns", false, "show the hops of --trace as addresses only; no reverse DNS")
	_ = cmd.RegisterFlagCompletionFunc("trace-method", cobra.FixedCompletions([]string{"icmp", "udp", "tcp"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.MarkFlagFilename("pcap", "pcap", "pcapng", "gz", "cap")
	return cmd
}

// traceFlags turns --trace-method into the trace options. ICMP given
// explicitly does not fall back to UDP.
func (o *diagOptions) traceFlags(methodGiven bool) error {
	switch o.traceMethod {
	case "icmp":
		o.trace.icmp = methodGiven
	case "udp":
		o.trace.udp = true
	case "tcp":
		o.trace.tcp = true
	default:
		return &usageError{fmt.Errorf("invalid --trace-method %q: want icmp, udp or tcp", o.traceMethod)}
	}
	return nil
}

// checkMerge checks the flags of the merged sources before anything runs.
func (o *diagOptions) checkMerge() error {
	if len(o.traces) > 0 {
		if _, err := o.trace.config(); err != nil {
			return &usageError{fmt.Errorf("--trace: %w", err)}
		}
		if o.netns != "" {
			return &usageError{errors.New("--trace sends from netdx's own network namespace, not --netns; run netdx inside the namespace instead: ip netns exec NAME netdx diag --trace HOST")}
		}
	}
	stdin := 0
	for _, p := range o.pcaps {
		if p == "-" {
			stdin++
		}
	}
	if stdin > 1 {
		return &usageError{errors.New("--pcap - (stdin) can be given only once")}
	}
	return nil
}

func runDiag(ctx context.Context, a *app, o *diagOptions) error {
	if o.interval < 0 {
		return &usageError{fmt.Errorf("invalid --interval %s: must not be negative", o.interval)}
	}
	if err := o.checkMerge(); err != nil {
		return err
	}
	ctx, cancel := a.withTimeout(ctx)
	defer cancel()
	open := o.open
	var readFrom *report.DiagReadFrom
	if open == nil {
		src, err := collectors.Open(collectors.Options{Proc: o.proc, Sys: o.sys, NetNS: o.netns, Ifaces: o.ifaces, Log: a.logger()})
		if errors.Is(err, collectors.ErrNoNetNS) {
			return &usageError{fmt.Errorf("--netns: %w", err)}
		}
		if err != nil {
			return err
		}
		defer src.Close()
		open = func(int) (*collectors.Sources, error) { return src, nil }
		readFrom = report.NewDiagReadFrom(src.Origin())
	}

	host, sleep := o.host, o.sleep
	if host == nil {
		host = hostInfo
	}
	if sleep == nil {
		sleep = wait
	}
	rep := report.New("diag", a.tool(), host(o.netns), a.Now())
	in := &report.Input{Diag: &report.DiagInput{Interval: o.interval}}
	// Paths and captures run while the host is sampled.
	m := a.startMerge(ctx, o)
	var sampled atomic.Bool
	stop := a.startProgress(a.ErrTTY, func(elapsed time.Duration) string {
		var parts []string
		if !sampled.Load() {
			parts = append(parts, fmt.Sprintf("sampling the host: %s of %s", elapsed.Truncate(100*time.Millisecond), o.interval))
		}
		return "diag: " + strings.Join(append(parts, m.progress()...), " · ")
	})
	defer stop()
	var warnings []string
	take := func(n int, ctx context.Context) (*collectors.Snapshot, error) {
		src, err := open(n)
		if err != nil {
			return nil, err
		}
		if n == 1 || o.interval == 0 {
			warnings = src.Warnings
		}
		return collectors.Take(ctx, src, a.Now), nil
	}
	var err error
	if o.interval > 0 {
		if in.Diag.Before, err = take(0, ctx); err != nil {
			return err
		}
		sleep(ctx, o.interval)
	}
	// Read the second sample even when interrupted during the interval: it
	// takes milliseconds, and rates over the shorter window still hold.
	if in.Diag.After, err = take(1, context.WithoutCancel(ctx)); err != nil {
		return err
	}
	sampled.Store(true)
	m.wait()
	stop()

	rep.Diag = report.NewDiag(in.Diag)
	if rep.Diag != nil {
		rep.Diag.ReadFrom = readFrom
	}
	rep.Skipped = report.DiagSkips(in.Diag)
	rep.Warnings = append(rep.Warnings, warnings...)
	if o.interval == 0 {
		rep.Warnings = append(rep.Warnings, "--interval 0: judged totals since boot, which may count events long past; run with an interval to see what is happening now.")
	}
	hostRead := !empty(in.Diag.After)
	rep.Sources = append(rep.Sources, report.HostStatus(rep.Host, in.Diag, rep.Skipped, hostRead, ctx.Err() != nil))
	hostErrs := countErrors(rep.Skipped)
	inputErrs := m.report(rep, in)
	rep.Findings, rep.Checks = report.Evaluate(in)
	if !hostRead {
		if len(in.Traces)+len(in.Captures) == 0 {
			return nothingRead(rep, a.emit(ctx, rep))
		}
		inputErrs = append(inputErrs, nothingRead(rep, nil))
	}
	if n := hostErrs; n > 0 && hostRead {
		inputErrs = append(inputErrs, fmt.Errorf("%d source(s) could not be read; see NOT READ", n))
	}
	// Something was produced: failed input exits 3, not 4.
	return incomplete(a.emit(ctx, rep), inputFailure(inputErrs, true))
}

// wait sleeps d or until ctx is done.
func wait(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// empty reports whether a snapshot holds no data at all.
func empty(s *collectors.Snapshot) bool {
	return s.Netstat == nil && s.Softnet == nil && s.Links == nil && s.Qdiscs == nil && s.Sysctls == nil &&
		s.Sockets == nil && s.Sockstat == nil && s.Conntrack == nil && s.NICs == nil && s.MPTCP == nil
}

// nothingRead turns a report with no data into the exit status that says
// why: not enough privilege (4), or an error (3). emitErr is what printing
// the report returned; an interruption still wins.
func nothingRead(rep *report.Report, emitErr error) error {
	var fe *findingsError
	if emitErr != nil && !errors.As(emitErr, &fe) {
		return emitErr
	}
	for _, s := range rep.Skipped {
		if s.Reason == report.ReasonPermission {
			msg := fmt.Sprintf("nothing could be read: %s: %s", s.Source, s.Message)
			if s.Fix != "" {
				msg += " (" + s.Fix + ")"
			}
			return &privilegeError{errors.New(msg)}
		}
	}
	var parts []string
	for _, s := range rep.Skipped {
		parts = append(parts, s.Source+": "+s.Message)
	}
	return fmt.Errorf("nothing could be read: %s", strings.Join(parts, "; "))
}

// countErrors counts the sources that failed (not those missing for lack
// of support or privilege, which are expected on some hosts).
func countErrors(ss []report.Skip) int {
	n := 0
	for _, s := range ss {
		if s.Reason == report.ReasonError {
			n++
		}
	}
	return n
}

// hostInfo names the host and kernel the report is about.
func hostInfo(netns string) report.Host {
	h := report.Host{NetNS: netns}
	h.Hostname, _ = os.Hostname()
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		h.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	return h
}
