package report

import (
	"errors"
	"io/fs"
	"strings"

	"github.com/netdx/netdx/drops"
	"github.com/netdx/netdx/internal/owners"
)

// Drops is what the kernel said about the packets it dropped over the
// window: each drop's reason (enum skb_drop_reason), the network
// namespace and interface where it happened, its protocol and, at a
// socket, the socket and its process. netdx drops prints it, and diag
// and serve add it when privileged; docs/drops.md documents every field.
type Drops struct {
	// Source is the source the reasons came from: "bpf-tp_btf",
	// "bpf-tracepoint", "perf" or "none" (no reasons: see failures).
	Source string `json:"source"`
	// Names says where the reason names were read: "btf" or "tracefs".
	Names string `json:"names,omitempty"`
	// IntervalSeconds is the window the counts are over.
	IntervalSeconds float64 `json:"interval_seconds"`
	// Total is the drops of every entry.
	Total uint64 `json:"total"`
	// Entries are the drops by reason and place, most first; only those
	// in the window (and that the command's filters keep).
	Entries []DropEntry `json:"entries"`
	// Failures say why each better source was not used, and what would
	// enable it.
	Failures []DropFailure `json:"failures"`
	// Overflow counts drops seen but not placed in an entry.
	Overflow DropOverflow `json:"overflow"`
	// Rules are the nftables rules and drop policies of the namespaces
	// where NETFILTER_DROP drops happened, with the packets they matched
	// over the window.
	Rules []DropRule `json:"rules,omitempty"`
	// Reconciliation sets each family of reasons against the counters
	// it should move, in the namespace diag read the counters of;
	// absent without the host's counters.
	Reconciliation []DropReconciliation `json:"reconciliation,omitempty"`
	// Filter is what --netns, --iface and --reason kept; absent when
	// nothing was filtered.
	Filter *DropFilter `json:"filter,omitempty"`
}

// DropEntry is the drops of one reason at one place.
type DropEntry struct {
	// Reason is the kernel's name without SKB_DROP_REASON_ ("NO_SOCKET");
	// a subsystem's reason is "SUBSYSTEM+code".
	Reason string `json:"reason"`
	// Netns is the network namespace the drop happened in.
	Netns DropNetns `json:"netns"`
	// Interface is the interface the packet came in on or was going out
	// of, in Netns; empty when unknown or gone.
	Interface string `json:"interface,omitempty"`
	// Ifindex is the interface's index in Netns; 0 when unknown.
	Ifindex int `json:"ifindex,omitempty"`
	// Protocol is "udp", "tcp", "icmp", "ipv6-icmp", "sctp", "ipv4",
	// "ipv6", "arp" or the EtherType in hex; empty when unknown.
	Protocol string `json:"protocol,omitempty"`
	// Count is the drops over the window.
	Count uint64 `json:"count"`
	// RatePerSec is Count per second of the window.
	RatePerSec float64 `json:"rate_per_sec"`
	// Socket is the socket the packet was for, when the source sees it.
	Socket *DropSocket `json:"socket,omitempty"`
	// Source is the source that counted the entry (as Drops.Source).
	Source string `json:"source"`
}

// DropNetns identifies a network namespace.
type DropNetns struct {
	// Name is how netdx names it: the /run/netns name, "host" or "self"
	// for netdx's own (the host's, or another), "comm[pid]" of a process
	// in it, or "netns:[inode]"; empty when the source sees no
	// namespaces.
	Name string `json:"name"`
	// Cookie is the kernel's net cookie, never reused while the system
	// runs; 0 when unknown.
	Cookie uint64 `json:"cookie,omitempty"`
	// Inode is the namespace's inode (ip netns identify, ls -l
	// /proc/PID/ns/net); reused after a namespace dies.
	Inode uint32 `json:"inode,omitempty"`
	// Current is true for the namespace netdx runs in.
	Current bool `json:"current,omitempty"`
}

// DropSocket is the socket a packet was dropped at.
type DropSocket struct {
	// Inode is the socket's inode (socket:[N] in /proc/PID/fd, ss -e).
	Inode uint64 `json:"inode"`
	// Local is the socket's local address and port, when found.
	Local string `json:"local,omitempty"`
	// Process holds the socket, when netdx could read it.
	Process *DiagProcess `json:"process,omitempty"`
}

