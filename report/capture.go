package report

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/netdx/netdx/capture"
)

// Capture is the JSON form of one analysed capture file. docs/pcap.md
// describes every field.
type Capture struct {
	// File is the file name as given; stdin for -.
	File string `json:"file"`
	// Format is the file format: pcap or pcapng.
	Format string `json:"format"`
	// Compressed is true when the input was gzip-compressed.
	Compressed bool `json:"compressed"`
	// TimestampResolution is the first interface's: "us", "ns", or
	// another pcapng resolution ("ms", "10^-4", "2^-20").
	TimestampResolution string `json:"timestamp_resolution"`
	// Complete is false when reading stopped early; warnings say why.
	Complete bool `json:"complete"`
	// Interfaces are the capturing interfaces (one for pcap).
	Interfaces []CaptureInterface `json:"interfaces"`
	// FirstPacketAt is the first record's time (RFC 3339); absent without
	// records.
	FirstPacketAt *time.Time `json:"first_packet_at,omitempty"`
	// LastPacketAt is the last record's time (RFC 3339); absent without records.
	LastPacketAt *time.Time `json:"last_packet_at,omitempty"`
	// DurationS is the time from the first to the last record, in seconds.
	DurationS float64 `json:"duration_s"`

	// Packets counts the records read.
	Packets uint64 `json:"packets"`
	// Bytes sums the records' original lengths on the wire, in bytes.
	Bytes uint64 `json:"bytes"`
	// CapturedBytes sums what the file stored of them, in bytes.
	CapturedBytes uint64 `json:"captured_bytes"`
	// SnapTruncatedPackets counts records stored shorter than on the wire (their
	// true lengths come from the headers).
	SnapTruncatedPackets uint64 `json:"snap_truncated_packets"`
	// OverlongPackets counts frames whose IP header claims more than the record's
	// original length (a tool trimmed them): the IP length was used.
	OverlongPackets uint64 `json:"overlong_packets"`
	// FilteredPackets counts packets left out by --host, --port or --flow.
	FilteredPackets uint64 `json:"filtered_packets"`
	// TCPPackets counts TCP packets after decapsulation.
	TCPPackets uint64 `json:"tcp_packets"`
	// UDPPackets counts UDP packets after decapsulation (WireGuard and ESP
	// packets are in neither).
	UDPPackets uint64 `json:"udp_packets"`
	// OtherIPPackets counts IP packets of other protocols.
	OtherIPPackets uint64 `json:"other_ip_packets"`
	// NonIPPackets counts frames that are not IP (ARP, LLDP...).
	NonIPPackets uint64 `json:"non_ip_packets"`
	// FragmentPackets counts IP fragments.
	FragmentPackets uint64 `json:"fragment_packets"`
	// Undecoded counts frames decoding stopped short on, by reason.
	Undecoded []CaptureCount `json:"undecoded"`

	// FlowsTotal counts every flow seen.
	FlowsTotal uint64 `json:"flows_total"`
	// FlowsEvicted counts flows pushed out of a full flow table (their counts are
	// in totals).
	FlowsEvicted uint64 `json:"flows_evicted"`
	// FlowsListed is the number of entries in flows.
	FlowsListed int `json:"flows_listed"`
	// TunnelsTotal is the number of entries in tunnels.
	TunnelsTotal int `json:"tunnels_total"`
	// Totals sums every TCP flow, evicted ones included.
	Totals CaptureTotals `json:"totals"`
	// Flows lists the worst flows first (--flows of them; all with --flows 0).
	Flows []CaptureFlow `json:"flows"`
	// Tunnels lists every tunnel between two outer endpoints.
	Tunnels []CaptureTunnel `json:"tunnels"`
}

// CaptureInterface is one capturing interface.
type CaptureInterface struct {
	// Index is the interface's position in the file.
	Index int `json:"index"`
	// Name is the interface name a pcapng file records.
	Name string `json:"name,omitempty"`
	// LinkType is the link layer (ETHERNET, LINUX_SLL, LINUX_SLL2, RAW...).
	LinkType string `json:"link_type"`
	// Snaplen is the largest record length captured, in bytes.
	Snaplen uint32 `json:"snaplen"`
	// TimestampResolution is us, ns, or another pcapng resolution (ms, 10^-4,
	// 2^-20).
	TimestampResolution string `json:"timestamp_resolution"`
	// Packets counts the records of this interface.
	Packets uint64 `json:"packets"`
	// DroppedPackets is the capture's own drop count from a pcapng
	// interface statistics block; absent when the file has none.
	DroppedPackets *uint64 `json:"dropped_packets,omitempty"`
	// Supported is false for a link type netdx cannot decode (its records are
	// left out).
	Supported bool `json:"supported"`
}

// CaptureCount is a number of packets with a reason.
type CaptureCount struct {
	// Reason is "layer: why".
	Reason string `json:"reason"`
	// Packets counts the packets with that reason.
	Packets uint64 `json:"packets"`
}

