package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/netdx/netdx/diagnose"

	"github.com/spf13/cobra"

	"github.com/netdx/netdx/probes"
	"github.com/netdx/netdx/report"
)

// defaultReportCount is the number of rounds of --report and of a trace
// whose output is not a terminal, as mtr's -r.
const defaultReportCount = 10

// resolveTimeout caps the forward lookup of HOST.
const resolveTimeout = 5 * time.Second

type traceOptions struct {
	count        int
	interval     time.Duration
	probeTimeout time.Duration
	firstTTL     int
	maxTTL       int
	size         int
	tos          int
	source       string
	iface        string
	noDNS        bool
	ipv4, ipv6   bool
	icmp         bool
	udp, tcp     bool
	paris        bool
	port         int
	report       bool
	unprivileged bool
	plot         string
}

// The probe network and the name lookup; tests replace them.
var (
	openNetwork = probes.Open
	lookupHost  = net.DefaultResolver.LookupNetIP
)

func newTraceCmd(a *app) *cobra.Command {
	o := &traceOptions{}
	cmd := &cobra.Command{
		Use:   "trace HOST",
		Short: "Trace the path to HOST hop by hop and say where loss or latency begins",
		Long: `trace probes every hop of the path to HOST, like mtr: each round sends one probe
per TTL, all at once, and every hop keeps its own loss and round-trip
statistics, per answering address. Then it says in words where loss or
latency really begins, which hops merely rate-limit their ICMP answers (not
packet loss) and which never answer.

Routers limit the ICMP they send (Linux: six answers, then one a second, per
prober address), so a probe they leave unanswered is often no loss at all.
trace paces each hop's probes within its router's rate limit, learns that
limit from the answers, and never counts a rate-limited probe as loss: LOSS%
is the share of the other probes that got no answer, and NOTE marks the
hops that rate-limit. -i forces a fixed interval instead.

On a terminal it shows a live table redrawn every round; press q to stop and
print the report (Ctrl-C stops too, as an interruption). --report, or output
that is not a terminal, runs --count rounds and prints the report; without
-c, when the destination loses probes it goes on (up to 20 s) until it can
place where the loss begins, and says how sure it is.

Probes are ICMP echo by default, or UDP (--udp; --paris keeps one flow so
load balancers keep one path) or TCP SYN (--tcp, --port). Raw sockets need
CAP_NET_RAW; without it netdx uses the unprivileged sockets the kernel allows.`,
		Example: `  netdx trace example.com
  netdx trace --report -c 50 198.51.100.7
  netdx trace --tcp --port 443 --json example.com
  netdx trace --udp --paris -n 2001:db8::1`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTrace(cmd.Context(), a, o, args[0], cmd.Flags().Changed("count"))
		},
	}
	f := cmd.Flags()
	f.IntVarP(&o.count, "count", "c", defaultReportCount, "rounds to send (live view: until q unless given)")
	f.DurationVarP(&o.interval, "interval", "i", 0, "send a round every interval, whatever the hops' ICMP rate limits (default: pace each hop within its limit)")
	f.DurationVar(&o.probeTimeout, "probe-timeout", probes.DefaultTimeout, "how long a probe waits for its answer before it counts as lost (the global --timeout caps the whole run)")
	f.IntVarP(&o.firstTTL, "first-ttl", "f", 1, "first TTL to probe")
	f.IntVarP(&o.maxTTL, "max-ttl", "m", probes.DefaultMaxTTL, "largest TTL to probe")
	f.IntVarP(&o.size, "size", "s", 0, "probe packet size in bytes, IP header included (default 64; ICMP and UDP)")
	f.IntVarP(&o.tos, "tos", "Q", 0, "IPv4 type of service / IPv6 traffic class byte")
	f.StringVarP(&o.source, "source", "a", "", "source address to send from")
	f.StringVarP(&o.iface, "interface", "I", "", "interface to send from")
	f.BoolVarP(&o.noDNS, "no-dns", "n", false, "show addresses only; no reverse DNS")
	f.BoolVarP(&o.ipv4, "ipv4", "4", false, "use IPv4 only")
	f.BoolVarP(&o.ipv6, "ipv6", "6", false, "use IPv6 only")
	f.BoolVar(&o.icmp, "icmp", false, "probe with ICMP echo (the default)")
	f.BoolVarP(&o.udp, "udp", "u", false, "probe with UDP datagrams")
	f.BoolVarP(&o.tcp, "tcp", "T", false, "probe with TCP SYN to --port")
	f.BoolVar(&o.paris, "paris", false, "keep every probe in one flow (UDP: vary the checksum, not the port), so ECMP routers keep one path")
	f.IntVarP(&o.port, "port", "P", 0, "destination port (TCP default 80; UDP --paris default 33434)")
	f.BoolVarP(&o.report, "report", "r", false, "run --count rounds, then print the report (no live view)")
	f.BoolVar(&o.unprivileged, "unprivileged", false, "never use raw sockets, even with CAP_NET_RAW")
	f.StringVar(&o.plot, "plot", "", "when the trace ends, write every probe's round trip and fate per hop as an SVG picture to this file")
	_ = cmd.MarkFlagFilename("plot", "svg")
	return cmd
}

