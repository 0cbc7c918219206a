package report

// Diag is the JSON form of the host's two snapshots, as netdx diag read
// them. Owned by the diag work; filled in there.
type Diag struct {
	// MPTCP is filled by newDiagMPTCP, owned by the MPTCP work.
	MPTCP *DiagMPTCP `json:"mptcp,omitempty"`
}
