package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// Owned by the trace work; replaced there.
func newTraceCmd(_ *app) *cobra.Command {
	return &cobra.Command{
		Use:   "trace HOST",
		Short: "Trace the path to HOST hop by hop and say where loss or latency begins",
		Args:  cobra.ExactArgs(1),
		RunE: func(*cobra.Command, []string) error {
			return errors.New("trace is not built yet")
		},
	}
}
