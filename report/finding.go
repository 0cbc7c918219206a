package report

// Source says which of netdx's three views produced a finding.
type Source string

// Sources of findings.
const (
	SourceHost    Source = "host"    // netdx diag: the host's counters and settings
	SourcePath    Source = "path"    // netdx trace: the network path
	SourceCapture Source = "capture" // netdx pcap analyze: a packet capture
	SourceDrops   Source = "drops"   // netdx drops, and diag when privileged: the kernel's drop reasons
	SourceCross   Source = "cross"   // evidence from more than one source
)

// Sources lists every source, in report order.
var Sources = []Source{SourceHost, SourcePath, SourceCapture, SourceDrops, SourceCross}

// Layer places a finding in the stack, so a report reads from the wire up.
type Layer string

// Layers in report order: the wire and NIC first, the application last,
// then the network path and captures.
const (
	LayerNIC       Layer = "nic"
	LayerDriver    Layer = "driver"
	LayerSoftnet   Layer = "softnet"
	LayerQdisc     Layer = "qdisc"
	LayerIP        Layer = "ip"
	LayerTCP       Layer = "tcp"
	LayerUDP       Layer = "udp"
	LayerSocket    Layer = "socket"
	LayerConntrack Layer = "conntrack"
	LayerMPTCP     Layer = "mptcp"
	LayerPath      Layer = "path"
	LayerCapture   Layer = "capture"
)

// Layers lists every layer in report order.
var Layers = []Layer{LayerNIC, LayerDriver, LayerSoftnet, LayerQdisc, LayerIP, LayerTCP, LayerUDP,
	LayerSocket, LayerConntrack, LayerMPTCP, LayerPath, LayerCapture}

// Rank is the layer's position in report order; unknown layers sort last.
func (l Layer) Rank() int {
	for i, x := range Layers {
		if x == l {
			return i
		}
	}
	return len(Layers)
}

// Object is the kind of thing a finding is about: what its Subject
// names.
type Object string

// Kinds of objects findings are about.
const (
	ObjectListener   Object = "listener"   // a listening TCP socket: address:port (process)
	ObjectSocket     Object = "socket"     // a UDP socket: address:port (process)
	ObjectConnection Object = "connection" // a TCP or MPTCP connection: local → peer (process)
	ObjectInterface  Object = "interface"  // a network interface
	ObjectQdisc      Object = "qdisc"      // the queueing discipline of an interface
	ObjectCPU        Object = "cpu"        // a CPU's softnet backlog
	ObjectEndpoint   Object = "endpoint"   // an MPTCP path manager endpoint
	ObjectNamespace  Object = "namespace"  // a network namespace's own table (conntrack)
	ObjectPath       Object = "path"       // a traced path, or a hop on it
	ObjectCapture    Object = "capture"    // a capture file, or a flow or tunnel in it
)

// Objects lists every kind of object.
var Objects = []Object{ObjectListener, ObjectSocket, ObjectConnection, ObjectInterface, ObjectQdisc, ObjectCPU,
	ObjectEndpoint, ObjectNamespace, ObjectPath, ObjectCapture}

// Finding is one diagnosis: what is wrong, where, the numbers that show it,
// and what to change.
type Finding struct {
	// ID is stable and never reused, e.g. "tcp.listen_overflow"; it names a
	// catalog entry.
	ID string `json:"id"`
	// Severity is how bad it is; the catalog's usual severity unless the evidence
	// raised or lowered it.
	Severity Severity `json:"severity"`
	// Source is the view that produced it; cross for findings that rest on
	// several.
	Source Source `json:"source"`
	// Layer places it in the stack.
	Layer Layer `json:"layer"`
	// Subject is what the finding is about: an interface, a queue, a
	// socket, a CPU, a hop, a flow. Empty for host-wide findings. When
	// several objects share the cause, it names the worst and the others
	// are in evidence.
	Subject string `json:"subject"`
	// Object is the kind of thing Subject names ("listener", "connection",
	// "interface"...), from the finding's catalog entry; absent for
	// findings about the host or namespace as a whole.
	Object Object `json:"object,omitempty"`
	// Summary is one sentence with the numbers that matter.
	Summary string `json:"summary"`
	// Explanation says what the evidence means in this context.
	Explanation string `json:"explanation,omitempty"`
	// Evidence are the values the finding rests on, each with its kernel name.
	Evidence []Evidence `json:"evidence"`
	// Fix lists the remediation: exact commands made specific to what was
	// read, or steps, in the order to try them.
	Fix []string `json:"fix,omitempty"`
	// Notes are caveats: what will not help, how to confirm.
	Notes []string `json:"notes,omitempty"`
	// Related lists, on a cross-source finding, the per-source findings
	// it explains. Each of them stays in the report, marked SubsumedBy.
	Related []FindingRef `json:"related,omitempty"`
	// SubsumedBy names the cross-source finding that explains this one;
	// the text report folds it under that finding.
	SubsumedBy *FindingRef `json:"subsumed_by,omitempty"`
}

// FindingRef names one finding of the same report: the ID and subject
// together identify it.
type FindingRef struct {
	// ID is the referenced finding's ID.
	ID string `json:"id"`
	// Subject is the referenced finding's subject (empty for host-wide findings).
	Subject string `json:"subject"`
}

// Ref is the reference to f.
func (f *Finding) Ref() FindingRef { return FindingRef{ID: f.ID, Subject: f.Subject} }

// Evidence is one value a finding rests on: a counter with its change over
// the interval, or a setting.
type Evidence struct {
	// Name is the kernel's own name where there is one:
	// "TcpExt.ListenOverflows", "net.core.somaxconn", "eth0.rx_missed_errors".
	Name string `json:"name"`
	// Value is the current value: a gauge, a setting, or a counter's total
	// since boot.
	Value *float64 `json:"value,omitempty"`
	// Delta is the counter's change over the sampling interval.
	Delta *float64 `json:"delta,omitempty"`
	// RatePerSec is Delta divided by the interval.
	RatePerSec *float64 `json:"rate_per_sec,omitempty"`
	// Unit of Value and Delta ("packets", "bytes", "ms", "percent"); empty
	// for plain counts.
	Unit string `json:"unit,omitempty"`
	// Text holds a value that is not a number ("cubic", "4096 131072 6291456").
	Text string `json:"text,omitempty"`
}

// Num is evidence with one numeric value.
func Num(name string, v float64, unit string) Evidence {
	return Evidence{Name: name, Value: &v, Unit: unit}
}

// Counter is evidence for a cumulative counter sampled twice.
func Counter(name string, total, delta, perSec float64) Evidence {
	return Evidence{Name: name, Value: &total, Delta: &delta, RatePerSec: &perSec}
}

// Text is evidence whose value is not a number.
func Text(name, text string) Evidence {
	return Evidence{Name: name, Text: text}
}
