package collectors

// MPTCP is the host's multipath TCP state. Owned by the MPTCP work; filled
// in there.
type MPTCP struct{}
