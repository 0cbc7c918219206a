// Package capture reads packet captures and measures retransmission,
// reordering and loss per flow, per tunnel and in total.
//
// Analyze streams a pcap or pcapng file (optionally gzip-compressed) once,
// holding only per-flow state, and keeps three things apart that packet
// analysers tend to merge: a segment the sender sent again (retransmission,
// split into timeout, fast and spurious), a segment that arrived after one
// sent later (reordering, RFC 4737 and RFC 5236 metrics) and a segment the
// capture never saw (loss upstream of the capture point, or a capture drop
// when the receiver acknowledged it). Each hole in a sequence is judged on
// evidence — TCP timestamps, IPv4 ID progression, timing against the
// measured round trip — and the result says which evidence decided.
package capture

import (
	"errors"
	"net/netip"
	"strconv"
	"time"
)

// Options configure one analysis. The zero value analyses everything with
// the default tunnel ports.
type Options struct {
	// Name names the input in messages ("trace.pcap", "stdin").
	Name string
	// Tunnel UDP ports; nil takes the defaults (VXLAN 4789, 8472 and 4790
	// for VXLAN-GPE; Geneve 6081; WireGuard 51820; ESP in UDP 4500).
	VXLANPorts, GenevePorts, WireGuardPorts, ESPPorts []uint16
	// Filter keeps only matching packets.
	Filter Filter
	// MaxFlows caps the flow table; when it is full the idlest flows are
	// evicted: their counts stay in the totals and the worst of them in
	// the flow list. 0 means DefaultMaxFlows.
	MaxFlows int
	// ListFlows caps Result.Flows, worst first; 0 means DefaultListFlows.
	ListFlows int
	// Record names TCP flows (either direction) whose every data
	// segment, acknowledgement and unseen range Result.Recorded keeps,
	// classified as the counts are (see Recording). Nil records nothing.
	Record []FlowSpec
	// RegularFile says the input is a regular file, whose reads never
	// block: the read-ahead goroutine then fills each of its chunks
	// whole, where a pipe's chunk goes to the analysis with whatever one
	// read returned. Either way ctx interrupts the wait for a chunk.
	RegularFile bool
}

// DefaultMaxFlows is the flow table's size when Options.MaxFlows is 0.
const DefaultMaxFlows = 250_000

// DefaultListFlows is how many flows Result.Flows holds when
// Options.ListFlows is 0.
const DefaultListFlows = 10_000

// Filter selects packets; empty fields match everything. Within a field
// any value matches; all non-empty fields must match.
type Filter struct {
	// Hosts match any address of the packet: inner or outer.
	Hosts []netip.Addr
	// Ports match the inner TCP or UDP ports, or a tunnel's UDP ports.
	Ports []uint16
	// Flows match both endpoints of the inner flow, in either direction.
	Flows []FlowSpec
}

// FlowSpec is a flow's two endpoints.
type FlowSpec struct{ A, B netip.AddrPort }

// Errors that classify a failed or partial analysis; match them with
// errors.Is. Each comes wrapped in a *InputError saying where.
var (
	// ErrFormat: the input is not a pcap or pcapng stream we can read.
	ErrFormat = errors.New("not a readable capture")
	// ErrCutShort: the stream ends inside a record; the result holds
	// everything before it.
	ErrCutShort = errors.New("capture ends in the middle of a record")
	// ErrDamaged: a record is malformed; the result holds everything
	// before it.
	ErrDamaged = errors.New("damaged record")
)

// InputError says what went wrong where in an input.
type InputError struct {
	Name string
	// Record is the 1-based number of the record being read; 0 for the
	// file header.
	Record uint64
	// Offset is the byte offset in the (decompressed) stream where the
	// record starts.
	Offset int64
	Kind   error // ErrFormat, ErrCutShort or ErrDamaged
	Err    error
}

func (e *InputError) Error() string { return e.Name + ": " + e.Position() }

