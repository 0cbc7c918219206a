package cli

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/netdx/netdx/diagnose"

	"github.com/spf13/cobra"

	"github.com/netdx/netdx/collectors"
	"github.com/netdx/netdx/drops"
	"github.com/netdx/netdx/internal/promtext"
	"github.com/netdx/netdx/probes"
	"github.com/netdx/netdx/render/metrics"
	"github.com/netdx/netdx/report"
)

// Defaults of netdx serve. 9469 is free in Prometheus's list of exporter
// ports; 15 s is Prometheus's usual scrape interval, so every scrape sees a
// fresh window; a trace a minute keeps probe traffic to a few packets per
// second per target.
const (
	defaultListen        = "127.0.0.1:9469"
	defaultServeInterval = 15 * time.Second
	defaultTraceInterval = time.Minute
	// shutdownTimeout bounds how long in-flight scrapes may take to finish
	// after SIGTERM.
	shutdownTimeout = 5 * time.Second
	// readHeaderTimeout bounds how long a client may take to send its
	// request headers.
	readHeaderTimeout = 10 * time.Second
)

type serveOptions struct {
	listen        string
	interval      time.Duration
	proc, sys     string
	netns         string
	ifaces        []string
	traces        []string
	traceInterval time.Duration
	traceCount    int
	// noReasons skips the kernel's drop reasons.
	noReasons bool
	// Tests replace these: open returns the sources of host sample n (to
	// replay recorded hosts); ready learns the address served.
	open  func(n int) (*collectors.Sources, error)
	ready func(net.Addr)
}

func newServeCmd(a *app) *cobra.Command { return serveCommand(a, nil) }

// serveCommand builds `netdx serve`; prepare, when set, adjusts the options
// before the run (tests inject sources and learn the address).
func serveCommand(a *app, prepare func(*serveOptions)) *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Export the host's counters, findings and path traces to Prometheus",
		Long: `serve samples the host's counters every --interval, judges every window with
the same rules as netdx diag, and serves the counters, settings and current
findings as Prometheus metrics on /metrics. With --trace HOST (repeatable) it
also traces each path every --trace-interval and exports per-hop loss and
latency and the path findings.

A finding is exported as netdx_finding{id,severity,subject} while it stands
and disappears once the next window no longer shows it. docs/prometheus.md
lists every metric; docs/prometheus/alerts.yml holds alerting rules with the
rules' own thresholds. SIGTERM or Ctrl-C stops it cleanly (exit status 0).`,
		Example: `  netdx serve
  netdx serve --listen :9469 --interval 30s
  netdx serve --trace 192.0.2.10 --trace gw.example.net --trace-interval 2m
  netdx serve --proc /host/proc --sys /host/sys`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if prepare != nil {
				prepare(o)
			}
			return runServe(cmd.Context(), a, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", defaultListen, "address to serve /metrics on (host:port; :9469 for every address)")
	f.DurationVar(&o.interval, "interval", defaultServeInterval, "time between host samples: the window every finding is judged over")
	f.StringVar(&o.proc, "proc", "/proc", "procfs root (e.g. /host/proc in a container)")
	f.StringVar(&o.sys, "sys", "/sys", "sysfs root (e.g. /host/sys in a container)")
	f.StringVar(&o.netns, "netns", "", "sample this network namespace: a name under /run/netns, or a path such as /proc/PID/ns/net")
	f.StringSliceVar(&o.ifaces, "iface", nil, "limit per-interface metrics and checks to these interfaces (repeat or comma-separate)")
	f.StringArrayVar(&o.traces, "trace", nil, "trace the path to HOST periodically (repeatable)")
	f.DurationVar(&o.traceInterval, "trace-interval", defaultTraceInterval, "time between traces of each --trace target")
	f.IntVar(&o.traceCount, "trace-count", defaultReportCount, "rounds (probes per hop) of each trace")
	f.BoolVar(&o.noReasons, "no-drop-reasons", false, "do not count the kernel's drop reasons (counted when privileged: netdx_drops_total)")
	return cmd
}