// CaptureTotals sums every TCP flow of the capture, evicted ones included.
// The names of the first fields are a contract for scripts.
type CaptureTotals struct {
	// RetransmittedPackets counts retransmitted wire-size segments, SYN
	// retransmissions included.
	RetransmittedPackets uint64 `json:"retransmitted_packets"`
	// RetransmittedBytes is the payload sent again, in bytes.
	RetransmittedBytes uint64 `json:"retransmitted_bytes"`
	// SpuriousRetransmissions counts retransmitted segments proven unnecessary.
	SpuriousRetransmissions uint64 `json:"spurious_retransmissions"`
	// ReorderedPackets counts RFC 4737 reordered original segments.
	ReorderedPackets uint64 `json:"reordered_packets"`
	// LostSegments counts segments lost before the capture point (holes never
	// filled by their original).
	LostSegments uint64 `json:"lost_segments"`
	// TimeoutRetransmissions counts retransmissions after a retransmission
	// timeout.
	TimeoutRetransmissions uint64 `json:"timeout_retransmissions"`
	// FastRetransmissions counts retransmissions after duplicate ACKs or SACKs.
	FastRetransmissions uint64 `json:"fast_retransmissions"`
	// RetransmittedRatio is retransmitted_packets / data_segments, a fraction
	// (0.015 = 1.5%).
	RetransmittedRatio float64 `json:"retransmitted_ratio"`
	// ReorderedRatio is reordered_packets / original segments, a fraction.
	ReorderedRatio float64 `json:"reordered_ratio"`
	// NotCapturedSegments counts segments acknowledged by the receiver but never
	// captured.
	NotCapturedSegments uint64 `json:"not_captured_segments"`
	// CaptureDuplicates counts TCP frames captured twice.
	CaptureDuplicates uint64 `json:"capture_duplicates"`
	// TCPFlows counts TCP flows.
	TCPFlows uint64 `json:"tcp_flows"`
	// UDPFlows counts UDP flows.
	UDPFlows uint64 `json:"udp_flows"`
	// DataSegments counts wire-size data segments, retransmissions included.
	DataSegments uint64 `json:"data_segments"`
	// PayloadBytes is all TCP payload, retransmissions included, in bytes.
	PayloadBytes uint64 `json:"payload_bytes"`
	// TCP holds every per-direction counter summed over all flows.
	TCP CaptureDirection `json:"tcp"`
}

// CaptureFlow is one TCP or UDP flow.
type CaptureFlow struct {
	// ID names the flow: encapsulation, protocol, client > server.
	ID string `json:"id"`
	// Protocol is tcp or udp.
	Protocol string `json:"protocol"`
	// Client is the SYN's sender (address:port); without a handshake, the first
	// packet's sender.
	Client string `json:"client"`
	// Server is the other end (address:port).
	Server string `json:"server"`
	// Encapsulation lists the layers around the flow, outermost first.
	Encapsulation []CaptureEncap `json:"encapsulation"`
	// OtherEncapsulations lists the other stacks the flow was seen in (the
	// directions of an ERSPAN session under different GRE keys, a
	// connection moving between a direct path and a tunnel); absent when
	// none.
	OtherEncapsulations [][]CaptureEncap `json:"other_encapsulations,omitempty"`
	// Tunnel indexes Capture.Tunnels: the innermost tunnel around the flow.
	Tunnel *int `json:"tunnel,omitempty"`
	// FirstPacketAt is the flow's first packet time (RFC 3339).
	FirstPacketAt time.Time `json:"first_packet_at"`
	// LastPacketAt is the flow's last packet time (RFC 3339).
	LastPacketAt time.Time `json:"last_packet_at"`
	// DurationS is the flow's time span, in seconds.
	DurationS float64 `json:"duration_s"`
	// Handshake is true when the SYN, SYN/ACK and their ACK were seen.
	Handshake bool `json:"handshake"`
	// Midstream is true when the capture started after the flow did.
	Midstream bool `json:"midstream"`
	// Evicted is true when the flow left a full flow table before the end.
	Evicted bool `json:"evicted"`
	// ProblemShare ranks flows: retransmitted, reordered and lost
	// segments over data segments plus 10.
	ProblemShare float64 `json:"problem_share"`
	// HandshakeRTTMs is SYN to the ACK of the SYN/ACK: the whole path's round
	// trip, in milliseconds; with a handshake only, and absent when a SYN or
	// SYN/ACK was sent again before it completed (Karn's rule).
	HandshakeRTTMs *float64 `json:"handshake_rtt_ms,omitempty"`
	// ClientRTTMs is SYN to SYN/ACK: the capture point to the server and back, in
	// milliseconds; absent when a SYN was sent again.
	ClientRTTMs *float64 `json:"client_rtt_ms,omitempty"`
	// ServerRTTMs is SYN/ACK to its ACK: the capture point to the client and
	// back, in milliseconds; absent when a SYN/ACK was sent again.
	ServerRTTMs *float64 `json:"server_rtt_ms,omitempty"`
	// Directions are [0] client to server and [1] server to client.
	Directions []CaptureDirection `json:"directions"`
}

// CaptureEncap is one encapsulation layer, outermost first.
type CaptureEncap struct {
	// Type is vlan, mpls, pppoe, gre, erspan, vxlan, geneve, 4in4, 6in4, 4in6 or
	// 6in6.
	Type string `json:"type"`
	// ID is the VLAN ID, top MPLS label, PPPoE session, GRE key, VNI or ERSPAN
	// session; absent when none.
	ID *uint32 `json:"id,omitempty"`
	// Src is a tunnel's outer source address as first seen.
	Src string `json:"src,omitempty"`
	// Dst is a tunnel's outer destination address as first seen.
	Dst string `json:"dst,omitempty"`
}