// Position is the error without the input's name: where, what kind and
// why ("record 7 at byte offset 4123: damaged record: ...").
func (e *InputError) Position() string {
	where := "file header"
	if e.Record > 0 {
		where = "record " + strconv.FormatUint(e.Record, 10)
	}
	msg := where + " at byte offset " + strconv.FormatUint(uint64(e.Offset), 10) + ": " + e.Kind.Error()
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Is matches the error's kind.
func (e *InputError) Is(target error) bool { return target == e.Kind }

func (e *InputError) Unwrap() error { return e.Err }

var _ error = &InputError{}

// Result is the analysis of one capture.
type Result struct {
	Name string
	// Format is "pcap" or "pcapng"; Gzip says it was compressed.
	Format string
	Gzip   bool
	// NanoTimestamps says the pcap file records nanoseconds.
	NanoTimestamps bool
	Interfaces     []Interface
	First, Last    time.Time
	// Complete is false when reading stopped before the end (damage,
	// cut short, interrupted); Warnings say why.
	Complete bool

	// Packets counts records read; Bytes their original lengths and
	// CapturedBytes what was stored of them.
	Packets, Bytes, CapturedBytes uint64
	// SnapTruncated counts records stored shorter than they were on the
	// wire; their true lengths come from the headers.
	SnapTruncated uint64
	// Overlong counts frames whose IP header claims more bytes than the
	// record's original length: the capture tool trimmed them; the IP
	// length was used.
	Overlong uint64
	// Filtered counts packets the filter left out.
	Filtered uint64
	// Packet mix after decapsulation.
	TCPPackets, UDPPackets, OtherIPPackets, NonIPPackets, Fragments uint64
	// Undecoded counts packets decoding stopped short on, by reason.
	Undecoded []Count

	// Flows lists TCP and UDP flows, worst first (see Flow.Score), at
	// most Options.ListFlows of them: drawn from the flows still in the
	// table at the end and the worst of those evicted.
	Flows []*Flow
	// FlowsSeen counts every flow seen; FlowsEvicted those pushed out of
	// a full table (their counts are in Totals).
	FlowsSeen, FlowsEvicted uint64
	Tunnels                 []*Tunnel
	Totals                  Totals
	Warnings                []string
	// Recorded holds the flows Options.Record named, by first packet:
	// every connection on their endpoints, in each encapsulation.
	Recorded []*Recording
}

// Interface is one capturing interface (pcapng) or the file's link (pcap).
type Interface struct {
	Index    int
	Name     string
	LinkType string
	Snaplen  uint32
	// Resolution of the timestamps: "s", "ms", "us", "ns", or "10^-N" /
	// "2^-N" for other pcapng resolutions.
	Resolution string
	Packets    uint64
	// Dropped is the capture's own drop count from a pcapng interface
	// statistics block (if_dropped + osdrop), nil when the file has none.
	Dropped *uint64
	// Supported is false when netdx cannot decode this link type.
	Supported bool
}

// Count is a number of packets with a reason.
type Count struct {
	Reason  string
	Packets uint64
}

// Totals sums every TCP flow, including evicted ones.
type Totals struct {
	TCPFlows, UDPFlows uint64
	TCP                Direction
	Reorder            Reorder
}

// Flow is one TCP or UDP conversation inside its encapsulation stack.
type Flow struct {
	// Proto is "tcp" or "udp".
	Proto string
	// Client and Server: the SYN's sender and receiver when the handshake
	// was seen; otherwise Client is the first packet's sender.
	Client, Server netip.AddrPort
	// Encap is the encapsulation stack, outermost first.
	Encap []Encap
	// OtherEncaps are the other stacks the flow was seen in: the
	// directions of an ERSPAN session under different GRE keys, a
	// connection that moved between a direct path and a tunnel.
	OtherEncaps [][]Encap
	First, Last time.Time
	// Handshake says the SYN and SYN/ACK were seen; Midstream that the
	// capture started after the flow did.
	Handshake, Midstream bool
	// HandshakeRTT is SYN to the ACK of the SYN/ACK (iRTT): the whole
	// round trip whatever the capture point. ClientRTT is SYN to SYN/ACK
	// (capture point to server and back), ServerRTT SYN/ACK to ACK. Each
	// is 0 when not measured: no handshake, or a SYN (ClientRTT) or
	// SYN/ACK (ServerRTT) sent again before it completed, which makes the
	// round trip ambiguous (Karn's rule); HandshakeRTT needs both.
	HandshakeRTT, ClientRTT, ServerRTT time.Duration
	// Dir[0] carries the client's data, Dir[1] the server's.
	Dir [2]Direction
	// Evicted says the flow was pushed out of a full flow table before
	// the end of the capture.
	Evicted bool
	// Tunnel is the innermost tunnel's index in Result.Tunnels, -1 none.
	Tunnel int
}

// Encap is one encapsulation layer of a flow.
type Encap struct {
	// Kind: "vlan", "mpls", "pppoe", "gre", "erspan", "vxlan", "geneve",
	// "4in4", "6in4", "4in6", "6in6".
	Kind  string
	ID    uint32
	HasID bool
	// Src and Dst are the tunnel's outer addresses (invalid for VLAN/MPLS),
	// in the client-to-server direction.
	Src, Dst netip.Addr
}

// Direction is what one side of a TCP flow sent: its data and how it was
// delivered, and its acknowledgements of the other side's data.
type Direction struct {
	Packets, Bytes uint64
	// Duplicates counts capture duplicates: the same frame seen again
	// within a moment (SPAN, -i any, several taps). They are left out of
	// every other count.
	Duplicates uint64
	// DataPackets counts frames with payload; Segments the wire-size
	// segments they stand for (a TSO/GSO/GRO frame larger than the MSS
	// counts as several); GSOFrames the frames larger than the MSS.
	DataPackets, Segments, GSOFrames uint64
	// PayloadBytes counts every payload byte; UniqueBytes the sequence
	// space the data covered, captured or acknowledged (goodput).
	PayloadBytes, UniqueBytes uint64
	// MSS is the segment size used to count segments: the peer's MSS
	// option less the timestamp option, or the largest segment seen.
	MSS           int
	WindowScale   int // -1 unknown (handshake not seen)
	SACKPermitted bool
	Timestamps    bool
	FirstData     time.Time
	LastData      time.Time
	// DeliveredFirst and DeliveredLast span the times UniqueBytes were
	// counted: data seen for the first time, or acknowledged by the
	// receiver without being captured (a capture that filtered most of a
	// transfer still has its acknowledgements). Goodput is UniqueBytes
	// over this span.
	DeliveredFirst, DeliveredLast time.Time
	Retransmission                Retransmission
	// Reorder measures the order this side's original segments arrived
	// in; nil when it sent no data.
	Reorder *Reorder
	// LostSegments counts segments whose original never appeared in the
	// capture and that the receiver did not acknowledge before they were
	// sent again, or that were never seen at all: lost upstream of the
	// capture point. LostBytes is their size.
	LostSegments, LostBytes uint64
	// NotCaptured counts segments the receiver acknowledged but the
	// capture never saw: missed by the capture, not lost on the path.
	NotCapturedSegments, NotCapturedBytes uint64
	// LateDuplicates counts segments seen before that arrived again with
	// older timestamps or IP IDs than newer data: network duplicates.
	LateDuplicates uint64
	// Anomalies counts sequence or acknowledgement numbers that jumped
	// beyond any window (damaged or crafted packets, or a stretch the
	// capture missed): left out of every other count.
	Anomalies uint64
	// Decided counts, per kind of evidence, how the segments that filled
	// a hole were judged: late originals or retransmissions.
	Decided Decisions
	// Acknowledgements this side sent about the other side's data.
	DupACKs, SACKPackets, DSACKs uint64
	// ZeroWindows counts advertisements of a zero receive window;
	// ZeroWindowTime their total duration.
	ZeroWindows    uint64
	ZeroWindowTime time.Duration
	// WindowFull counts segments that filled the peer's advertised
	// window (sender limited by the receiver).
	WindowFull               uint64
	KeepAlives, WindowProbes uint64
	// RTT holds data-to-ACK samples: from the capture point to this
	// side's peer and back.
	RTT RTT
	// Outer attributes this side's late originals inside a tunnel with
	// an outer sequence: was the outer order already inverted?
	Outer Attribution
}

// Retransmission counts data sent again.
type Retransmission struct {
	// Packets counts wire-size segments, Frames captured frames, Bytes
	// the payload bytes sent again.
	Packets, Frames, Bytes uint64
	// Timeout (RTO or tail-loss probe: no loss signal from the receiver
	// just before) and Fast (after duplicate ACKs or SACK) split Packets.
	Timeout, Fast uint64
	// Spurious counts retransmitted segments the receiver already had,
	// proven by an ACK or SACK already covering them (ByACK), a D-SACK
	// (ByDSACK), or the original arriving after all (ByLateOriginal).
	Spurious, ByACK, ByDSACK, ByLateOriginal uint64
	// AfterReordering counts spurious ones whose original arrived late.
	AfterReordering uint64
	// FullSize counts retransmitted segments of the full MSS; Repeated
	// those of a range already retransmitted before.
	FullSize, Repeated uint64
	// SYN counts retransmitted SYNs and SYN/ACKs (in Packets and Timeout).
	SYN uint64
}

// Decisions tallies the evidence that decided hole-filling segments.
type Decisions struct {
	ReorderedByTSval, ReorderedByIPID, ReorderedByTiming             uint64
	RetransmittedByTSval, RetransmittedByIPID, RetransmittedByTiming uint64
	// Undecided counts hole-filling segments nothing decided: no TCP
	// timestamps, IPv4 IDs that are absent, 0 or random, and no round
	// trip. They are neither reordered nor retransmitted (nor lost).
	Undecided uint64
}

// Attribution splits late originals inside a tunnel by what the outer
// header's sequence says: Underlay when the outer order is inverted too
// (reordered after encapsulation, by the underlay or the tunnel's sender),
// BeforeEncap when the outer order is intact (already reordered when
// encapsulated), Unknown without a usable outer sequence.
type Attribution struct {
	Underlay, BeforeEncap, Unknown uint64
}

// RTT summarises round-trip samples.
type RTT struct {
	Samples        uint64
	Min, Max, Mean time.Duration
	sum            time.Duration
}

func (r *RTT) add(d time.Duration) {
	if d < 0 {
		return
	}
	if r.Samples == 0 || d < r.Min {
		r.Min = d
	}
	r.Max = max(r.Max, d)
	r.Samples++
	r.sum += d
	r.Mean = r.sum / time.Duration(r.Samples)
}

// Tunnel is one tunnel between two outer endpoints.
type Tunnel struct {
	// Kind: "vxlan", "geneve", "gre", "erspan", "4in4", "6in4", "4in6",
	// "6in6", "wireguard", "esp".
	Kind  string
	ID    uint32
	HasID bool
	// A and B are the outer endpoints, A the first seen sender.
	A, B netip.Addr
	// Encap is the stack outside the tunnel (VLANs, outer tunnels).
	Encap  []Encap
	Dir    [2]TunnelDir
	Flows  uint64
	Inner  Direction // inner TCP totals, both directions
	First  time.Time
	Last   time.Time
	Parent int // index of the enclosing tunnel in Result.Tunnels, -1 none
}

// TunnelDir is one direction of a tunnel, A to B or B to A.
type TunnelDir struct {
	Packets, Bytes uint64
	// SeqSource names the outer sequence measured: "wireguard counter",
	// "esp sequence", "gre sequence", "outer ipv4 id" or "".
	SeqSource string
	// Sessions counts WireGuard receiver indexes or ESP SPIs; SessionList
	// describes up to MaxSessionList of them in order of first packet.
	Sessions    uint64
	SessionList []Session
	// Seq measures the outer sequence (counters, sequence numbers): lost
	// counters, replays and reordering. Nil without a counted sequence.
	Seq *SeqStats
	// IDInOrder and IDOutOfOrder judge the outer IPv4 ID as a sequence:
	// consecutive packets whose ID went up by 1 to 64, or went back.
	IDInOrder, IDOutOfOrder uint64
	// Handshakes counts WireGuard handshake and cookie messages.
	Handshakes uint64
}

// MaxSessionList bounds TunnelDir.SessionList.
const MaxSessionList = 256

// Session is one WireGuard receiver index or ESP SPI with the range of its
// counters or sequence numbers.
type Session struct {
	ID                 uint32
	FirstSeq, LastSeq  int64 // lowest and highest counter seen
	Packets, Lost      uint64
	Reordered, Replays uint64
	First, Last        time.Time
}

// SeqStats measures a per-packet sequence that is never retransmitted:
// a WireGuard counter, an ESP or GRE sequence number.
type SeqStats struct {
	Packets uint64
	// Lost counts sequence numbers never seen (gaps never filled).
	Lost uint64
	// Replays counts numbers seen again later (not capture duplicates);
	// Duplicates the capture duplicates.
	Replays, Duplicates uint64
	// Anomalies counts numbers that jumped ahead by more than a million
	// (maxCounterJump): left out, not counted as lost.
	Anomalies uint64
	Reorder   Reorder
}