func runServe(ctx context.Context, a *app, o *serveOptions) error {
	switch {
	case o.interval <= 0:
		return &usageError{fmt.Errorf("invalid --interval %s: must be positive", o.interval)}
	case o.traceInterval <= 0:
		return &usageError{fmt.Errorf("invalid --trace-interval %s: must be positive", o.traceInterval)}
	case o.traceCount < 1:
		return &usageError{fmt.Errorf("invalid --trace-count %d: must be at least 1", o.traceCount)}
	}
	targets := uniq(o.traces)
	topt := &traceOptions{count: o.traceCount, probeTimeout: probes.DefaultTimeout,
		firstTTL: 1, maxTTL: probes.DefaultMaxTTL, noDNS: true}
	if _, err := topt.config(); err != nil {
		return &usageError{err}
	}
	log := a.logger()
	open := o.open
	if open == nil {
		src, err := collectors.Open(collectors.Options{Proc: o.proc, Sys: o.sys, NetNS: o.netns, Ifaces: o.ifaces, Log: log})
		if errors.Is(err, collectors.ErrNoNetNS) {
			return &usageError{fmt.Errorf("--netns: %w", err)}
		}
		if err != nil {
			return err
		}
		defer src.Close()
		open = func(int) (*collectors.Sources, error) { return src, nil }
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("cannot serve on --listen %s: %w", o.listen, err)
	}
	ctx, cancel := a.withTimeout(ctx)
	defer cancel()

	exp := metrics.NewExporter(targets...)
	s := &server{a: a, o: o, exp: exp, host: hostInfo(o.netns), traces: map[string]*probes.Trace{}, traceSkips: map[string]report.Skip{}}
	if o.open == nil && !o.noReasons {
		if s.reasonsNetns, err = netnsInode(o.netns); err != nil {
			return &usageError{fmt.Errorf("--netns: %w", err)}
		}
		if s.reasons, err = startReasons(ctx, o.proc); err != nil {
			return err
		}
		defer s.reasons.Close()
	}
	srv := &http.Server{Handler: s.handler(log, targets), ReadHeaderTimeout: readHeaderTimeout,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}

	var wg sync.WaitGroup
	serveErr := make(chan error, 1)
	wg.Go(func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			serveErr <- err
		}
	})
	log.Info("serving metrics", "address", ln.Addr().String(), "interval", o.interval, "traces", targets)
	if o.ready != nil {
		o.ready(ln.Addr())
	}
	wg.Go(func() { s.sampleHost(ctx, open, log) })
	for _, t := range targets {
		wg.Go(func() { s.traceLoop(ctx, topt, t, log) })
	}

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case runErr = <-serveErr:
		runErr = fmt.Errorf("serve on %s: %w", ln.Addr(), runErr)
		cancel()
	}
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("shutdown", "err", err)
	}
	wg.Wait()
	return runErr
}

// uniq drops repeated targets, keeping the order given.
func uniq(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// server holds serve's state: the latest host window, the latest trace of
// every target, and the exporter the report is published to.
type server struct {
	a    *app
	o    *serveOptions
	exp  *metrics.Exporter
	host report.Host

	mu sync.Mutex
	// first is the first host sample, exported (counters only) until the
	// first window completes; window is the latest pair of samples.
	first      *collectors.Snapshot
	window     *collectors.Window
	warnings   []string
	traces     map[string]*probes.Trace
	traceSkips map[string]report.Skip
	// reasons counts drop reasons; drops holds its snapshots taken with
	// the host's last two samples.
	reasons      reasonSource
	reasonsNetns uint32
	drops        [2]*drops.Window
}

// sampleHost takes a host sample every interval and publishes a report
// judged over each window between two samples.
func (s *server) sampleHost(ctx context.Context, open func(int) (*collectors.Sources, error), log *slog.Logger) {
	take := func(n int) *collectors.Snapshot {
		src, err := open(n)
		if err != nil {
			log.Warn("host sources", "err", err)
			return nil
		}
		start := time.Now()
		snap := collectors.Take(ctx, src, s.a.Now)
		s.exp.ObserveSample(snap, time.Since(start))
		s.mu.Lock()
		s.warnings = src.Warnings
		s.mu.Unlock()
		s.sampleReasons(log)
		return snap
	}
	prev := take(0)
	s.mu.Lock()
	s.first = prev
	s.mu.Unlock()
	s.publish()
	t := time.NewTicker(s.o.interval)
	defer t.Stop()
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cur := take(n)
		if cur == nil || ctx.Err() != nil {
			continue
		}
		if prev != nil {
			s.mu.Lock()
			s.window = collectors.NewWindow(prev, cur, s.o.interval)
			s.mu.Unlock()
			s.publish()
		}
		prev = cur
	}
}

// sampleReasons snapshots the drop reasons with a host sample and hands
// the cumulative counts to the exporter.
func (s *server) sampleReasons(log *slog.Logger) {
	if s.reasons == nil {
		return
	}
	w, err := s.reasons.Snapshot()
	if err != nil {
		log.Warn("drop reasons", "err", err)
		return
	}
	s.exp.ObserveDrops(w)
	s.mu.Lock()
	s.drops[0], s.drops[1] = s.drops[1], &w
	s.mu.Unlock()
}