// CaptureDirection is what one side of a TCP flow sent.
type CaptureDirection struct {
	// From is the sending endpoint; absent in sums.
	From string `json:"from,omitempty"`
	// To is the receiving endpoint; absent in sums.
	To string `json:"to,omitempty"`

	// Packets counts frames this side sent (capture duplicates left out).
	Packets uint64 `json:"packets"`
	// Bytes is those frames' wire bytes.
	Bytes uint64 `json:"bytes"`
	// CaptureDuplicates counts frames of this side captured twice.
	CaptureDuplicates uint64 `json:"capture_duplicates"`
	// DataPackets counts frames with payload.
	DataPackets uint64 `json:"data_packets"`
	// DataSegments counts the wire-size segments they stand for (a GSO frame
	// counts as its segments).
	DataSegments uint64 `json:"data_segments"`
	// GSOFrames counts frames larger than the MSS (captured before segmentation).
	GSOFrames uint64 `json:"gso_frames"`
	// PayloadBytes is all payload sent, in bytes.
	PayloadBytes uint64 `json:"payload_bytes"`
	// UniqueBytes is the sequence space the payload covered, captured or
	// acknowledged by the receiver, in bytes.
	UniqueBytes uint64 `json:"unique_bytes"`
	// GoodputBps is unique bytes per second over the time they were seen or
	// acknowledged, in bits per second.
	GoodputBps float64 `json:"goodput_bps"`
	// MSS is the full segment payload size used for segment counts, in bytes.
	MSS int `json:"mss"`
	// WindowScale is this side's window scale; absent when the handshake was not
	// seen.
	WindowScale *int `json:"window_scale,omitempty"`
	// SACKPermitted is true when SACK was negotiated.
	SACKPermitted bool `json:"sack_permitted"`
	// Timestamps is true when TCP timestamps were seen.
	Timestamps bool `json:"timestamps"`

	// RetransmittedPackets counts retransmitted wire-size segments.
	RetransmittedPackets uint64 `json:"retransmitted_packets"`
	// RetransmittedFrames counts frames carrying retransmissions.
	RetransmittedFrames uint64 `json:"retransmitted_frames"`
	// RetransmittedBytes is the payload sent again, in bytes.
	RetransmittedBytes uint64 `json:"retransmitted_bytes"`
	// TimeoutRetransmissions counts retransmissions after a timeout, in segments.
	TimeoutRetransmissions uint64 `json:"timeout_retransmissions"`
	// FastRetransmissions counts fast retransmissions, in segments.
	FastRetransmissions uint64 `json:"fast_retransmissions"`
	// SpuriousRetransmissions counts retransmissions proven unnecessary.
	SpuriousRetransmissions uint64 `json:"spurious_retransmissions"`
	// SpuriousByACK counts those proven by an ACK or SACK that already covered
	// the data.
	SpuriousByACK uint64 `json:"spurious_by_ack"`
	// SpuriousByDSACK counts those proven by the receiver's D-SACK.
	SpuriousByDSACK uint64 `json:"spurious_by_dsack"`
	// SpuriousByLateOriginal counts those proven by the original arriving after
	// all.
	SpuriousByLateOriginal uint64 `json:"spurious_by_late_original"`
	// SpuriousAfterReordering counts spurious ones whose original arrived late.
	SpuriousAfterReordering uint64 `json:"spurious_after_reordering"`
	// FullSizeRetransmissions counts retransmitted segments of at least the MSS.
	FullSizeRetransmissions uint64 `json:"full_size_retransmissions"`
	// RepeatedRetransmissions counts retransmissions of a range already
	// retransmitted.
	RepeatedRetransmissions uint64 `json:"repeated_retransmissions"`
	// SYNRetransmissions counts SYNs or SYN/ACKs sent again (included above as
	// timeouts).
	SYNRetransmissions uint64 `json:"syn_retransmissions"`
	// ReorderedPackets counts RFC 4737 reordered segments of this side.
	ReorderedPackets uint64 `json:"reordered_packets"`
	// LostSegments counts segments lost before the capture point.
	LostSegments uint64 `json:"lost_segments"`
	// LostBytes is their payload, in bytes.
	LostBytes uint64 `json:"lost_bytes"`
	// NotCapturedSegments counts segments acknowledged but never captured.
	NotCapturedSegments uint64 `json:"not_captured_segments"`
	// NotCapturedBytes is their payload, in bytes.
	NotCapturedBytes uint64 `json:"not_captured_bytes"`
	// LateDuplicates counts old copies of data already seen (network
	// duplication).
	LateDuplicates uint64 `json:"late_duplicates"`
	// SequenceAnomalies counts sequence or acknowledgement numbers that
	// jumped beyond any window (damaged or crafted packets, or a stretch the
	// capture missed); they are left out of every other count.
	SequenceAnomalies uint64 `json:"sequence_anomalies"`
	// HoleDecisions counts the verdicts on hole-filling segments by the evidence
	// that decided.
	HoleDecisions CaptureDecisions `json:"hole_decisions"`
	// Reordering holds the reordering metrics; absent when the side sent no data.
	Reordering *CaptureReorder `json:"reordering,omitempty"`
	// OuterOrder attributes late segments inside a tunnel by their outer order;
	// absent outside tunnels.
	OuterOrder *CaptureOuter `json:"outer_order,omitempty"`
	// DupACKs counts duplicate ACKs this side sent.
	DupACKs uint64 `json:"dup_acks"`
	// SACKPackets counts ACKs with SACK blocks this side sent.
	SACKPackets uint64 `json:"sack_packets"`
	// DSACKs counts D-SACK blocks this side sent.
	DSACKs uint64 `json:"dsacks"`
	// ZeroWindows counts zero-window advertisements.
	ZeroWindows uint64 `json:"zero_windows"`
	// ZeroWindowMs is their total duration, in milliseconds.
	ZeroWindowMs float64 `json:"zero_window_ms"`
	// WindowFull counts segments that filled the peer's advertised window.
	WindowFull uint64 `json:"window_full"`
	// KeepAlives counts TCP keep-alives.
	KeepAlives uint64 `json:"keep_alives"`
	// WindowProbes counts zero-window probes.
	WindowProbes uint64 `json:"window_probes"`
	// RTT summarises data round trips from the capture point through the peer and
	// back; absent without samples.
	RTT *CaptureRTT `json:"rtt,omitempty"`
}

