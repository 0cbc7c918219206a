package report

// Privileges says as whom and with which capabilities a run was made, so
// a reader can tell what a NOT READ line's capability would have changed.
type Privileges struct {
	// UID is the effective user id of the run.
	UID int `json:"uid"`
	// Capabilities lists, of the capabilities netdx uses (CAP_NET_RAW,
	// CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE,
	// CAP_BPF, CAP_PERFMON), those in the run's effective set; empty when
	// it had none of them.
	Capabilities []string `json:"capabilities"`
}
