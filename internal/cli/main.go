// Package cli is netdx's command line: one file per command, each turning
// its flags into a plan for diagnose.Run and printing the report through
// render. Exit statuses are decided in one place (exit.go); Main is all
// cmd/netdx calls.
package cli

// Main runs the command line of this process and returns its exit status.
func Main() int { return run(newApp()) }
