package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/netdx/netdx/diagnose"

	"github.com/spf13/cobra"

	"github.com/netdx/netdx/capture"
	"github.com/netdx/netdx/capture/decode"
)

// listFlows is how many flows a capture's report lists, worst first:
// the --flows default, and what diag --pcap lists.
const listFlows = 20

type pcapOptions struct {
	vxlanPorts, genevePorts, wgPorts, espPorts []string
	hosts, ports, flows                        []string
	maxFlows                                   int
	list                                       int
	progress                                   string
	plot                                       string
	plotFlows                                  int
	plotTime                                   string
	// plotFrom and plotTo are --plot-time read (plotTo 0: to the end).
	plotFrom, plotTo time.Duration
}

func newPcapCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "pcap", Short: "Work with packet captures"}
	o := &pcapOptions{}
	analyze := &cobra.Command{
		Use:   "analyze FILE...",
		Short: "Tell retransmission, reordering and loss apart in captures, through tunnels",
		Long: `analyze reads pcap and pcapng files (gzip-compressed too; - reads stdin) in one
pass and measures every TCP flow inside its encapsulation (VLAN, QinQ, MPLS,
GRE, VXLAN, Geneve, IP in IP) and every tunnel's own sequence (WireGuard
counters, ESP and GRE sequence numbers):

  retransmissions, split into timeout, fast and spurious (proven by an ACK,
  a D-SACK or the original arriving late);
  reordering, kept apart from retransmission on evidence (TCP timestamps,
  IPv4 IDs, timing against the round trip), with RFC 4737 and RFC 5236
  metrics;
  loss before the capture point, apart from what the capture itself missed
  and from capture duplicates.

Findings say where reordering happens around tunnels, name size-ordered
batching and path-MTU black holes, and give the commands that fix them.
Exit status: 0 clean, 1 findings at --fail-on, 3 unreadable or damaged input.`,
		Example: `  netdx pcap analyze trace.pcapng
  netdx pcap analyze --json --flows 0 a.pcap.gz b.pcap
  tcpdump -i eth0 -s 128 -w - | netdx pcap analyze -
  netdx pcap analyze --vxlan-port 9999 --host 10.0.0.5 tunnel.pcap`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPcap(cmd.Context(), a, o, args)
		},
	}
	f := analyze.Flags()
	f.StringSliceVar(&o.vxlanPorts, "vxlan-port", nil, "also decode VXLAN on this UDP port (defaults: 4789, 8472, 4790 for VXLAN-GPE)")
	f.StringSliceVar(&o.genevePorts, "geneve-port", nil, "also decode Geneve on this UDP port (default: 6081)")
	f.StringSliceVar(&o.wgPorts, "wireguard-port", nil, "also read WireGuard on this UDP port (default: 51820)")
	f.StringSliceVar(&o.espPorts, "esp-port", nil, "also read ESP in UDP on this port (default: 4500)")
	f.StringSliceVar(&o.hosts, "host", nil, "keep packets with this address, inner or outer (repeatable)")
	f.StringSliceVar(&o.ports, "port", nil, "keep packets with this TCP or UDP port (repeatable)")
	f.StringSliceVar(&o.flows, "flow", nil, "keep one flow, either direction: ADDR:PORT-ADDR:PORT, IPv6 in brackets (repeatable)")
	f.IntVar(&o.maxFlows, "max-flows", capture.DefaultMaxFlows, "flow table size; the idlest flows are evicted beyond it (their counts stay in the totals)")
	f.IntVar(&o.list, "flows", listFlows, "list this many flows, worst first, in text and JSON (0: all)")
	f.StringVar(&o.progress, "progress", "auto", "progress bar on stderr: auto (on a terminal, once a file takes more than a second), always or never")
	f.StringVar(&o.plot, "plot", "", "write a time-sequence graph (SVG) per direction with data of the worst flows, or of the --flow ones, into this directory")
	f.IntVar(&o.plotFlows, "plot-flows", 3, "with --plot: how many of the worst TCP flows to draw, in the report's order")
	f.StringVar(&o.plotTime, "plot-time", "", "with --plot: zoom every graph to FROM:TO after its flow's first packet (Go durations, e.g. 1.5s:2s; either side may be empty)")
	_ = analyze.MarkFlagDirname("plot")
	_ = analyze.RegisterFlagCompletionFunc("progress", cobra.FixedCompletions([]string{"auto", "always", "never"}, cobra.ShellCompDirectiveNoFileComp))
	cmd.AddCommand(analyze)
	return cmd
}

