package main

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestGeneratedDocsAreCurrent fails when a generated document (the
// finding catalog, the shipped alerts, the metric tables, a JSON Schema)
// no longer matches the code; `make docs` regenerates them.
func TestGeneratedDocsAreCurrent(t *testing.T) {
	root := filepath.Join("..", "..")
	docs, err := generate(root)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for p := range docs {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		got, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("%v; run `make docs`", err)
			continue
		}
		if !bytes.Equal(got, docs[p]) {
			t.Errorf("%s is stale; run `make docs` and commit the result", p)
		}
	}
}

// TestNoStaleCLIDocs: docs/man and docs/completion hold exactly the pages
// the command tree makes.
func TestNoStaleCLIDocs(t *testing.T) {
	docs, err := cliDocs()
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join("..", "..", "docs")
	for _, sub := range []string{"man", "completion"} {
		files, err := os.ReadDir(filepath.Join(root, sub))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if _, ok := docs[filepath.Join(sub, f.Name())]; !ok {
				t.Errorf("docs/%s/%s is no longer generated; run `make docs`", sub, f.Name())
			}
		}
	}
}

// TestManPagesCoverCommands: every command users run has a page that
// names its flags.
func TestManPagesCoverCommands(t *testing.T) {
	docs, err := cliDocs()
	if err != nil {
		t.Fatal(err)
	}
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
