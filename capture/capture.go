// Package capture reads packet captures and measures retransmission,
// reordering and loss per flow.
package capture

// Result is the analysis of one capture.
type Result struct{}