func (o *traceOptions) method() (probes.Method, error) {
	n := 0
	m := probes.ICMP
	for _, c := range []struct {
		on bool
		m  probes.Method
	}{{o.icmp, probes.ICMP}, {o.udp, probes.UDP}, {o.tcp, probes.TCP}} {
		if c.on {
			n++
			m = c.m
		}
	}
	if n > 1 {
		return "", errors.New("choose one of --icmp, --udp and --tcp")
	}
	return m, nil
}

// config checks the flags and builds the probe configuration, without the
// target address.
func (o *traceOptions) config() (probes.Config, error) {
	m, err := o.method()
	if err != nil {
		return probes.Config{}, err
	}
	switch {
	case o.ipv4 && o.ipv6:
		return probes.Config{}, errors.New("choose -4 or -6, not both")
	case o.interval < 0:
		return probes.Config{}, fmt.Errorf("invalid --interval %s: must not be negative", o.interval)
	case o.probeTimeout <= 0:
		return probes.Config{}, fmt.Errorf("invalid --probe-timeout %s: must be positive", o.probeTimeout)
	case o.count < 0:
		return probes.Config{}, fmt.Errorf("invalid --count %d", o.count)
	case o.firstTTL < 1 || o.maxTTL > 255 || o.firstTTL > o.maxTTL:
		return probes.Config{}, fmt.Errorf("invalid TTLs: want 1 <= --first-ttl (%d) <= --max-ttl (%d) <= 255", o.firstTTL, o.maxTTL)
	case o.tos < 0 || o.tos > 255:
		return probes.Config{}, fmt.Errorf("invalid --tos %d: want 0-255", o.tos)
	case o.port < 0 || o.port > 65535:
		return probes.Config{}, fmt.Errorf("invalid --port %d", o.port)
	case o.size != 0 && (o.size < 28 || o.size > 65000):
		return probes.Config{}, fmt.Errorf("invalid --size %d: want 28-65000", o.size)
	}
	cfg := probes.Config{Method: m, Paris: o.paris, Port: o.port, Count: o.count, Interval: o.interval,
		Timeout: o.probeTimeout, FirstTTL: o.firstTTL, MaxTTL: o.maxTTL, Size: o.size, TOS: o.tos, Interface: o.iface}
	if o.source != "" {
		src, err := netip.ParseAddr(o.source)
		if err != nil {
			return probes.Config{}, fmt.Errorf("invalid --source %q: %w", o.source, err)
		}
		cfg.Source = src.Unmap()
	}
	return cfg, nil
}

