// Package cli is netdx's command line: one file per command, each turning
// its flags into a plan for diagnose.Run and printing the report through
// render. Exit statuses are decided in one place (exit.go); Main is all
// cmd/netdx calls.
package cli

import (
	"fmt"
	"os"
)

// Main runs the command line of this process and returns its exit status.
func Main() int {
	a := newApp()
	if quickVersion(a, os.Args[1:]) {
		return exitOK
	}
	return run(a)
}

// quickVersion answers `netdx --version` alone without building the
// command tree (every command with its flags and completions), as the
// tree would answer it; false for any other command line.
func quickVersion(a *app, args []string) bool {
	if len(args) != 1 || args[0] != "--version" {
		return false
	}
	fmt.Fprintln(a.Out, versionText())
	return true
}
