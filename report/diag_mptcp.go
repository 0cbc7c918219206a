package report

// DiagMPTCP is the JSON form of the host's MPTCP state. Owned by the MPTCP
// work; filled in there.
type DiagMPTCP struct{}

// newDiagMPTCP converts the MPTCP part of the diag input; nil when absent.
func newDiagMPTCP(_ *DiagInput) *DiagMPTCP { return nil }
