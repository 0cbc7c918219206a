package main

import (
	"bytes"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"github.com/netdx/netdx/internal/cli"
)

// manDate is the date the man pages carry; a fixed one keeps them
// reproducible. Move it on with a release.
var manDate = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// cliDocs renders the man pages (docs/man) and shell completions
// (docs/completion) from the command tree: path under docs/ → content.
func cliDocs() (map[string][]byte, error) {
	out := map[string][]byte{}
	dir, err := os.MkdirTemp("", "netdx-man")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	header := &doc.GenManHeader{Title: "NETDX", Section: "1", Date: &manDate, Source: "netdx", Manual: "netdx manual"}
	if err := doc.GenManTree(cli.Command(), header, dir); err != nil {
		return nil, err
	}
	pages, err := filepath.Glob(filepath.Join(dir, "*.1"))
	if err != nil {
		return nil, err
	}
	for _, p := range pages {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		out[filepath.Join("man", filepath.Base(p))] = b
	}
	for name, gen := range map[string]func(*cobra.Command, *bytes.Buffer) error{
		"netdx.bash": func(c *cobra.Command, b *bytes.Buffer) error { return c.GenBashCompletionV2(b, true) },
		"_netdx":     func(c *cobra.Command, b *bytes.Buffer) error { return c.GenZshCompletion(b) },
		"netdx.fish": func(c *cobra.Command, b *bytes.Buffer) error { return c.GenFishCompletion(b, true) },
	} {
		var b bytes.Buffer
		if err := gen(cli.Command(), &b); err != nil {
			return nil, err
		}
		out[filepath.Join("completion", name)] = b.Bytes()
	}
	return out, nil
}