// traceLoop traces target now and then every --trace-interval.
func (s *server) traceLoop(ctx context.Context, topt *traceOptions, target string, log *slog.Logger) {
	t := time.NewTicker(s.o.traceInterval)
	defer t.Stop()
	for {
		start := time.Now()
		tr, err := s.trace(ctx, topt, target)
		if ctx.Err() != nil {
			return
		}
		s.exp.ObserveTrace(target, time.Since(start), s.a.Now(), err)
		s.mu.Lock()
		if err != nil {
			log.Warn("trace failed", "target", target, "err", err)
			delete(s.traces, target)
			s.traceSkips[target] = failedSkip("trace "+target, err)
		} else {
			s.traces[target] = tr
			delete(s.traceSkips, target)
		}
		s.mu.Unlock()
		s.publish()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// trace runs one trace of target, resolving it anew each time.
func (s *server) trace(ctx context.Context, topt *traceOptions, target string) (*probes.Trace, error) {
	cfg, err := topt.config()
	if err != nil {
		return nil, err
	}
	cfg.TargetName = target
	if cfg.Target, err = topt.resolve(ctx, target, cfg.Source); err != nil {
		return nil, err
	}
	nw, _, err := topt.open(&cfg)
	if err != nil {
		return nil, err
	}
	defer nw.Close()
	tracer := &probes.Tracer{Net: nw, Now: s.a.Now}
	return tracer.Run(ctx, cfg, nil)
}

// publish judges the latest host window and traces and hands the report
// to the exporter, replacing the previous one whole. Before the first
// window the first sample's counters are exported; nothing is judged
// since boot.
func (s *server) publish() {
	s.mu.Lock()
	defer s.mu.Unlock()
	plan := diagnose.Plan{Command: "serve", Tool: s.a.tool(), Host: s.host, Started: s.a.Now()}
	switch {
	case s.window != nil:
		w := s.window
		plan.Started = w.Before.Taken
		plan.Sample = s.sampled(w.Before, w.After, w.Interval)
		if d := s.drops; d[0] != nil && d[1] != nil {
			plan.Reasons = &diagnose.Reasons{Netns: s.reasonsNetns,
				Take: func(n int) (drops.Window, error) { return *d[n], nil }}
		}
	case s.first != nil:
		plan.Started = s.first.Taken
		plan.Sample = s.sampled(nil, s.first, 0)
	}
	targets := make([]string, 0, len(s.traces)+len(s.traceSkips))
	for t := range s.traces {
		targets = append(targets, t)
	}
	for t := range s.traceSkips {
		targets = append(targets, t)
	}
	sort.Strings(targets)
	for _, t := range targets {
		r := diagnose.PathResult{Trace: s.traces[t]}
		if sk, failed := s.traceSkips[t]; failed {
			r.Skips, r.Err = []report.Skip{sk}, errors.New(sk.Message)
		}
		plan.Paths = append(plan.Paths, diagnose.Path{Target: t,
			Trace: func(context.Context, func(int)) diagnose.PathResult { return r }})
	}
	rep, _, err := diagnose.Run(context.Background(), plan)
	if err != nil { // the samples are taken already: Take cannot fail
		s.a.logger().Warn("publish", "err", err)
		return
	}
	rep.EndedAt = s.a.Now()
	s.exp.Publish(rep, s.window != nil || len(s.traces) > 0)
}

// sampled is the plan's host: samples already taken.
func (s *server) sampled(before, after *collectors.Snapshot, interval time.Duration) *diagnose.Sampling {
	return &diagnose.Sampling{Interval: interval, NoSinceBoot: true, Sleep: func(context.Context, time.Duration) {},
		Take: func(_ context.Context, n int) (*collectors.Snapshot, []string, error) {
			if n == 0 {
				return before, nil, nil
			}
			return after, s.warnings, nil
		}}
}

// handler serves /metrics (the latest report, netdx's health, and the Go
// runtime's and the process's families), a health check, a readiness
// check (ready once the first host sample is published) and a small index
// page.
func (s *server) handler(log *slog.Logger, targets []string) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promtext.Handler(log, s.exp.Collect, promtext.Go, promtext.Process))
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "netdx is healthy.")
	})
	mux.HandleFunc("/-/ready", func(w http.ResponseWriter, _ *http.Request) {
		if s.exp.Report() == nil {
			http.Error(w, "netdx has not sampled the host yet.", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "netdx is ready.")
	})
	page := indexPage()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		err := page.Execute(w, map[string]any{"Version": readBuild().version, "Interval": s.o.interval,
			"Traces": strings.Join(targets, ", "), "TraceInterval": s.o.traceInterval})
		if err != nil {
			log.Warn("index page", "err", err)
		}
	})
	return mux
}

// indexPage is parsed when serve builds its handlers, not in every netdx
// process.
var indexPage = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("index").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>netdx</title></head>
<body>
<h1>netdx</h1>
<p>Finds out why this host or a network path drops packets or adds latency. Version {{.Version}}.</p>
<p>The host is sampled every {{.Interval}}; every window is judged with the rules of <code>netdx diag</code>.
{{if .Traces}}Traced every {{.TraceInterval}}: {{.Traces}}.{{else}}No paths are traced (<code>--trace HOST</code>).{{end}}</p>
<ul>
<li><a href="metrics">/metrics</a>: counters, settings, findings (<code>netdx_finding</code>) and traces</li>
<li><a href="-/healthy">/-/healthy</a> and <a href="-/ready">/-/ready</a></li>
<li><a href="https://github.com/netdx/netdx/blob/main/docs/prometheus.md">the metrics and alerting rules</a></li>
</ul>
</body></html>
`))
})
