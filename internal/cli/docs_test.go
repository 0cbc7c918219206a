package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// The man pages and shell completions under docs/ are generated from the
// command tree by `make docs`, which runs TestGeneratedDocs with -update.
// Without -update the test fails when they are stale.

// manDate is the date the man pages carry; a fixed one keeps them
// reproducible. Move it on with a release.
var manDate = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// docsRoot is the command tree as users get it, completion command
// included (cobra adds that one only when the program runs).
func docsRoot() *cobra.Command {
	a, _, _ := testApp()
	root := newRootCmd(a)
	root.InitDefaultCompletionCmd()
	root.InitDefaultHelpFlag()
	root.InitDefaultVersionFlag()
	return root
}

// generatedDocs renders every generated document: path under docs/ →
// content.
func generatedDocs(t *testing.T) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	dir := t.TempDir()
	header := &doc.GenManHeader{Title: "NETDX", Section: "1", Date: &manDate, Source: "netdx", Manual: "netdx manual"}
	if err := doc.GenManTree(docsRoot(), header, dir); err != nil {
		t.Fatal(err)
	}
	pages, err := filepath.Glob(filepath.Join(dir, "*.1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pages {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Join("man", filepath.Base(p))] = b
	}
	for name, gen := range map[string]func(*cobra.Command, *bytes.Buffer) error{
		"netdx.bash": func(c *cobra.Command, b *bytes.Buffer) error { return c.GenBashCompletionV2(b, true) },
		"_netdx":     func(c *cobra.Command, b *bytes.Buffer) error { return c.GenZshCompletion(b) },
		"netdx.fish": func(c *cobra.Command, b *bytes.Buffer) error { return c.GenFishCompletion(b, true) },
	} {
		var b bytes.Buffer
		if err := gen(docsRoot(), &b); err != nil {
			t.Fatal(err)
		}
		out[filepath.Join("completion", name)] = b.Bytes()
	}
	return out
}

func TestGeneratedDocs(t *testing.T) {
	docs := filepath.Join("..", "..", "docs")
	want := generatedDocs(t)
	if *update {
		for _, sub := range []string{"man", "completion"} {
			if err := os.RemoveAll(filepath.Join(docs, sub)); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Join(docs, sub), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		for name, b := range want {
			if err := os.WriteFile(filepath.Join(docs, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	var have []string
	for _, sub := range []string{"man", "completion"} {
		files, _ := os.ReadDir(filepath.Join(docs, sub))
		for _, f := range files {
			have = append(have, filepath.Join(sub, f.Name()))
		}
	}
	sort.Strings(have)
	var wantNames []string
	for name := range want {
		wantNames = append(wantNames, name)
	}
	sort.Strings(wantNames)
	if strings.Join(have, " ") != strings.Join(wantNames, " ") {
		t.Fatalf("docs/man and docs/completion hold %v, the command tree makes %v; run `make docs`", have, wantNames)
	}
	for _, name := range wantNames {
		got, err := os.ReadFile(filepath.Join(docs, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want[name]) {
			t.Errorf("docs/%s is stale; run `make docs` and commit the result", name)
		}
	}
}

// TestManPagesCoverCommands: every command users run has a page that
// names its flags.
func TestManPagesCoverCommands(t *testing.T) {
	docs := generatedDocs(t)
	for page, flags := range map[string][]string{
		"man/netdx.1":                 {"--output", "--fail-on", "--version", "Exit statuses"},
		"man/netdx-diag.1":            {"--trace", "--pcap", "--trace-count", "--trace-method", "--interval"},
		"man/netdx-trace.1":           {"--count", "--report", "--tcp"},
		"man/netdx-pcap-analyze.1":    {"--vxlan-port", "--progress"},
		"man/netdx-explain.1":         {"--list"},
		"man/netdx-completion-bash.1": {"bash"},
		"man/netdx-completion-zsh.1":  {"zsh"},
		"man/netdx-completion-fish.1": {"fish"},
		"completion/netdx.bash":       {"__start_netdx"},
		"completion/_netdx":           {"#compdef netdx"},
		"completion/netdx.fish":       {"complete -c netdx"},
	} {
		b, ok := docs[page]
		if !ok {
			t.Errorf("no %s", page)
			continue
		}
		// groff escapes dashes.
		text := strings.ReplaceAll(string(b), `\-`, "-")
		for _, f := range flags {
			if !strings.Contains(text, f) {
				t.Errorf("%s does not mention %s", page, f)
			}
		}
	}
}