// DropFailure is why a source better than the one used could not run.
type DropFailure struct {
	// Source is the source that failed.
	Source string `json:"source"`
	// Error is the kernel's or the library's answer.
	Error string `json:"error"`
	// Need is what would enable it: a capability, a setting, a mount or
	// a kernel version.
	Need string `json:"need,omitempty"`
}

// DropOverflow counts drops that were seen but not placed in an entry.
type DropOverflow struct {
	// MapFull is drops whose row the kernel map had no room for.
	MapFull uint64 `json:"map_full"`
	// Lost is perf samples the ring lost (source perf).
	Lost uint64 `json:"lost"`
}

// DropRule is an nftables rule that drops, or a base chain whose policy
// drops, in a namespace with NETFILTER_DROP drops.
type DropRule struct {
	// Netns is the rule's namespace.
	Netns DropNetns `json:"netns"`
	// Family is the table's family (inet, ip, ip6, arp, bridge, netdev).
	Family string `json:"family"`
	// Table and Chain name where the rule is.
	Table string `json:"table"`
	// Chain is the rule's chain.
	Chain string `json:"chain"`
	// Handle is the rule's handle (nft -a list ruleset); 0 for a policy.
	Handle uint64 `json:"handle,omitempty"`
	// Comment is the rule's comment.
	Comment string `json:"comment,omitempty"`
	// Policy is true for a chain's drop policy, which has no counter.
	Policy bool `json:"policy,omitempty"`
	// Packets is what the rule's counter moved by over the window (or
	// since the rule was added, when SinceAdded); absent without a
	// counter.
	Packets *uint64 `json:"packets,omitempty"`
	// SinceAdded says Packets counts since the rule was added: the
	// namespace was first read after the window began.
	SinceAdded bool `json:"since_added,omitempty"`
}

// DropReconciliation sets one family of reasons against the counters it
// should move, over the same window in the same namespace.
type DropReconciliation struct {
	// Family is the reason family ("socket buffers", "no socket").
	Family string `json:"family"`
	// Reasons are the reasons counted.
	Reasons []string `json:"reasons"`
	// ReasonDrops is their drops in the namespace over the window.
	ReasonDrops uint64 `json:"reason_drops"`
	// Counters are the counters they are set against.
	Counters []string `json:"counters"`
	// CounterDrops is what those counters moved by; absent when none was
	// read.
	CounterDrops *uint64 `json:"counter_drops,omitempty"`
	// Verdict is "match" (within 10 %, or 2 drops), "counters_above"
	// (drops no reason explains), "reasons_above" (drops no counter
	// shows), "reasons_only" (no counter to compare) or "counters_only"
	// (counters of drops below the kernel: the NIC, its firmware, the
	// hypervisor).
	Verdict string `json:"verdict"`
	// Note says what a difference means.
	Note string `json:"note,omitempty"`
}

// Verdicts of a DropReconciliation.
const (
	VerdictMatch         = "match"
	VerdictCountersAbove = "counters_above"
	VerdictReasonsAbove  = "reasons_above"
	VerdictReasonsOnly   = "reasons_only"
	VerdictCountersOnly  = "counters_only"
)

// DropVerdicts lists the values of DropReconciliation.Verdict.
var DropVerdicts = []string{VerdictMatch, VerdictCountersAbove, VerdictReasonsAbove, VerdictReasonsOnly, VerdictCountersOnly}

// DropFilter is what netdx drops' filters kept.
type DropFilter struct {
	// Netns, Ifaces and Reasons are the values given; an entry is kept
	// when it matches one of each list given.
	Netns []string `json:"netns,omitempty"`
	// Ifaces are the --iface values.
	Ifaces []string `json:"ifaces,omitempty"`
	// Reasons are the --reason values.
	Reasons []string `json:"reasons,omitempty"`
}

