package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/netdx/netdx/render"
	"github.com/netdx/netdx/report"
)

// app holds what every command shares: the streams, the clock and the
// global flags. Tests build one over buffers.
type app struct {
	In             io.Reader
	Out, Err       io.Writer
	OutTTY, ErrTTY bool
	// Width is the terminal width, 0 when not a terminal.
	Width  int
	Now    func() time.Time
	Getenv func(string) string

	output  string
	json    bool
	failOn  string
	verbose int
	timeout time.Duration
}

func newApp() *app {
	a := &app{In: os.Stdin, Out: os.Stdout, Err: os.Stderr, Now: time.Now, Getenv: os.Getenv}
	a.OutTTY = term.IsTerminal(int(os.Stdout.Fd()))
	a.ErrTTY = term.IsTerminal(int(os.Stderr.Fd()))
	if a.OutTTY {
		a.Width, _, _ = term.GetSize(int(os.Stdout.Fd()))
	}
	return a
}

// run executes the command line and returns the exit status.
func run(a *app) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd(a)
	err := stoppedBy(ctx, root.ExecuteContext(ctx))
	reportError(a.Err, err)
	return exitStatus(err)
}

// stoppedBy turns the error of a run the signal context stopped into
// errInterrupted; usage errors stay usage errors.
func stoppedBy(ctx context.Context, err error) error {
	if err != nil && !isUsage(err) && ctx.Err() != nil {
		return errInterrupted
	}
	return err
}

// isUsage reports whether err is one of cobra's own argument errors, which
// it returns unwrapped (unknown command, wrong number of arguments).
func isUsage(err error) bool {
	var ue *usageError
	return errors.As(err, &ue)
}

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "netdx",
		Short: "Find out why a Linux host or a network path drops packets or adds latency",
		Long: `netdx reads a host's drop counters and settings, traces network paths hop by
hop, and analyses packet captures, then says what is wrong and what to change.

Every command prints one report: text on a terminal, or with --json a
versioned document (docs/json.md). Exit statuses: 0 nothing at --fail-on,
1 findings at --fail-on, 2 usage, 3 error or incomplete input, 4 not enough
privilege for any result, 130 interrupted ('netdx help exit-codes').
Shell completion: 'netdx completion bash|zsh|fish --help'.`,
		Version:           versionText(),
		SilenceErrors:     true,
		SilenceUsage:      true,
		DisableAutoGenTag: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return a.checkGlobalFlags(cmd)
		},
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetIn(a.In)
	root.SetOut(a.Out)
	root.SetErr(a.Err)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })

	f := root.PersistentFlags()
	f.StringVarP(&a.output, "output", "o", "text", "output format: text, json or prometheus")
	f.BoolVar(&a.json, "json", false, "shorthand for --output json")
	f.StringVar(&a.failOn, "fail-on", "critical", "exit 1 when a finding is at or above this severity: info, warning, critical or none")
	f.CountVarP(&a.verbose, "verbose", "v", "log more to stderr (-v info, -vv debug)")
	f.DurationVar(&a.timeout, "timeout", 0, "stop after this long and print the partial report (0: no limit)")
	// --format is another name for --output (`netdx diag --format prometheus`).
	root.SetGlobalNormalizationFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		if name == "format" {
			name = "output"
		}
		return pflag.NormalizedName(name)
	})
	_ = root.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"text", "json", "prometheus"}, cobra.ShellCompDirectiveNoFileComp))
	_ = root.RegisterFlagCompletionFunc("fail-on", cobra.FixedCompletions([]string{"info", "warning", "critical", "none"}, cobra.ShellCompDirectiveNoFileComp))

	root.AddCommand(newDiagCmd(a), newTraceCmd(a), newPcapCmd(a), newDropsCmd(a), newExplainCmd(a), newServeCmd(a))
	// A command without Run is a help topic: `netdx help exit-codes`.
	root.AddCommand(&cobra.Command{Use: "exit-codes", Short: "Exit statuses of every netdx command", Long: exitCodesHelp})
	// cobra returns argument errors unwrapped; mark them as usage errors.
	for _, c := range root.Commands() {
		wrapArgs(c)
	}
	return root
}

