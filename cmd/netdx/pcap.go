package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// Owned by the capture work; replaced there.
func newPcapCmd(_ *app) *cobra.Command {
	cmd := &cobra.Command{Use: "pcap", Short: "Work with packet captures"}
	cmd.AddCommand(&cobra.Command{
		Use:   "analyze FILE...",
		Short: "Tell retransmission, reordering and loss apart in captures, through tunnels",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(*cobra.Command, []string) error {
			return errors.New("pcap analyze is not built yet")
		},
	})
	return cmd
}