// parsePorts reads UDP port flags, added to the defaults.
func parsePorts(flag string, vals []string, defaults ...uint16) ([]uint16, error) {
	out := append([]uint16(nil), defaults...)
	for _, v := range vals {
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 16)
		if err != nil || n == 0 {
			return nil, &usageError{fmt.Errorf("invalid --%s %q: want a port from 1 to 65535", flag, v)}
		}
		out = append(out, uint16(n))
	}
	return out, nil
}

// captureDefaults are the engine options of pcap analyze without flags,
// and of the captures diag --pcap merges.
func captureDefaults() capture.Options {
	return capture.Options{
		VXLANPorts:     []uint16{decode.PortVXLAN, decode.PortVXLANLinux, decode.PortVXLANGPE},
		GenevePorts:    []uint16{decode.PortGeneve},
		WireGuardPorts: []uint16{decode.PortWireGuard},
		ESPPorts:       []uint16{decode.PortESPInUDP},
		MaxFlows:       capture.DefaultMaxFlows,
		ListFlows:      max(listFlows, capture.DefaultListFlows),
	}
}

func (o *pcapOptions) engine() (capture.Options, error) {
	co := captureDefaults()
	var err error
	for _, p := range []struct {
		flag string
		vals []string
		dst  *[]uint16
	}{{"vxlan-port", o.vxlanPorts, &co.VXLANPorts}, {"geneve-port", o.genevePorts, &co.GenevePorts},
		{"wireguard-port", o.wgPorts, &co.WireGuardPorts}, {"esp-port", o.espPorts, &co.ESPPorts}} {
		if *p.dst, err = parsePorts(p.flag, p.vals, *p.dst...); err != nil {
			return co, err
		}
	}
	for _, h := range o.hosts {
		ad, err := netip.ParseAddr(strings.TrimSpace(h))
		if err != nil {
			return co, &usageError{fmt.Errorf("invalid --host %q: want an IPv4 or IPv6 address", h)}
		}
		co.Filter.Hosts = append(co.Filter.Hosts, ad.Unmap())
	}
	if co.Filter.Ports, err = parsePorts("port", o.ports); err != nil {
		return co, err
	}
	for _, fl := range o.flows {
		spec, err := parseFlow(fl)
		if err != nil {
			return co, &usageError{err}
		}
		co.Filter.Flows = append(co.Filter.Flows, spec)
	}
	if o.maxFlows < 1 {
		return co, &usageError{fmt.Errorf("invalid --max-flows %d: want at least 1", o.maxFlows)}
	}
	if o.list < 0 {
		return co, &usageError{fmt.Errorf("invalid --flows %d: want 0 (all) or more", o.list)}
	}
	switch o.progress {
	case "auto", "always", "never":
	default:
		return co, &usageError{fmt.Errorf("invalid --progress %q: want auto, always or never", o.progress)}
	}
	co.MaxFlows = o.maxFlows
	// The rules judge the flows the engine keeps: keep at least the
	// default number whatever --flows lists; --flows 0 keeps them all.
	co.ListFlows = max(o.list, capture.DefaultListFlows)
	if o.list == 0 {
		co.ListFlows = math.MaxInt
	}
	return co, nil
}

// parseFlow reads "A:P-B:P"; IPv6 addresses go in brackets.
func parseFlow(s string) (capture.FlowSpec, error) {
	s = strings.TrimSpace(s)
	bad := fmt.Errorf("invalid --flow %q: want ADDR:PORT-ADDR:PORT, e.g. 10.0.0.1:40000-10.0.0.2:443 or [2001:db8::1]:40000-[2001:db8::2]:443", s)
	for i := range len(s) {
		if s[i] != '-' {
			continue
		}
		a, errA := netip.ParseAddrPort(s[:i])
		b, errB := netip.ParseAddrPort(s[i+1:])
		if errA == nil && errB == nil {
			return capture.FlowSpec{A: netip.AddrPortFrom(a.Addr().Unmap(), a.Port()), B: netip.AddrPortFrom(b.Addr().Unmap(), b.Port())}, nil
		}
	}
	return capture.FlowSpec{}, bad
}

