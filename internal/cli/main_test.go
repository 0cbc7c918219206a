package cli

import (
	"bytes"
	"context"
	"flag"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netdx/netdx/report"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// TestMain lets a test re-run this binary as the netdx command (for runs
// under another user): NETDX_TEST_MAIN=1 makes it main.
func TestMain(m *testing.M) {
	if os.Getenv("NETDX_TEST_MAIN") == "1" {
		os.Exit(run(newApp()))
	}
	// In-process reports do not depend on who runs the tests; the
	// privilege tests run the binary and see the real ones.
	runPrivileges = func() *report.Privileges {
		return &report.Privileges{UID: 0, Capabilities: []string{"CAP_NET_RAW", "CAP_NET_ADMIN", "CAP_SYS_ADMIN", "CAP_DAC_READ_SEARCH", "CAP_SYS_PTRACE"}}
	}
	os.Exit(m.Run())
}

var testNow = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// testApp is an app over buffers with a fixed clock, not a terminal.
func testApp() (*app, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	a := &app{In: bytes.NewReader(nil), Out: &out, Err: &errb, Now: func() time.Time { return testNow },
		Getenv: func(string) string { return "" }}
	return a, &out, &errb
}

// execute runs args through a root whose diag command hands its options
// to prepare before running, and returns the exit status.
func execute(t *testing.T, a *app, prepare func(*diagOptions), args ...string) int {
	t.Helper()
	return executeCtx(t, context.Background(), a, prepare, args...)
}

// executeCtx is execute under ctx, as run() gives the signal context.
func executeCtx(t *testing.T, ctx context.Context, a *app, prepare func(*diagOptions), args ...string) int {
	t.Helper()
	root := newRootCmd(a)
	for _, c := range root.Commands() {
		if c.Name() == "diag" {
			root.RemoveCommand(c)
		}
	}
	d := diagCommand(a, func(ctx context.Context, o *diagOptions) error {
		if prepare != nil {
			prepare(o)
		}
		return runDiag(ctx, a, o)
	})
	wrapArgs(d)
	root.AddCommand(d)
	root.SetArgs(args)
	err := stoppedBy(ctx, root.ExecuteContext(ctx))
	reportError(a.Err, err)
	return exitStatus(err)
}

// golden compares got with testdata/NAME.golden, rewriting it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (run go test ./internal/cli -update and review the diff):\n%s", path, diffLines(string(want), string(got)))
	}
}

// diffLines shows the first lines that differ.
func diffLines(want, got string) string {
	w, g := bytes.Split([]byte(want), []byte("\n")), bytes.Split([]byte(got), []byte("\n"))
	var out bytes.Buffer
	n := 0
	for i := 0; i < max(len(w), len(g)) && n < 10; i++ {
		var wl, gl []byte
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if !bytes.Equal(wl, gl) {
			n++
			out.WriteString("line " + strconv.Itoa(i+1) + ":\n  want: " + string(wl) + "\n  got:  " + string(gl) + "\n")
		}
	}
	return out.String()
}

// copyTree copies src into dst, symlinks as symlinks.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			_ = os.Remove(to)
			return os.Symlink(target, to)
		case d.IsDir():
			return os.MkdirAll(to, 0o755)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(to)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			return err
		}
		return out.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
}

// hasAligned reports whether plain text holds want, whose tabs stand for
// the two or more spaces between the columns of a table.
func hasAligned(text, want string) bool {
	parts := strings.Split(want, "\t")
	for i := range parts {
		parts[i] = regexp.QuoteMeta(parts[i])
	}
	return regexp.MustCompile(strings.Join(parts, " {2,}")).MatchString(text)
}
