package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"
)

// Conventions every command keeps: styled output on a terminal only,
// NO_COLOR and TERM=dumb honoured, progress on a terminal's stderr only
// and never on stdout, --version, shell completion.

// session runs one command line with the terminal state and environment
// given, and returns stdout and stderr.
type session struct {
	outTTY, errTTY bool
	env            map[string]string
}

func (s session) run(t *testing.T, prepare func(*diagOptions), args ...string) (int, string, string) {
	t.Helper()
	a, out, errb := testApp()
	if len(args) > 0 && args[0] == "trace" {
		a.Now = time.Now // the tracer's clock must run
	}
	a.OutTTY, a.ErrTTY, a.Width = s.outTTY, s.errTTY, 100
	a.Getenv = func(k string) string { return s.env[k] }
	code := execute(t, a, prepare, args...)
	return code, out.String(), errb.String()
}

// commandLines are one command line per command, over test inputs.
func commandLines(t *testing.T) map[string]struct {
	prepare func(*diagOptions)
	args    []string
} {
	dir := t.TempDir()
	file := scenarioFile(t, dir)
	b, af := busyHost(t)
	return map[string]struct {
		prepare func(*diagOptions)
		args    []string
	}{
		"diag":         {replay(t, b, af), []string{"diag", "--interval", "10s", "--fail-on", "none"}},
		"pcap analyze": {nil, []string{"pcap", "analyze", "--fail-on", "none", file}},
		"explain":      {nil, []string{"explain", "--list"}},
		"trace":        {nil, []string{"trace", "--report", "-n", "-c", "3", "-i", "1ms", "198.18.4.2"}},
	}
}

// withScripted runs fn with trace probes going to the clean scenario.
func withScripted(t *testing.T, fn func()) {
	saved := openNetwork
	openNetwork = scenarioNet(t, "clean")
	defer func() { openNetwork = saved }()
	fn()
}

// TestStyledOnlyOnATerminal: every command in pairs, terminal and not.
// On a terminal tables have borders; off one, with NO_COLOR or with
// TERM=dumb, output is plain: aligned with spaces, no tabs, no escape
// sequences.
func TestStyledOnlyOnATerminal(t *testing.T) {
	withScripted(t, func() {
		for name, c := range commandLines(t) {
			t.Run(name, func(t *testing.T) {
				for _, tc := range []struct {
					name   string
					s      session
					styled bool
				}{
					{"tty", session{outTTY: true}, true},
					{"non-tty", session{}, false},
					{"tty NO_COLOR", session{outTTY: true, env: map[string]string{"NO_COLOR": "1"}}, false},
					{"tty TERM=dumb", session{outTTY: true, env: map[string]string{"TERM": "dumb"}}, false},
					{"non-tty CLICOLOR_FORCE", session{env: map[string]string{"CLICOLOR_FORCE": "1"}}, true},
				} {
					// trace runs with --report: on a terminal too, the report
					// is what is compared, not the live view.
					_, out, _ := tc.s.run(t, c.prepare, c.args...)
					borders := strings.Contains(out, "╭")
					if borders != tc.styled {
						t.Errorf("%s: bordered tables %v, want %v", tc.name, borders, tc.styled)
					}
					if !tc.styled && (strings.Contains(out, "\x1b[") || strings.Contains(out, "\t")) {
						t.Errorf("%s: plain output has escape sequences or tabs", tc.name)
					}
				}
			})
		}
	})
}

// TestJSONIsJSONOnATerminal: --json writes the document alone, terminal
// or not, and progress never reaches stdout.
func TestJSONIsJSONOnATerminal(t *testing.T) {
	withScripted(t, func() {
		for name, c := range commandLines(t) {
			for _, s := range []session{{outTTY: true, errTTY: true}, {}} {
				_, out, _ := s.run(t, c.prepare, append(c.args, "--json")...)
				var v map[string]any
				if err := json.Unmarshal([]byte(out), &v); err != nil {
					t.Errorf("%s --json (terminal %v): stdout is not one JSON document: %v", name, s.outTTY, err)
				}
			}
		}
	})
}