func runPcap(ctx context.Context, a *app, o *pcapOptions, files []string) error {
	deferGC()
	opts, err := o.engine()
	if err != nil {
		return err
	}
	stdin := 0
	for _, f := range files {
		if f == "-" {
			stdin++
		}
	}
	if stdin > 1 {
		return &usageError{errors.New("- (stdin) can be given only once")}
	}
	if o.plot != "" && stdin > 0 {
		return &usageError{errPlotStdin}
	}
	if o.plotFlows < 1 {
		return &usageError{fmt.Errorf("invalid --plot-flows %d: want at least 1", o.plotFlows)}
	}
	if err := o.parsePlotTime(); err != nil {
		return err
	}
	ctx, cancel := a.withTimeout(ctx)
	defer cancel()
	plan := diagnose.Plan{Command: "pcap analyze", Tool: a.tool(), Host: hostInfo(""), Started: a.Now()}
	for _, name := range files {
		plan.Captures = append(plan.Captures, a.captureFile(name, opts, o.list))
	}
	// A progress bar for the file being read: on a terminal once a file
	// takes more than a second (--progress auto), or always.
	began := map[*diagnose.CaptureProgress]time.Time{}
	plan.Watch = a.watch(o.progress == "always" || o.progress == "auto" && a.ErrTTY, func(p *diagnose.Progress, _ time.Duration) string {
		for _, c := range p.Captures {
			if c.State.Load() != diagnose.CaptureReading {
				continue
			}
			if began[c].IsZero() {
				began[c] = time.Now()
			}
			return progressLine(c.Name, c.Read.Load(), c.Size.Load(), time.Since(began[c]))
		}
		return ""
	})
	rep, failures, err := diagnose.Run(ctx, plan)
	if err != nil {
		return err
	}
	if o.plot != "" {
		written, err := a.plotPcap(ctx, o, opts, files, rep)
		for _, p := range written {
			fmt.Fprintln(a.Err, "netdx: wrote "+p)
		}
		if err != nil {
			failures.Inputs = append(failures.Inputs, err)
		}
	}
	return a.finish(ctx, rep, failures)
}

// captureFile is the plan's capture of name ("-" for stdin).
func (a *app) captureFile(name string, opts capture.Options, list int) diagnose.Capture {
	return diagnose.Capture{Name: displayName(name), Options: opts, List: list,
		Open: func() (io.Reader, int64, func(), error) { return a.openCapture(name) }}
}

func displayName(name string) string {
	if name == "-" {
		return "stdin"
	}
	return name
}

// openCapture opens one input ("-" for stdin) and returns it with its size
// (-1 when unknown) and the function that closes it.
func (a *app) openCapture(name string) (io.Reader, int64, func(), error) {
	if name == "-" {
		return a.In, -1, func() {}, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("%s: %w", name, err)
	}
	var size int64 = -1
	if st, err := f.Stat(); err == nil {
		if st.IsDir() {
			f.Close()
			return nil, 0, nil, fmt.Errorf("%s: is a directory, not a capture file", name)
		}
		if st.Mode().IsRegular() {
			size = st.Size()
		}
	}
	return f, size, func() { f.Close() }, nil
}

// progressLine renders "name [#####.....]  45%  1.2/2.6 MiB  850 MiB/s".
func progressLine(name string, n, size int64, elapsed time.Duration) string {
	rate := ""
	if s := elapsed.Seconds(); s > 0 {
		rate = fmt.Sprintf("  %.0f MiB/s", float64(n)/(1<<20)/s)
	}
	if size <= 0 {
		return fmt.Sprintf("%s  %.1f MiB read%s", name, float64(n)/(1<<20), rate)
	}
	const width = 30
	frac := min(float64(n)/float64(size), 1)
	filled := int(frac * width)
	return fmt.Sprintf("%s [%s%s] %3.0f%%  %.1f/%.1f MiB%s", name, strings.Repeat("#", filled),
		strings.Repeat(".", width-filled), frac*100, float64(n)/(1<<20), float64(size)/(1<<20), rate)
}
