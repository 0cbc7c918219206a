package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/netdx/netdx/diagnose"
	"github.com/netdx/netdx/drops"
	"github.com/netdx/netdx/render"
	"github.com/netdx/netdx/report"
)

// Defaults of netdx drops: a report over 5 s sees a burst and a steady
// rate alike without making a pipeline wait; the live view refreshes
// every second, like top.
const (
	defaultDropsDuration = 5 * time.Second
	defaultDropsRefresh  = time.Second
)

type dropsOptions struct {
	duration time.Duration
	refresh  time.Duration
	report   bool
	proc     string
	filter   dropFilter
	// live says the run shows the live view; set from the flags and the
	// terminal.
	live bool
	// host names the machine; tests replace it.
	host func(netns string) report.Host
}

func newDropsCmd(a *app) *cobra.Command { return dropsCommand(a, nil) }

// dropsCommand builds `netdx drops`; runF, when set, replaces the run
// function so tests can check flags.
func dropsCommand(a *app, runF func(context.Context, *dropsOptions) error) *cobra.Command {
	o := &dropsOptions{}
	cmd := &cobra.Command{
		Use:   "drops",
		Short: "Show why the kernel drops packets: drop reasons by namespace, interface and socket",
		Long: `drops counts the packets the kernel frees as dropped, by the reason the kernel
gives (enum skb_drop_reason, Linux 5.17+), the network namespace and interface
where they died, their protocol and, at a socket, the socket and its process.
It sees every namespace of the host at once.

On a terminal it shows a live table, most drops per second first, refreshed
every --refresh; q stops it and prints the report of the whole time watched.
With --report, --duration, --json or when the output is not a terminal, it
counts for --duration and prints a report with findings per family of
reasons (socket buffers, listen queues, qdiscs, netfilter rules, ...) and
what to change.

Needs CAP_BPF and CAP_PERFMON (or root) for the full view; with less it falls
back to the classic tracepoint or perf samples, which see reasons but not
namespaces, and says what would enable more. See docs/drops.md.`,
		Example: `  netdx drops
  netdx drops --duration 6s --json
  netdx drops --netns blue --reason socket_buffer
  netdx drops --report --iface eth0 --duration 30s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.live = !o.report && !cmd.Flags().Changed("duration") && a.output == "text" && a.OutTTY
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return runDrops(cmd.Context(), a, o)
		},
	}
	f := cmd.Flags()
	f.DurationVar(&o.duration, "duration", defaultDropsDuration, "count for this long, then print the report")
	f.BoolVar(&o.report, "report", false, "print a report over --duration instead of the live view on a terminal")
	f.DurationVar(&o.refresh, "refresh", defaultDropsRefresh, "how often the live view is redrawn")
	f.StringArrayVar(&o.filter.netns, "netns", nil, "only drops in this namespace: a /run/netns name, host, self, comm[pid], a cookie or an inode (repeatable)")
	f.StringArrayVar(&o.filter.ifaces, "iface", nil, "only drops on this interface (repeatable)")
	f.StringArrayVar(&o.filter.reasons, "reason", nil, "only this reason (NO_SOCKET) or family (socket_buffer) (repeatable)")
	f.StringVar(&o.proc, "proc", "/proc", "procfs root, to name namespaces and sockets' processes (e.g. /host/proc in a container)")
	_ = cmd.RegisterFlagCompletionFunc("reason", cobra.FixedCompletions(diagnose.DropFamilyKeys(), cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func runDrops(ctx context.Context, a *app, o *dropsOptions) error {
	switch {
	case o.duration <= 0:
		return &usageError{fmt.Errorf("invalid --duration %s: must be positive", o.duration)}
	case o.refresh <= 0:
		return &usageError{fmt.Errorf("invalid --refresh %s: must be positive", o.refresh)}
	}
	if err := o.filter.check(); err != nil {
		return err
	}
	ctx, cancel := a.withTimeout(ctx)
	defer cancel()
	started := a.Now()
	src, err := startReasons(ctx, o.proc)
	if err != nil {
		return err
	}
	defer src.Close()
	host := o.host
	if host == nil {
		host = hostInfo
	}
	plan := diagnose.Plan{Command: "drops", Tool: a.tool(), Host: host(""), Started: started,
		Reasons: &diagnose.Reasons{Interval: o.duration, Sleep: wait, Required: true, Filter: o.filter.report()}}
	if !o.filter.empty() {
		plan.Reasons.Keep = o.filter.keep
	}
	if o.live && src.Kind() != drops.KindNone {
		first, last, err := dropsLive(ctx, a, o, src)
		if err != nil {
			return err
		}
		plan.Reasons.Sleep = func(context.Context, time.Duration) {}
		plan.Reasons.Take = func(n int) (drops.Window, error) {
			if n == 0 {
				return first, nil
			}
			return last, nil
		}
	} else {
		plan.Reasons.Take = func(int) (drops.Window, error) { return src.Snapshot() }
		plan.Watch = a.watch(a.ErrTTY, func(_ *diagnose.Progress, elapsed time.Duration) string {
			return fmt.Sprintf("drops: counting %s of %s", elapsed.Truncate(100*time.Millisecond), o.duration)
		})
	}
	rep, failures, err := diagnose.Run(ctx, plan)
	if err != nil {
		return err
	}
	return a.finish(ctx, rep, failures)
}

// dropsLive shows the live table until q, Ctrl-C or --timeout, and
// returns the first and last snapshots: the report's window.
func dropsLive(ctx context.Context, a *app, o *dropsOptions, src reasonSource) (first, last drops.Window, err error) {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	if f, ok := a.In.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		if old, err := term.MakeRaw(int(f.Fd())); err == nil {
			defer term.Restore(int(f.Fd()), old)
		}
	}
	keys := make(chan byte, 1)
	go readKeys(a.In, keys)
	if first, err = src.Snapshot(); err != nil {
		return first, first, err
	}
	view := render.Text{R: lipgloss.NewRenderer(a.Out), Styled: a.styled(), Width: a.Width}
	height := 0
	if f, ok := a.Out.(*os.File); ok {
		_, height, _ = term.GetSize(int(f.Fd()))
	}
	prev := first
	draw := func(cur drops.Window) {
		var b bytes.Buffer
		b.WriteString(clearScreen)
		_ = view.DropsLive(&b, liveFrame(cur, prev, first, o), height)
		b.WriteString("\nq: stop and print the report\n")
		// Raw mode turns off output processing: lines need \r\n.
		_, _ = io.WriteString(a.Out, strings.ReplaceAll(b.String(), "\n", "\r\n"))
	}
	draw(first)
	tick := time.NewTicker(o.refresh)
	defer tick.Stop()
	var interrupted bool
	for {
		select {
		case <-ctx.Done():
		case k := <-keys:
			switch k {
			case 'q', 'Q':
				stop()
			case keyCtrlC:
				interrupted = true
				stop()
			}
			continue
		case <-tick.C:
			cur, err := src.Snapshot()
			if err != nil {
				return first, prev, err
			}
			draw(cur)
			prev = cur
			continue
		}
		break
	}
	_, _ = io.WriteString(a.Out, clearScreen)
	if interrupted {
		return first, prev, errInterrupted
	}
	last, err = src.Snapshot()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return first, last, err
}

// liveFrame is one frame of the live view: every place's drops since
// the view started (Count) and its rate over the last refresh, most per
// second first.
func liveFrame(cur, prev, first drops.Window, o *dropsOptions) *report.Drops {
	total := cur.Sub(first)
	recent := cur.Sub(prev)
	keep := func(w drops.Window) drops.Window {
		if o.filter.empty() {
			return w
		}
		kept := w.Drops[:0:0]
		for i := range w.Drops {
			if o.filter.keep(&w.Drops[i]) {
				kept = append(kept, w.Drops[i])
			}
		}
		w.Drops = kept
		return w
	}
	d := report.NewDrops(keep(total))
	d.Entries = render.AggregateDrops(d.Entries)
	rates := map[string]float64{}
	for _, e := range render.AggregateDrops(report.NewDrops(keep(recent)).Entries) {
		rates[render.DropPlace(e)] = e.RatePerSec
	}
	for i := range d.Entries {
		d.Entries[i].RatePerSec = rates[render.DropPlace(d.Entries[i])]
	}
	d.Filter = o.filter.report()
	return d
}
