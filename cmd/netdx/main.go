// Command netdx finds out why a Linux host or a network path drops packets
// or adds latency, and says what to change.
package main

import (
	"os"

	"github.com/netdx/netdx/internal/cli"
)

func main() { os.Exit(cli.Main()) }
