package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/netdx/netdx/collectors"
	"github.com/netdx/netdx/report"
)

type diagOptions struct {
	interval time.Duration
	proc     string
	sys      string
	netns    string
	ifaces   []string
}

func newDiagCmd(a *app) *cobra.Command {
	o := &diagOptions{}
	cmd := &cobra.Command{
		Use:   "diag",
		Short: "Diagnose the host's packet drops and latency from its kernel counters",
		Long: `diag reads the host's counters and settings (netstat, snmp, softnet, interfaces,
ethtool, qdiscs, sysctls, sockets, conntrack, MPTCP) twice, --interval apart,
and judges the rates: what is dropping, where in the stack, how fast, and the
command that fixes it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDiag(cmd.Context(), a, o)
		},
	}
	f := cmd.Flags()
	f.DurationVar(&o.interval, "interval", time.Second, "time between the two samples; 0 judges since-boot totals only")
	f.StringVar(&o.proc, "proc", "/proc", "procfs root (e.g. /host/proc in a container)")
	f.StringVar(&o.sys, "sys", "/sys", "sysfs root (e.g. /host/sys in a container)")
	f.StringVar(&o.netns, "netns", "", "diagnose this named network namespace (/run/netns/NAME)")
	f.StringSliceVar(&o.ifaces, "iface", nil, "limit per-interface checks to these interfaces")
	return cmd
}

func runDiag(ctx context.Context, a *app, o *diagOptions) error {
	if o.interval < 0 {
		return &usageError{fmt.Errorf("invalid --interval %s: must not be negative", o.interval)}
	}
	ctx, cancel := a.withTimeout(ctx)
	defer cancel()
	src, err := collectors.NewSources(o.proc, o.sys, a.logger())
	if err != nil {
		return err
	}
	src.Ifaces = o.ifaces
	rep := report.New("diag", a.tool(), hostInfo(o.netns), a.Now())
	in := &report.Input{Diag: &report.DiagInput{Interval: o.interval}}
	if o.interval > 0 {
		in.Diag.Before = collectors.Take(ctx, src, a.Now)
		select {
		case <-ctx.Done():
		case <-time.After(o.interval):
		}
	}
	in.Diag.After = collectors.Take(ctx, src, a.Now)
	rep.Findings, rep.Checks = report.Evaluate(in)
	return a.emit(ctx, rep)
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