// CaptureDecisions counts how hole-filling segments were judged, by the
// evidence that decided.
type CaptureDecisions struct {
	// TSval counts verdicts decided by TCP timestamps.
	TSval CaptureDecision `json:"tsval"`
	// IPID counts verdicts decided by IPv4 IDs.
	IPID CaptureDecision `json:"ip_id"`
	// Timing counts verdicts decided by timing against the round trip.
	Timing CaptureDecision `json:"timing"`
	// DupThresh is always zero since schema 1.1: the duplicate-ACK threshold
	// alone no longer decides (see undecided).
	DupThresh CaptureDecision `json:"dupthresh"`
	// Undecided counts hole-filling segments no evidence decided (no TCP
	// timestamps, IPv4 IDs absent, 0 or random, no round trip): neither
	// reordered nor retransmitted.
	Undecided uint64 `json:"undecided"`
}

// CaptureDecision splits one kind of evidence's verdicts.
type CaptureDecision struct {
	// Reordered counts segments judged late originals.
	Reordered uint64 `json:"reordered"`
	// Retransmitted counts segments judged retransmissions.
	Retransmitted uint64 `json:"retransmitted"`
}

// CaptureOuter attributes late originals inside a tunnel.
type CaptureOuter struct {
	// Underlay counts late segments whose outer order was inverted too: reordered
	// after encapsulation.
	Underlay uint64 `json:"underlay"`
	// BeforeEncapsulation counts late segments in order outside: reordered before
	// encapsulation.
	BeforeEncapsulation uint64 `json:"before_encapsulation"`
	// Unknown counts late segments without a usable outer sequence.
	Unknown uint64 `json:"unknown"`
}

// CaptureRTT summarises round-trip samples in milliseconds.
type CaptureRTT struct {
	// Samples counts the round trips measured.
	Samples uint64 `json:"samples"`
	// MinMs is the shortest, in milliseconds.
	MinMs float64 `json:"min_ms"`
	// MeanMs is the mean, in milliseconds.
	MeanMs float64 `json:"mean_ms"`
	// MaxMs is the longest, in milliseconds.
	MaxMs float64 `json:"max_ms"`
}

// CaptureReorder holds the reordering metrics of one stream.
type CaptureReorder struct {
	// Packets counts the stream's packets in arrival order (retransmissions and
	// duplicates are not part of it).
	Packets uint64 `json:"packets"`
	// ReorderedPackets counts RFC 4737 reordered packets: each arrived after one
	// sent later.
	ReorderedPackets uint64 `json:"reordered_packets"`
	// Ratio is reordered_packets / packets, a fraction.
	Ratio float64 `json:"ratio"`
	// ExtentMax is the largest RFC 4737 reordering extent, in packets.
	ExtentMax uint64 `json:"extent_max"`
	// ExtentMean is the mean extent, in packets.
	ExtentMean float64 `json:"extent_mean"`
	// ExtentHistogram buckets RFC 4737 extents; To is absent on the last.
	ExtentHistogram []CaptureBucket `json:"extent_histogram"`
	// NReordering counts RFC 4737 n-reordered packets by n, exact up to 16.
	NReordering []CaptureNCount `json:"n_reordering"`
	// Density is RFC 5236's reorder density: the share of packets at
	// each displacement; DensityBeyondThreshold counts packets later than
	// the threshold, left out as the RFC says.
	Density []CaptureDensity `json:"density"`
	// DensityThreshold is RFC 5236's DT: displacements from -DT to DT are counted
	// (8).
	DensityThreshold int `json:"density_threshold"`
	// DensityBeyondThreshold counts packets displaced by more than DT, left out
	// of density.
	DensityBeyondThreshold uint64 `json:"density_beyond_threshold"`
	// LateMsMax is the longest a late packet arrived after the packet that
	// overtook it, in milliseconds.
	LateMsMax float64 `json:"late_ms_max"`
	// LateMsMean is the mean of that time, in milliseconds.
	LateMsMean float64 `json:"late_ms_mean"`
	// LateTimeHistogram buckets that time: below 0.1, 1, 10, 100 and 1000 ms,
	// then the rest.
	LateTimeHistogram []CaptureTimeBucket `json:"late_time_histogram"`
	// LateSmaller counts late packets with less payload than the packet that
	// overtook them.
	LateSmaller uint64 `json:"late_smaller_than_overtaker"`
	// LateLarger counts late packets with more payload than the packet that
	// overtook them.
	LateLarger uint64 `json:"late_larger_than_overtaker"`
	// LateSameSize counts late packets as large as the packet that overtook them.
	LateSameSize uint64 `json:"late_same_size"`
}

