// Package drops counts the packets the kernel drops, by the reason the
// kernel gives (enum skb_drop_reason on the kfree_skb tracepoint, Linux
// 5.17+), the network namespace and interface where they died, their
// protocol and, for drops at a socket, the socket.
//
// A Source tries the ways in, best first, and keeps the first that works:
//
//  1. KindBTF: a BPF program on tp_btf/kfree_skb (reason × namespace ×
//     interface × protocol × socket). Needs CAP_BPF and CAP_PERFMON (or
//     root) and kernel BTF; no tracefs.
//  2. KindTracepoint: a BPF program on the classic tracepoint
//     skb/kfree_skb (reason × protocol). Needs CAP_BPF, CAP_PERFMON and
//     tracefs.
//  3. KindPerf: perf_event_open raw samples of the same tracepoint, read
//     in user space (reason × protocol; samples the ring lost are
//     counted). Needs CAP_PERFMON or kernel.perf_event_paranoid=-1, and
//     tracefs.
//  4. KindNone: no reasons; the counters elsewhere in netdx still work.
//
// Each way that failed is kept as a Failure naming the capability or
// setting that would enable it. The kernel aggregates in a bounded map;
// updates it refuses when full are counted, never silently lost.
//
// The package reads the kernel and returns plain data (Window); judging
// and presenting drops belongs to other packages. Reason numbers are read
// with the names of the kernel that produced them (see Reasons).
package drops
