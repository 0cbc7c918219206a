package cli

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/netdx/netdx/diagnose"
)

// Progress is one line on stderr, redrawn while work runs: a spinner and
// what the work is doing. Work that ends within progressDelay draws
// nothing, and stop clears the line, so a quick run leaves no trace.
// Callers decide whether to show it: on a terminal only (a.ErrTTY),
// never on standard output.
const (
	progressDelay = time.Second
	progressTick  = 100 * time.Millisecond
)

var spinnerFrames = []rune("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏")

// startProgress draws line(elapsed) on stderr every progressTick from
// progressDelay on, when show is true; an empty line is not drawn. The returned stop clears the line
// and returns once nothing more will be drawn; it must be called before
// the report is printed.
func (a *app) startProgress(show bool, line func(elapsed time.Duration) string) (stop func()) {
	if !show {
		return func() {}
	}
	return drawProgress(a.Err, time.Now, progressDelay, line)
}

// drawProgress is startProgress's loop, with the clock and delay as
// parameters for tests.
func drawProgress(w io.Writer, now func() time.Time, delay time.Duration, line func(time.Duration) string) func() {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	t0 := now()
	go func() {
		defer wg.Done()
		tick := time.NewTicker(progressTick)
		defer tick.Stop()
		drawn := false
		for frame := 0; ; frame++ {
			select {
			case <-done:
				if drawn {
					fmt.Fprint(w, "\r\033[K")
				}
				return
			case <-tick.C:
				elapsed := now().Sub(t0)
				if elapsed < delay {
					continue
				}
				l := line(elapsed)
				if l == "" {
					continue
				}
				drawn = true
				fmt.Fprintf(w, "\r%c %s\033[K", spinnerFrames[frame%len(spinnerFrames)], l)
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
		})
	}
}

// watch is a run's Watch: line, given the run's live state, drawn on
// stderr when show (see startProgress).
func (a *app) watch(show bool, line func(p *diagnose.Progress, elapsed time.Duration) string) func(*diagnose.Progress) func() {
	return func(p *diagnose.Progress) func() {
		return a.startProgress(show, func(elapsed time.Duration) string { return line(p, elapsed) })
	}
}