// CaptureBucket is a histogram bucket [From, To].
type CaptureBucket struct {
	// From is the bucket's first extent, in packets.
	From uint64 `json:"from"`
	// To is its last, in packets; absent on the open last bucket.
	To *uint64 `json:"to,omitempty"`
	// Packets counts the packets in the bucket.
	Packets uint64 `json:"packets"`
}

// CaptureTimeBucket is a histogram bucket [FromMs, ToMs).
type CaptureTimeBucket struct {
	// FromMs is the bucket's lower bound, in milliseconds.
	FromMs float64 `json:"from_ms"`
	// ToMs is its upper bound (excluded), in milliseconds; absent on the open
	// last bucket.
	ToMs *float64 `json:"to_ms,omitempty"`
	// Packets counts the packets in the bucket.
	Packets uint64 `json:"packets"`
}

// CaptureNCount counts n-reordered packets; OrMore marks the last bucket.
type CaptureNCount struct {
	// N is n of n-reordering.
	N int `json:"n"`
	// OrMore marks the last bucket: n or more.
	OrMore bool `json:"or_more,omitempty"`
	// Packets counts the n-reordered packets.
	Packets uint64 `json:"packets"`
}

// CaptureDensity is one point of the reorder density.
type CaptureDensity struct {
	// Displacement is arrival position minus sending position (-8 to 8).
	Displacement int `json:"displacement"`
	// Packets counts the packets so displaced.
	Packets uint64 `json:"packets"`
	// Fraction is their share of the packets judged.
	Fraction float64 `json:"fraction"`
}

// CaptureTunnel is one tunnel between two outer endpoints.
type CaptureTunnel struct {
	// Index is the tunnel's position, referenced by flows[].tunnel and parent.
	Index int `json:"index"`
	// Type is vxlan, geneve, gre, erspan, 4in4, 6in4, 4in6, 6in6, wireguard or
	// esp.
	Type string `json:"type"`
	// ID is the VNI or GRE key; absent when none.
	ID *uint32 `json:"id,omitempty"`
	// A is the outer endpoint that sent the first packet seen.
	A string `json:"a"`
	// B is the other outer endpoint.
	B string `json:"b"`
	// Encapsulation lists the layers outside the tunnel (VLANs, outer tunnels),
	// outermost first.
	Encapsulation []CaptureEncap `json:"encapsulation"`
	// Parent is the index of an enclosing tunnel; absent when none.
	Parent *int `json:"parent,omitempty"`
	// Flows counts the inner flows.
	Flows uint64 `json:"flows"`
	// FirstPacketAt is the tunnel's first packet time (RFC 3339).
	FirstPacketAt time.Time `json:"first_packet_at"`
	// LastPacketAt is its last packet time (RFC 3339).
	LastPacketAt time.Time `json:"last_packet_at"`
	// Directions are [0] a to b and [1] b to a.
	Directions []CaptureTunnelDirection `json:"directions"`
	// Inner sums the TCP flows inside the tunnel, both directions.
	Inner CaptureDirection `json:"inner"`
}

// CaptureTunnelDirection is one direction of a tunnel.
type CaptureTunnelDirection struct {
	// From is the sending outer endpoint.
	From string `json:"from"`
	// To is the receiving outer endpoint.
	To string `json:"to"`
	// Packets counts the outer packets.
	Packets uint64 `json:"packets"`
	// Bytes is their wire bytes.
	Bytes uint64 `json:"bytes"`
	// SequenceSource names the outer sequence read: wireguard counter, esp
	// sequence or gre sequence; absent when none.
	SequenceSource string `json:"sequence_source,omitempty"`
	// Sessions counts WireGuard receiver indexes or ESP SPIs.
	Sessions uint64 `json:"sessions"`
	// SessionList has each session (up to 256).
	SessionList []CaptureSession `json:"session_list,omitempty"`
	// Sequence measures the outer sequence; absent without one.
	Sequence *CaptureSequence `json:"sequence,omitempty"`
	// OuterIPIDInOrder counts consecutive outer IPv4 IDs going up by 1 to 64.
	OuterIPIDInOrder uint64 `json:"outer_ip_id_in_order"`
	// OuterIPIDOutOfOrder counts consecutive outer IPv4 IDs going back.
	OuterIPIDOutOfOrder uint64 `json:"outer_ip_id_out_of_order"`
	// Handshakes counts WireGuard handshake and cookie messages.
	Handshakes uint64 `json:"handshakes"`
}