// TestProgress: the progress line appears on a terminal's stderr once a
// run passes a second, is cleared at the end, and never appears when
// stderr is not a terminal.
func TestProgress(t *testing.T) {
	b, af := busyHost(t)
	realInterval := func(o *diagOptions) {
		replay(t, b, af)(o)
		o.sleep = nil
	}
	for _, s := range []session{{errTTY: true}, {}} {
		_, out, errOut := s.run(t, realInterval, "diag", "--interval", "1300ms", "--fail-on", "none", "--json")
		if !json.Valid([]byte(out)) {
			t.Errorf("stdout is not JSON with progress on stderr")
		}
		shown := strings.Contains(errOut, "sampling the host")
		if shown != s.errTTY {
			t.Errorf("stderr terminal %v: progress shown %v:\n%q", s.errTTY, shown, errOut)
		}
		if s.errTTY && !strings.HasSuffix(errOut, "\r\x1b[K") {
			t.Errorf("progress line not cleared: %q", errOut)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for a writer goroutine and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestProgressDelay(t *testing.T) {
	var w syncBuffer
	var mu sync.Mutex
	now := time.Unix(0, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	stop := drawProgress(&w, clock, time.Second, func(e time.Duration) string { return "working " + e.String() })
	time.Sleep(3 * progressTick)
	if w.String() != "" {
		t.Errorf("drawn before the delay: %q", w.String())
	}
	advance(2 * time.Second)
	time.Sleep(3 * progressTick)
	stop()
	stop() // twice is harmless
	got := w.String()
	if !strings.Contains(got, "working 2s") || !strings.HasSuffix(got, "\r\x1b[K") {
		t.Errorf("progress %q", got)
	}
	var quiet syncBuffer
	drawProgress(&quiet, clock, time.Hour, func(time.Duration) string { return "x" })()
	if quiet.String() != "" {
		t.Errorf("a run shorter than the delay left %q", quiet.String())
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := session{}.run(t, nil, "--version")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != exitOK || len(lines) < 2 || lines[0] != "netdx dev" || !strings.HasPrefix(lines[len(lines)-1], "go1.") {
		t.Errorf("exit %d, --version:\n%s", code, out)
	}
	saved, savedCommit := version, commit
	version, commit = "v1.2.3", "0123456789abcdef"
	defer func() { version, commit = saved, savedCommit }()
	code, out, _ = session{}.run(t, nil, "--version")
	if code != exitOK || !strings.HasPrefix(out, "netdx v1.2.3\ncommit 0123456789abcdef") {
		t.Errorf("-ldflags version not shown:\n%s", out)
	}
	a, _, _ := testApp()
	if tool := a.tool(); tool.Version != "v1.2.3" || tool.Commit != "0123456789abcdef" {
		t.Errorf("report tool %+v", tool)
	}
}

// TestQuickVersion: Main's shortcut for `netdx --version` prints what the
// command tree prints, and takes no other command line.
func TestQuickVersion(t *testing.T) {
	_, tree, _ := session{}.run(t, nil, "--version")
	a, out, _ := testApp()
	if !quickVersion(a, []string{"--version"}) || out.String() != tree {
		t.Errorf("quick --version printed %q, the tree %q", out.String(), tree)
	}
	for _, args := range [][]string{nil, {"--version", "diag"}, {"diag", "--version"}, {"-v"}, {"--json"}} {
		a, out, _ := testApp()
		if quickVersion(a, args) || out.Len() > 0 {
			t.Errorf("%q taken as --version", args)
		}
	}
}

func TestCompletion(t *testing.T) {
	for shell, want := range map[string]string{"bash": "__start_netdx", "zsh": "#compdef netdx", "fish": "complete -c netdx",
		"powershell": "Register-ArgumentCompleter"} {
		code, out, errOut := session{}.run(t, nil, "completion", shell)
		if code != exitOK || !strings.Contains(out, want) {
			t.Errorf("completion %s: exit %d, %q in output %v; stderr %s", shell, code, want, strings.Contains(out, want), errOut)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"__complete", "explain", "tcp.listen"}, "tcp.listen_overflow\tAccept queue overflow"},
		{[]string{"__complete", "--output", ""}, "json"},
		{[]string{"__complete", "diag", "--trace-method", ""}, "tcp"},
		{[]string{"__complete", "--fail-on", ""}, "warning"},
	} {
		_, out, _ := session{}.run(t, nil, tc.args...)
		if !strings.Contains(out, tc.want) {
			t.Errorf("%v: %q lacks %q", tc.args, out, tc.want)
		}
	}
}

// TestTraceProgressOnlyOnTerminal: trace in report mode shows its rounds
// on a terminal's stderr when it lasts more than a second.
func TestTraceProgressOnlyOnTerminal(t *testing.T) {
	for _, tty := range []bool{true, false} {
		a, out, errb := traceApp("trace", "--report", "-n", "-c", "6", "-i", "250ms", "198.18.4.2")
		a.ErrTTY = tty
		code := runWith(a, scenarioNet(t, "clean"))
		if code != exitOK || !strings.Contains(out.String(), "TRACE") {
			t.Fatalf("exit %d", code)
		}
		if shown := strings.Contains(errb.String(), "tracing 198.18.4.2:"); shown != tty {
			t.Errorf("stderr terminal %v: progress shown %v", tty, shown)
		}
	}
}