// NewDrops is the report form of a window of drops.
func NewDrops(w drops.Window) *Drops {
	d := &Drops{Source: string(w.Kind), Names: w.Names, Entries: make([]DropEntry, 0, len(w.Drops)),
		Failures: []DropFailure{}, Overflow: DropOverflow{MapFull: w.Overflow.MapFull, Lost: w.Overflow.Lost}}
	secs := w.End.Sub(w.Start).Seconds()
	if secs > 0 {
		d.IntervalSeconds = Round(secs, 3)
	}
	for _, f := range w.Failures {
		msg := ""
		if f.Err != nil {
			msg = f.Err.Error()
		}
		d.Failures = append(d.Failures, DropFailure{Source: string(f.Kind), Error: msg, Need: f.Need})
	}
	for _, x := range w.Drops {
		e := DropEntry{Reason: x.Reason, Netns: NewDropNetns(x.Netns), Interface: x.Interface, Ifindex: x.Ifindex,
			Protocol: x.Protocol(), Count: x.Count, Source: string(w.Kind)}
		if secs > 0 {
			e.RatePerSec = Round(float64(x.Count)/secs, 3)
		}
		if x.Socket != nil {
			e.Socket = &DropSocket{Inode: x.Socket.Inode, Local: x.Socket.Local}
			if p := x.Socket.Process; p != nil {
				e.Socket.Process = &DiagProcess{PID: p.PID, Comm: p.Comm}
			}
		}
		d.Entries = append(d.Entries, e)
		d.Total += x.Count
	}
	for _, r := range w.Rules {
		dr := DropRule{Netns: NewDropNetns(r.Netns), Family: r.Family, Table: r.Table, Chain: r.Chain,
			Handle: r.Handle, Comment: r.Comment, Policy: r.Policy, SinceAdded: r.Counted && r.Since.IsZero()}
		if r.Counted {
			n := r.Packets
			dr.Packets = &n
		}
		d.Rules = append(d.Rules, dr)
	}
	return d
}

// NewDropNetns is the report form of a namespace.
func NewDropNetns(n drops.Netns) DropNetns {
	return DropNetns{Name: n.String(), Cookie: n.Cookie, Inode: n.Inode, Current: n.Current}
}

// DropsSkips are the NOT READ lines of a window: each better source that
// failed, with what would enable it, and sockets or rules that could not
// be read.
func DropsSkips(w drops.Window) []Skip {
	var out []Skip
	for _, f := range w.Failures {
		sk := Skip{Source: "drop reasons: " + string(f.Kind), Reason: ReasonUnsupported, Fix: f.Need}
		if f.Err != nil {
			sk.Message = f.Err.Error()
		}
		if errors.Is(f.Err, errPermission) {
			sk.Reason = ReasonPermission
			sk.Capability = needCapabilities(f.Need)
		}
		out = append(out, sk)
	}
	var denied *owners.DeniedError
	if errors.As(w.SocketsErr, &denied) {
		out = append(out, Skip{Source: "drop sockets' processes", Reason: ReasonPermission, Message: w.SocketsErr.Error(),
			Fix: "grant CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE (or run as root) to name every socket's process", Capability: "CAP_DAC_READ_SEARCH,CAP_SYS_PTRACE"})
	} else if w.SocketsErr != nil {
		out = append(out, Skip{Source: "drop sockets' processes", Reason: ReasonError, Message: w.SocketsErr.Error()})
	}
	if w.RulesErr != nil {
		sk := Skip{Source: "nftables rules", Reason: ReasonError, Message: w.RulesErr.Error()}
		if errors.Is(w.RulesErr, errPermission) {
			sk.Reason, sk.Fix, sk.Capability = ReasonPermission, "grant CAP_NET_ADMIN and CAP_SYS_ADMIN (or run as root) to read other namespaces' rules", "CAP_NET_ADMIN,CAP_SYS_ADMIN"
		}
		out = append(out, sk)
	}
	return out
}

var errPermission = fs.ErrPermission

// needCapabilities picks the capabilities out of a Need sentence ("CAP_BPF
// and CAP_PERFMON (or root)" → "CAP_BPF,CAP_PERFMON").
func needCapabilities(need string) string {
	var caps []string
	for _, w := range strings.FieldsFunc(need, func(r rune) bool { return r == ' ' || r == ',' || r == '(' || r == ')' }) {
		if strings.HasPrefix(w, "CAP_") {
			caps = append(caps, w)
		}
	}
	return strings.Join(caps, ",")
}