// CaptureSession is one WireGuard receiver index or ESP SPI.
type CaptureSession struct {
	// ID is the receiver index or SPI.
	ID uint32 `json:"id"`
	// FirstSeq is the lowest counter seen.
	FirstSeq int64 `json:"first_seq"`
	// LastSeq is the highest counter seen.
	LastSeq int64 `json:"last_seq"`
	// Packets counts the session's packets.
	Packets uint64 `json:"packets"`
	// Lost counts counters never seen.
	Lost uint64 `json:"lost"`
	// ReorderedPackets counts RFC 4737 reordered packets.
	ReorderedPackets uint64 `json:"reordered_packets"`
	// Replays counts counters seen twice, apart in time.
	Replays uint64 `json:"replays"`
	// FirstPacketAt is the session's first packet time (RFC 3339).
	FirstPacketAt time.Time `json:"first_packet_at"`
	// LastPacketAt is its last packet time (RFC 3339).
	LastPacketAt time.Time `json:"last_packet_at"`
}

// CaptureSequence measures an outer per-packet sequence.
type CaptureSequence struct {
	// Packets counts the packets with a sequence number.
	Packets uint64 `json:"packets"`
	// Lost counts sequence numbers never seen.
	Lost uint64 `json:"lost"`
	// Replays counts sequence numbers seen twice, apart in time.
	Replays uint64 `json:"replays"`
	// CaptureDuplicates counts sequence numbers seen again within 1 ms (capture
	// duplicates).
	CaptureDuplicates uint64 `json:"capture_duplicates"`
	// Anomalies counts sequence numbers that jumped ahead by more than a
	// million (damaged or crafted packets): left out, not counted as lost.
	Anomalies uint64 `json:"anomalies"`
	// ReorderedPackets counts RFC 4737 reordered packets.
	ReorderedPackets uint64 `json:"reordered_packets"`
	// Reordering holds the outer sequence's reordering metrics.
	Reordering *CaptureReorder `json:"reordering"`
}

// NewCapture converts an analysed capture into its JSON form, listing at
// most maxFlows flows (worst first; 0 lists them all).
func NewCapture(r *capture.Result, maxFlows int) Capture {
	c := Capture{
		File: r.Name, Format: r.Format, Compressed: r.Gzip, Complete: r.Complete,
		Interfaces: []CaptureInterface{}, Packets: r.Packets, Bytes: r.Bytes, CapturedBytes: r.CapturedBytes,
		SnapTruncatedPackets: r.SnapTruncated, OverlongPackets: r.Overlong, FilteredPackets: r.Filtered,
		TCPPackets: r.TCPPackets, UDPPackets: r.UDPPackets, OtherIPPackets: r.OtherIPPackets,
		NonIPPackets: r.NonIPPackets, FragmentPackets: r.Fragments, Undecoded: []CaptureCount{},
		FlowsTotal: r.FlowsSeen, FlowsEvicted: r.FlowsEvicted, TunnelsTotal: len(r.Tunnels),
		Flows: []CaptureFlow{}, Tunnels: []CaptureTunnel{},
	}
	for _, i := range r.Interfaces {
		c.Interfaces = append(c.Interfaces, CaptureInterface{Index: i.Index, Name: i.Name, LinkType: i.LinkType,
			Snaplen: i.Snaplen, TimestampResolution: i.Resolution, Packets: i.Packets, DroppedPackets: i.Dropped,
			Supported: i.Supported})
	}
	if len(c.Interfaces) > 0 {
		c.TimestampResolution = c.Interfaces[0].TimestampResolution
	}
	if !r.First.IsZero() {
		first, last := r.First, r.Last
		c.FirstPacketAt, c.LastPacketAt = &first, &last
		c.DurationS = capSeconds(last.Sub(first))
	}
	for _, u := range r.Undecoded {
		c.Undecoded = append(c.Undecoded, CaptureCount{Reason: u.Reason, Packets: u.Packets})
	}
	t := &r.Totals.TCP
	c.Totals = CaptureTotals{
		RetransmittedPackets:    t.Retransmission.Packets,
		RetransmittedBytes:      t.Retransmission.Bytes,
		SpuriousRetransmissions: t.Retransmission.Spurious,
		ReorderedPackets:        r.Totals.Reorder.Reordered,
		LostSegments:            t.LostSegments,
		TimeoutRetransmissions:  t.Retransmission.Timeout,
		FastRetransmissions:     t.Retransmission.Fast,
		RetransmittedRatio:      shareOf(t.Retransmission.Packets, t.Segments),
		ReorderedRatio:          Round(r.Totals.Reorder.Ratio(), 6),
		NotCapturedSegments:     t.NotCapturedSegments,
		CaptureDuplicates:       t.Duplicates,
		TCPFlows:                r.Totals.TCPFlows,
		UDPFlows:                r.Totals.UDPFlows,
		DataSegments:            t.Segments,
		PayloadBytes:            t.PayloadBytes,
		TCP:                     newCaptureDirection(t, "", ""),
	}
	for i, f := range r.Flows {
		if maxFlows > 0 && i >= maxFlows {
			break
		}
		c.Flows = append(c.Flows, newCaptureFlow(f))
	}
	c.FlowsListed = len(c.Flows)
	for i, tn := range r.Tunnels {
		c.Tunnels = append(c.Tunnels, newCaptureTunnel(i, tn))
	}
	return c
}