// wrapArgs makes argument-count errors usage errors, recursively.
func wrapArgs(c *cobra.Command) {
	if args := c.Args; args != nil {
		c.Args = func(cmd *cobra.Command, a []string) error {
			if err := args(cmd, a); err != nil {
				return &usageError{err}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		wrapArgs(sub)
	}
}

func (a *app) checkGlobalFlags(cmd *cobra.Command) error {
	if a.json {
		a.output = "json"
	}
	switch a.output {
	case "text", "json", "prometheus":
	default:
		return &usageError{fmt.Errorf("invalid --output %q: want text, json or prometheus", a.output)}
	}
	if a.output == "prometheus" && !prometheusCommands[cmd.CommandPath()] {
		return &usageError{fmt.Errorf("--output prometheus is for `netdx diag` (and `netdx serve`, which always serves it); `%s` writes text or json", cmd.CommandPath())}
	}
	if a.failOn != "none" {
		if _, err := report.ParseSeverity(a.failOn); err != nil {
			return &usageError{fmt.Errorf("invalid --fail-on: %w", err)}
		}
	}
	return nil
}

// logger writes to stderr at the level -v asks for; Warn by default.
func (a *app) logger() *slog.Logger {
	level := slog.LevelWarn
	switch {
	case a.verbose >= 2:
		level = slog.LevelDebug
	case a.verbose == 1:
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(a.Err, &slog.HandlerOptions{Level: level}))
}

// styled reports whether text output gets colour and borders: only on a
// terminal, unless NO_COLOR or TERM=dumb say otherwise; CLICOLOR_FORCE
// forces it.
func (a *app) styled() bool {
	if f := a.Getenv("CLICOLOR_FORCE"); f != "" && f != "0" {
		return true
	}
	return a.OutTTY && a.Getenv("NO_COLOR") == "" && a.Getenv("TERM") != "dumb"
}

// prometheusCommands are the commands that accept --output prometheus.
var prometheusCommands = map[string]bool{"netdx diag": true, "netdx serve": true}

func (a *app) renderer() render.Renderer {
	switch a.output {
	case "json":
		return render.JSON{}
	case "prometheus":
		return render.Prometheus{}
	}
	return a.text()
}

// text is the text renderer for standard output.
func (a *app) text() render.Text {
	return render.Text{R: lipgloss.NewRenderer(a.Out), Styled: a.styled(), Width: a.Width}
}

// withTimeout applies --timeout to ctx.
func (a *app) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if a.timeout > 0 {
		return context.WithTimeout(ctx, a.timeout)
	}
	return context.WithCancel(ctx)
}

// emit finishes rep, prints it, and returns the error that decides the
// exit status: interrupted, timed out, or findings at --fail-on.
func (a *app) emit(ctx context.Context, rep *report.Report) error {
	rep.EndedAt = a.Now()
	if rep.Privileges == nil {
		rep.Privileges = runPrivileges()
	}
	var stopErr error
	switch {
	case errors.Is(context.Cause(ctx), context.DeadlineExceeded):
		rep.Interrupted = true
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("stopped by --timeout %s; the report is partial", a.timeout))
		stopErr = fmt.Errorf("stopped by --timeout %s", a.timeout)
	case ctx.Err() != nil:
		rep.Interrupted = true
		stopErr = errInterrupted
	}
	if err := a.renderer().Render(a.Out, rep); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if stopErr != nil {
		return stopErr
	}
	if a.failOn == "none" {
		return nil
	}
	threshold, _ := report.ParseSeverity(a.failOn)
	n := 0
	for _, f := range rep.Findings {
		if f.Severity >= threshold {
			n++
		}
	}
	if n > 0 {
		return &findingsError{n}
	}
	return nil
}

const exitCodesHelp = `Every netdx command exits with one of these statuses:

  0    nothing at or above --fail-on (default: critical)
  1    findings at or above --fail-on, all of the input read
  2    usage error: bad flags or arguments
  3    could not run, bad or incomplete input, or stopped by --timeout
       (the partial report is printed)
  4    not enough privilege to produce any result
  130  interrupted by Ctrl-C or SIGTERM (the partial report is printed)

netdx serve exits 0 when SIGTERM, Ctrl-C or --timeout stops it, 2 for bad
flags, 3 when it cannot serve; findings never change its status.

When several apply, 130 and --timeout win, then incomplete input (3), then
findings (1). docs/exit-codes.md has what each command can reach.
`
