package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/netdx/netdx/diagnose"

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
	// conn and connTop filter and bound the per-connection TCP view.
	conn    string
	connTop int
	// noReasons skips the kernel's drop reasons (reasons.go).
	noReasons bool
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

Each TCP connection's own tcp_info, read at both samples, says which
connections retransmit, see reordering, wait on their peer's window or on
their own send buffer; the worst are named with their process (--conn-top
per limit). --conn narrows the view to some connections, and then also says
when one is limited by its application rather than the network.

Run it as root to read everything; without root it says what it could not
read and why. In a container, mount the host's /proc and /sys and point
--proc and --sys at them; see docs/diag.md.`,
		Example: `  netdx diag
  netdx diag --interval 10s --json
  netdx diag --netns blue --iface veth0
  netdx diag --interval 5s --conn 443,198.18.0.0/15
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
	f.StringVar(&o.conn, "conn", "", "limit the per-connection TCP view to connections with either end matching: a port, an address, a prefix or address:port (comma-separated)")
	f.IntVar(&o.connTop, "conn-top", collectors.DefaultTCPTop, "connections the per-connection TCP view lists for each limit, worst first (the others are counted)")
	f.StringArrayVar(&o.traces, "trace", nil, "also trace the path to HOST, during the interval, and merge it into the report (repeatable)")
	f.StringArrayVar(&o.pcaps, "pcap", nil, "also analyse this capture (pcap or pcapng, gzip too; - for stdin) and merge it into the report (repeatable)")
	f.IntVar(&o.trace.count, "trace-count", defaultReportCount, "rounds of each --trace")
	f.DurationVar(&o.trace.interval, "trace-interval", 0, "time between the rounds of each --trace; 0 paces each hop within its ICMP rate limit")
	f.StringVar(&o.traceMethod, "trace-method", "icmp", "probes of each --trace: icmp, udp or tcp (icmp falls back to udp without privilege unless given)")
	f.IntVar(&o.trace.port, "trace-port", 0, "destination port of --trace probes (tcp default 80)")
	f.BoolVar(&o.trace.noDNS, "no-dns", false, "show the hops of --trace as addresses only; no reverse DNS")
	f.BoolVar(&o.noReasons, "no-drop-reasons", false, "do not count the kernel's drop reasons over the interval (counted when privileged; see netdx drops)")
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

// connOptions turns --conn and --conn-top into the per-connection view's
// options.
func (o *diagOptions) connOptions() (collectors.TCPHealthOptions, error) {
	if o.connTop < 1 {
		return collectors.TCPHealthOptions{}, &usageError{fmt.Errorf("invalid --conn-top %d: must be 1 or more", o.connTop)}
	}
	opts := collectors.TCPHealthOptions{Top: o.connTop}
	if o.conn != "" {
		f, err := collectors.ParseConnFilter(o.conn)
		if err != nil {
			return opts, &usageError{fmt.Errorf("--conn: %w", err)}
		}
		opts.Filter = f
	}
	return opts, nil
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
	deferGC()
	if o.interval < 0 {
		return &usageError{fmt.Errorf("invalid --interval %s: must not be negative", o.interval)}
	}
	if err := o.checkMerge(); err != nil {
		return err
	}
	conns, err := o.connOptions()
	if err != nil {
		return err
	}
	ctx, cancel := a.withTimeout(ctx)
	defer cancel()
	sampling := &diagnose.Sampling{Interval: o.interval, Sleep: o.sleep, Conns: conns}
	open := o.open
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
		sampling.ReadFrom = report.NewDiagReadFrom(src.Origin())
		sampling.NameOwners = func(h *collectors.TCPHealth) error { return h.NameOwners(src) }
	}
	sampling.Take = func(ctx context.Context, n int) (*collectors.Snapshot, []string, error) {
		src, err := open(n)
		if err != nil {
			return nil, nil, err
		}
		return collectors.Take(ctx, src, a.Now), src.Warnings, nil
	}
	if sampling.Sleep == nil {
		sampling.Sleep = wait
	}
	host := o.host
	if host == nil {
		host = hostInfo
	}
	now := o.traceNow
	if now == nil {
		now = time.Now
	}
	plan := diagnose.Plan{Command: "diag", Tool: a.tool(), Host: host(o.netns), Started: a.Now(), Sample: sampling,
		Watch: a.watch(a.ErrTTY, func(p *diagnose.Progress, elapsed time.Duration) string {
			var parts []string
			if !p.Sampled.Load() {
				parts = append(parts, fmt.Sprintf("sampling the host: %s of %s", elapsed.Truncate(100*time.Millisecond), p.Interval))
			}
			return "diag: " + strings.Join(append(parts, mergedProgress(p)...), " · ")
		})}
	// Paths and captures run while the host is sampled.
	for _, h := range o.traces {
		plan.Paths = append(plan.Paths, a.tracePath(&o.trace, h, now))
	}
	for _, name := range o.pcaps {
		plan.Captures = append(plan.Captures, a.captureFile(name, captureDefaults(), listFlows))
	}
	if o.open == nil && o.interval > 0 && !o.noReasons {
		r, done, err := diagReasons(ctx, o)
		if err != nil {
			return err
		}
		defer done()
		plan.Reasons = r
	}
	rep, failures, err := diagnose.Run(ctx, plan)
	if err != nil {
		return err
	}
	return a.finish(ctx, rep, failures)
}

// mergedProgress describes the traces and captures still running.
func mergedProgress(p *diagnose.Progress) []string {
	var out []string
	for _, j := range p.Paths {
		if n := j.Done.Load(); n < int64(j.Rounds) {
			out = append(out, fmt.Sprintf("tracing %s: %d of %d rounds", j.Target, n, j.Rounds))
		}
	}
	for _, j := range p.Captures {
		if j.State.Load() != diagnose.CaptureReading {
			continue
		}
		if n, size := j.Read.Load(), j.Size.Load(); size > 0 {
			out = append(out, fmt.Sprintf("reading %s: %.0f%%", j.Name, 100*float64(n)/float64(size)))
		} else {
			out = append(out, fmt.Sprintf("reading %s: %.1f MiB", j.Name, float64(n)/(1<<20)))
		}
	}
	return out
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