// resolve turns HOST into an address of the family asked for (or the
// source's), preferring IPv4 like mtr when both exist.
func (o *traceOptions) resolve(ctx context.Context, host string, src netip.Addr) (netip.Addr, error) {
	want4, want6 := o.ipv4 || (src.IsValid() && src.Is4()), o.ipv6 || (src.IsValid() && src.Is6())
	if a, err := netip.ParseAddr(host); err == nil {
		a = a.Unmap()
		if (want4 && !a.Is4()) || (want6 && a.Is4()) {
			return netip.Addr{}, &usageError{fmt.Errorf("%s is not an address of the requested family", host)}
		}
		return a, nil
	}
	network := "ip"
	switch {
	case want4:
		network = "ip4"
	case want6:
		network = "ip6"
	}
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	addrs, err := lookupHost(ctx, network, host)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("cannot resolve %s: %w; check the name, your DNS (/etc/resolv.conf), or give an IP address", host, err)
	}
	for _, a := range addrs {
		if a.Unmap().Is4() {
			return a.Unmap(), nil
		}
	}
	if len(addrs) == 0 {
		return netip.Addr{}, fmt.Errorf("cannot resolve %s: no %s address", host, network)
	}
	return addrs[0], nil
}

// open opens the probe sockets for cfg. When ICMP was only the default and
// needs privilege the caller lacks, it falls back to UDP, which works
// without, and says so in a warning; it adjusts cfg to what was opened.
func (o *traceOptions) open(cfg *probes.Config) (probes.Network, []string, error) {
	var warnings []string
	nw, err := openNetwork(*cfg, probes.OpenOptions{Unprivileged: o.unprivileged})
	var pe *probes.PrivilegeError
	if errors.As(err, &pe) && cfg.Method == probes.ICMP && !o.icmp {
		warnings = append(warnings, fmt.Sprintf("ICMP probes need CAP_NET_RAW or net.ipv4.ping_group_range (%v); traced with UDP instead", pe.Err))
		cfg.Method = probes.UDP
		nw, err = openNetwork(*cfg, probes.OpenOptions{Unprivileged: true})
	}
	if err != nil {
		if errors.As(err, &pe) {
			return nil, nil, &privilegeError{err}
		}
		return nil, nil, fmt.Errorf("open probe sockets: %w", err)
	}
	if cfg.Method == probes.TCP {
		// Raw TCP probes keep one flow (the sequence number tells them
		// apart); unprivileged ones need a socket, so a port, each.
		cfg.Paris = nw.Kind() == probes.KindRaw
	}
	return nw, warnings, nil
}

func runTrace(ctx context.Context, a *app, o *traceOptions, host string, countGiven bool) error {
	ctx, cancel := a.withTimeout(ctx)
	defer cancel()
	started := a.Now()
	cfg, nw, warnings, err := openTrace(ctx, o, host)
	if err != nil {
		return err
	}
	defer nw.Close()
	live := a.OutTTY && !o.report && a.output == "text"
	switch {
	case live && !countGiven:
		cfg.Count = 0
	case !countGiven:
		// Without -c a report goes on until it can place loss to the
		// destination, or says what would.
		cfg.Localise = probes.DefaultLocalise
	}
	tracer, named := o.tracer(nw, a.Now, a.logger())
	var tr *probes.Trace
	interrupted := false
	if live {
		tr, interrupted, err = runLive(ctx, a, tracer, cfg)
	} else {
		var rounds atomic.Int64
		var placing atomic.Bool
		stop := a.startProgress(a.ErrTTY, func(time.Duration) string {
			if placing.Load() {
				return fmt.Sprintf("tracing %s: %d rounds, placing where the loss begins (up to %s)", host, rounds.Load(), cfg.Localise)
			}
			return fmt.Sprintf("tracing %s: %d of %d rounds", host, rounds.Load(), cfg.Count)
		})
		tr, err = tracer.Run(ctx, cfg, func(t *probes.Trace) {
			rounds.Store(int64(t.Rounds))
			placing.Store(t.Localised.Extended)
		})
		stop()
	}
	if err != nil {
		return err
	}
	named(tr)
	var plotErr error
	if o.plot != "" {
		if err := writeSVG(o.plot, hopRTT(tr)); err != nil {
			plotErr = fmt.Errorf("--plot: %w", err)
		}
	}
	if interrupted {
		// Ctrl-C in the live view arrives as a key, not a signal: stop
		// as a signal would, with the partial report and status 130.
		var stop context.CancelFunc
		ctx, stop = context.WithCancel(ctx)
		stop()
	}
	// The trace has run (live, or with its own progress line): the plan
	// hands its result to the report.
	traced := tracedPath(o, tr, warnings)
	traced.Interrupted = ctx.Err() != nil
	plan := diagnose.Plan{Command: "trace", Tool: a.tool(), Host: hostInfo(""), Started: started,
		Paths: []diagnose.Path{{Target: host, Rounds: cfg.Count,
			Trace: func(context.Context, func(int)) diagnose.PathResult { return traced }}}}
	rep, _, err := diagnose.Run(ctx, plan)
	if err != nil {
		return err
	}
	return incomplete(a.emit(ctx, rep), plotErr)
}