// FlowID names a flow for people and scripts: its encapsulation, protocol
// and endpoints ("vxlan 42 tcp 10.0.0.1:40000 > 10.0.0.2:443").
func FlowID(f *capture.Flow) string {
	var b strings.Builder
	for _, e := range f.Encap {
		b.WriteString(e.Kind)
		if e.HasID {
			b.WriteString(" " + strconv.FormatUint(uint64(e.ID), 10))
		}
		b.WriteString(" ")
	}
	b.WriteString(f.Proto + " " + f.Client.String() + " > " + f.Server.String())
	return b.String()
}

// TunnelID names a tunnel ("vxlan 42 198.18.10.1 - 198.18.10.2").
func TunnelID(t *capture.Tunnel) string {
	s := t.Kind
	if t.HasID {
		s += " " + strconv.FormatUint(uint64(t.ID), 10)
	}
	return s + " " + t.A.String() + " - " + t.B.String()
}

func newCaptureFlow(f *capture.Flow) CaptureFlow {
	out := CaptureFlow{
		ID: FlowID(f), Protocol: f.Proto, Client: f.Client.String(), Server: f.Server.String(),
		Encapsulation: newEncap(f.Encap), FirstPacketAt: f.First, LastPacketAt: f.Last,
		DurationS: capSeconds(f.Last.Sub(f.First)), Handshake: f.Handshake, Midstream: f.Midstream,
		Evicted: f.Evicted, ProblemShare: Round(f.Score(), 6),
	}
	if f.Tunnel >= 0 {
		i := f.Tunnel
		out.Tunnel = &i
	}
	for _, e := range f.OtherEncaps {
		out.OtherEncapsulations = append(out.OtherEncapsulations, newEncap(e))
	}
	if f.Handshake {
		out.HandshakeRTTMs, out.ClientRTTMs, out.ServerRTTMs = capRTTPtr(f.HandshakeRTT), capRTTPtr(f.ClientRTT), capRTTPtr(f.ServerRTT)
	}
	out.Directions = []CaptureDirection{
		newCaptureDirection(&f.Dir[0], f.Client.String(), f.Server.String()),
		newCaptureDirection(&f.Dir[1], f.Server.String(), f.Client.String()),
	}
	return out
}

func newEncap(es []capture.Encap) []CaptureEncap {
	out := []CaptureEncap{}
	for _, e := range es {
		x := CaptureEncap{Type: e.Kind}
		if e.HasID {
			id := e.ID
			x.ID = &id
		}
		if e.Src.IsValid() {
			x.Src, x.Dst = e.Src.String(), e.Dst.String()
		}
		out = append(out, x)
	}
	return out
}

func newCaptureDirection(d *capture.Direction, from, to string) CaptureDirection {
	R := &d.Retransmission
	x := CaptureDirection{
		From: from, To: to, Packets: d.Packets, Bytes: d.Bytes, CaptureDuplicates: d.Duplicates,
		DataPackets: d.DataPackets, DataSegments: d.Segments, GSOFrames: d.GSOFrames, PayloadBytes: d.PayloadBytes,
		UniqueBytes: d.UniqueBytes, MSS: d.MSS, SACKPermitted: d.SACKPermitted, Timestamps: d.Timestamps,
		RetransmittedPackets: R.Packets, RetransmittedFrames: R.Frames, RetransmittedBytes: R.Bytes,
		TimeoutRetransmissions: R.Timeout, FastRetransmissions: R.Fast, SpuriousRetransmissions: R.Spurious,
		SpuriousByACK: R.ByACK, SpuriousByDSACK: R.ByDSACK, SpuriousByLateOriginal: R.ByLateOriginal,
		SpuriousAfterReordering: R.AfterReordering, FullSizeRetransmissions: R.FullSize,
		RepeatedRetransmissions: R.Repeated, SYNRetransmissions: R.SYN,
		LostSegments: d.LostSegments, LostBytes: d.LostBytes, NotCapturedSegments: d.NotCapturedSegments,
		NotCapturedBytes: d.NotCapturedBytes, LateDuplicates: d.LateDuplicates, SequenceAnomalies: d.Anomalies,
		HoleDecisions: CaptureDecisions{
			TSval:     CaptureDecision{d.Decided.ReorderedByTSval, d.Decided.RetransmittedByTSval},
			IPID:      CaptureDecision{d.Decided.ReorderedByIPID, d.Decided.RetransmittedByIPID},
			Timing:    CaptureDecision{d.Decided.ReorderedByTiming, d.Decided.RetransmittedByTiming},
			Undecided: d.Decided.Undecided,
		},
		DupACKs: d.DupACKs, SACKPackets: d.SACKPackets, DSACKs: d.DSACKs, ZeroWindows: d.ZeroWindows,
		ZeroWindowMs: Millis(d.ZeroWindowTime), WindowFull: d.WindowFull, KeepAlives: d.KeepAlives, WindowProbes: d.WindowProbes,
	}
	if d.WindowScale >= 0 {
		ws := d.WindowScale
		x.WindowScale = &ws
	}
	if span := d.DeliveredLast.Sub(d.DeliveredFirst); span > 0 {
		x.GoodputBps = Round(float64(d.UniqueBytes)*8/span.Seconds(), 0)
	}
	if d.Reorder != nil {
		x.ReorderedPackets = d.Reorder.Reordered
		x.Reordering = newCaptureReorder(d.Reorder)
	}
	if o := d.Outer; o.Underlay+o.BeforeEncap+o.Unknown > 0 {
		x.OuterOrder = &CaptureOuter{Underlay: o.Underlay, BeforeEncapsulation: o.BeforeEncap, Unknown: o.Unknown}
	}
	if d.RTT.Samples > 0 {
		x.RTT = &CaptureRTT{Samples: d.RTT.Samples, MinMs: Millis(d.RTT.Min), MeanMs: Millis(d.RTT.Mean), MaxMs: Millis(d.RTT.Max)}
	}
	return x
}

