package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"

	"github.com/charmbracelet/lipgloss"
	"golang.org/x/term"

	"github.com/netdx/netdx/probes"
	"github.com/netdx/netdx/render"
	"github.com/netdx/netdx/report"
)

// Terminal control sequences of the live view.
const (
	clearScreen = "\x1b[H\x1b[2J"
	keyCtrlC    = 3
)

// runLive traces with a table redrawn after every round until the trace
// ends, q is pressed (a normal end) or Ctrl-C (interrupted). Standard
// input is in raw mode only while the view runs, and always restored.
func runLive(ctx context.Context, a *app, tracer *probes.Tracer, cfg probes.Config) (tr *probes.Trace, interrupted bool, err error) {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	if f, ok := a.In.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		old, err := term.MakeRaw(int(f.Fd()))
		if err == nil {
			defer term.Restore(int(f.Fd()), old)
		}
	}
	keys := make(chan byte, 1)
	go readKeys(a.In, keys)
	ctrlC := make(chan struct{})
	go func() {
		for {
			select {
			case k := <-keys:
				switch k {
				case 'q', 'Q':
					stop()
					return
				case keyCtrlC:
					close(ctrlC)
					stop()
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	view := render.Text{R: lipgloss.NewRenderer(a.Out), Styled: a.styled(), Width: a.Width}
	tr, err = tracer.Run(ctx, cfg, func(snap *probes.Trace) {
		j := report.NewTrace(snap)
		var b bytes.Buffer
		b.WriteString(clearScreen)
		_ = view.TraceSection(&b, &j)
		b.WriteString("\nq: stop and print the report\n")
		// Raw mode turns off output processing: lines need \r\n.
		_, _ = io.WriteString(a.Out, strings.ReplaceAll(b.String(), "\n", "\r\n"))
	})
	select {
	case <-ctrlC:
		interrupted = true
	default:
	}
	if err == nil {
		_, _ = io.WriteString(a.Out, clearScreen)
	}
	return tr, interrupted, err
}

// readKeys forwards each byte read from in until it ends.
func readKeys(in io.Reader, keys chan<- byte) {
	b := make([]byte, 1)
	for {
		n, err := in.Read(b)
		if n == 1 {
			select {
			case keys <- b[0]:
			default: // nobody listens any more
			}
		}
		if err != nil {
			return
		}
	}
}
