package collectors

// Counter arithmetic between two snapshots. Kernel counters only grow, but
// 32-bit ones wrap (softnet_stat, qdisc and per-CPU conntrack statistics)
// and any may restart from zero when a driver reloads, a CPU goes offline
// or a namespace is recreated. Neither may ever produce a negative change.

// Delta64 is the change of a 64-bit counter from before to after. A counter
// that went backwards was reset; like Prometheus's rate(), the change is
// then taken as after (it counted up from zero), and reset is true.
func Delta64(before, after uint64) (d uint64, reset bool) {
	if after >= before {
		return after - before, false
	}
	return after, true
}

// Delta32 is the change of a 32-bit counter. One that went backwards
// wrapped when the distance across the wrap is under half the range (the
// counter passed 2^32); a larger distance is a reset, taken as in Delta64.
func Delta32(before, after uint64) (d uint64, reset bool) {
	const span = 1 << 32
	if after >= before {
		return after - before, false
	}
	if wrapped := after + span - before; before < span && wrapped < span/2 {
		return wrapped, false
	}
	return after, true
}