func newCaptureReorder(r *capture.Reorder) *CaptureReorder {
	x := &CaptureReorder{
		Packets: r.Packets, ReorderedPackets: r.Reordered, Ratio: Round(r.Ratio(), 6), ExtentMax: r.ExtentMax,
		ExtentHistogram: []CaptureBucket{}, NReordering: []CaptureNCount{}, Density: []CaptureDensity{},
		DensityThreshold: capture.DensityThreshold, DensityBeyondThreshold: r.DensityBeyond,
		LateMsMax: Millis(r.LateTimeMax), LateTimeHistogram: []CaptureTimeBucket{},
		LateSmaller: r.LateSmaller, LateLarger: r.LateLarger, LateSameSize: r.LateSameSize,
	}
	if r.Reordered > 0 {
		x.ExtentMean = Round(float64(r.ExtentSum)/float64(r.Reordered), 3)
		x.LateMsMean = Millis(r.LateTimeSum / time.Duration(r.Reordered))
	}
	from := uint64(1)
	for i, n := range r.ExtentHist {
		b := CaptureBucket{From: from, Packets: n}
		if i < len(capture.ExtentBuckets) {
			to := capture.ExtentBuckets[i]
			b.To = &to
			from = to + 1
		}
		x.ExtentHistogram = append(x.ExtentHistogram, b)
	}
	for i, n := range r.NReordering {
		if n > 0 {
			x.NReordering = append(x.NReordering, CaptureNCount{N: i + 1, OrMore: i == len(r.NReordering)-1, Packets: n})
		}
	}
	var judged uint64
	for _, n := range r.Density {
		judged += n
	}
	for i, n := range r.Density {
		if n > 0 {
			x.Density = append(x.Density, CaptureDensity{Displacement: i - capture.DensityThreshold, Packets: n,
				Fraction: Round(float64(n)/float64(judged), 6)})
		}
	}
	fromMs := 0.0
	for i, n := range r.LateTimeHist {
		b := CaptureTimeBucket{FromMs: fromMs, Packets: n}
		if i < len(capture.LateTimeBuckets) {
			to := Millis(capture.LateTimeBuckets[i])
			b.ToMs = &to
			fromMs = to
		}
		x.LateTimeHistogram = append(x.LateTimeHistogram, b)
	}
	return x
}

func newCaptureTunnel(i int, t *capture.Tunnel) CaptureTunnel {
	x := CaptureTunnel{Index: i, Type: t.Kind, A: t.A.String(), B: t.B.String(), Encapsulation: newEncap(t.Encap),
		Flows: t.Flows, FirstPacketAt: t.First, LastPacketAt: t.Last, Inner: newCaptureDirection(&t.Inner, "", "")}
	if t.HasID {
		id := t.ID
		x.ID = &id
	}
	if t.Parent >= 0 {
		p := t.Parent
		x.Parent = &p
	}
	ends := [2][2]netip.Addr{{t.A, t.B}, {t.B, t.A}}
	for k, d := range t.Dir {
		y := CaptureTunnelDirection{From: ends[k][0].String(), To: ends[k][1].String(), Packets: d.Packets, Bytes: d.Bytes,
			SequenceSource: d.SeqSource, Sessions: d.Sessions, OuterIPIDInOrder: d.IDInOrder,
			OuterIPIDOutOfOrder: d.IDOutOfOrder, Handshakes: d.Handshakes}
		for _, s := range d.SessionList {
			y.SessionList = append(y.SessionList, CaptureSession{ID: s.ID, FirstSeq: s.FirstSeq, LastSeq: s.LastSeq,
				Packets: s.Packets, Lost: s.Lost, ReorderedPackets: s.Reordered, Replays: s.Replays,
				FirstPacketAt: s.First, LastPacketAt: s.Last})
		}
		if s := d.Seq; s != nil {
			y.Sequence = &CaptureSequence{Packets: s.Packets, Lost: s.Lost, Replays: s.Replays,
				CaptureDuplicates: s.Duplicates, Anomalies: s.Anomalies, ReorderedPackets: s.Reorder.Reordered,
				Reordering: newCaptureReorder(&s.Reorder)}
		}
		x.Directions = append(x.Directions, y)
	}
	return x
}

func capSeconds(d time.Duration) float64 { return Round(d.Seconds(), 6) }

// capRTTPtr is a measured round trip in milliseconds; nil when it was not
// measured (0).
func capRTTPtr(d time.Duration) *float64 {
	if d <= 0 {
		return nil
	}
	v := Millis(d)
	return &v
}

// shareOf is n/of as a share to six places, 0 when of is 0.
func shareOf(n, of uint64) float64 { return Round(Ratio(n, of), 6) }