// tracePath is the plan's path to host, traced with o's settings.
func (a *app) tracePath(o *traceOptions, host string, now func() time.Time) diagnose.Path {
	return diagnose.Path{Target: host, Rounds: o.count, Trace: func(ctx context.Context, rounds func(int)) diagnose.PathResult {
		cfg, nw, warnings, err := openTrace(ctx, o, host)
		if err == nil {
			defer nw.Close()
			tracer, named := o.tracer(nw, now, a.logger())
			var tr *probes.Trace
			if tr, err = tracer.Run(ctx, cfg, func(t *probes.Trace) { rounds(t.Rounds) }); err == nil {
				named(tr)
				return tracedPath(o, tr, warnings)
			}
		}
		r := diagnose.PathResult{Err: err}
		if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			r.Skips = []report.Skip{privilegeSkip(failedSkip("trace "+host, err))}
		}
		return r
	}}
}

// tracedPath is a finished trace as the plan's result, with what the
// probes could not use.
func tracedPath(o *traceOptions, tr *probes.Trace, warnings []string) diagnose.PathResult {
	r := diagnose.PathResult{Trace: tr, Warnings: warnings}
	if sk, ok := rawSocketsSkip(o, tr); ok {
		r.Skips = append(r.Skips, sk)
	}
	return r
}

// openTrace checks o, resolves host and opens the probe network. ICMP,
// when it was only the default, falls back to UDP if it needs a
// privilege netdx lacks; the warnings say so.
func openTrace(ctx context.Context, o *traceOptions, host string) (probes.Config, probes.Network, []string, error) {
	cfg, err := o.config()
	if err != nil {
		return cfg, nil, nil, &usageError{err}
	}
	cfg.TargetName = host
	if cfg.Target, err = o.resolve(ctx, host, cfg.Source); err != nil {
		return cfg, nil, nil, err
	}
	nw, warnings, err := o.open(&cfg)
	return cfg, nw, warnings, err
}

// tracer builds the tracer for nw; named, called on the finished trace,
// waits briefly for reverse DNS (unless --no-dns) and fills in the names.
func (o *traceOptions) tracer(nw probes.Network, now func() time.Time, log *slog.Logger) (*probes.Tracer, func(*probes.Trace)) {
	t := &probes.Tracer{Net: nw, Now: now, Log: log}
	if o.noDNS {
		return t, func(*probes.Trace) {}
	}
	res := probes.NewResolver()
	t.Names = res.Name
	return t, func(tr *probes.Trace) {
		res.Wait(time.Second)
		tr.FillNames(res.Name)
	}
}
