package report

import (
	"math"
	"net/netip"
	"strings"
	"time"

	"github.com/netdx/netdx/capture"
)

// Capture is the JSON form of one analysed capture file. docs/pcap.md
// describes every field.
type Capture struct {
	File       string `json:"file"`
	Format     string `json:"format"`
	Compressed bool   `json:"compressed"`
	// TimestampResolution is the first interface's: "us", "ns", or
	// another pcapng resolution ("ms", "10^-4", "2^-20").
	TimestampResolution string `json:"timestamp_resolution"`
	// Complete is false when reading stopped early; warnings say why.
	Complete      bool               `json:"complete"`
	Interfaces    []CaptureInterface `json:"interfaces"`
	FirstPacketAt *time.Time         `json:"first_packet_at,omitempty"`
	LastPacketAt  *time.Time         `json:"last_packet_at,omitempty"`
	DurationS     float64            `json:"duration_s"`

	Packets              uint64         `json:"packets"`
	Bytes                uint64         `json:"bytes"`
	CapturedBytes        uint64         `json:"captured_bytes"`
	SnapTruncatedPackets uint64         `json:"snap_truncated_packets"`
	OverlongPackets      uint64         `json:"overlong_packets"`
	FilteredPackets      uint64         `json:"filtered_packets"`
	TCPPackets           uint64         `json:"tcp_packets"`
	UDPPackets           uint64         `json:"udp_packets"`
	OtherIPPackets       uint64         `json:"other_ip_packets"`
	NonIPPackets         uint64         `json:"non_ip_packets"`
	FragmentPackets      uint64         `json:"fragment_packets"`
	Undecoded            []CaptureCount `json:"undecoded"`

	FlowsTotal   uint64          `json:"flows_total"`
	FlowsEvicted uint64          `json:"flows_evicted"`
	FlowsListed  int             `json:"flows_listed"`
	TunnelsTotal int             `json:"tunnels_total"`
	Totals       CaptureTotals   `json:"totals"`
	Flows        []CaptureFlow   `json:"flows"`
	Tunnels      []CaptureTunnel `json:"tunnels"`
}

// CaptureInterface is one capturing interface.
type CaptureInterface struct {
	Index               int    `json:"index"`
	Name                string `json:"name,omitempty"`
	LinkType            string `json:"link_type"`
	Snaplen             uint32 `json:"snaplen"`
	TimestampResolution string `json:"timestamp_resolution"`
	Packets             uint64 `json:"packets"`
	// DroppedPackets is the capture's own drop count from a pcapng
	// interface statistics block; absent when the file has none.
	DroppedPackets *uint64 `json:"dropped_packets,omitempty"`
	Supported      bool    `json:"supported"`
}

// CaptureCount is a number of packets with a reason.
type CaptureCount struct {
	Reason  string `json:"reason"`
	Packets uint64 `json:"packets"`
}

// CaptureTotals sums every TCP flow of the capture, evicted ones included.
// The names of the first fields are a contract for scripts.
type CaptureTotals struct {
	RetransmittedPackets    uint64  `json:"retransmitted_packets"`
	RetransmittedBytes      uint64  `json:"retransmitted_bytes"`
	SpuriousRetransmissions uint64  `json:"spurious_retransmissions"`
	ReorderedPackets        uint64  `json:"reordered_packets"`
	LostSegments            uint64  `json:"lost_segments"`
	TimeoutRetransmissions  uint64  `json:"timeout_retransmissions"`
	FastRetransmissions     uint64  `json:"fast_retransmissions"`
	RetransmittedRatio      float64 `json:"retransmitted_ratio"`
	ReorderedRatio          float64 `json:"reordered_ratio"`
	NotCapturedSegments     uint64  `json:"not_captured_segments"`
	CaptureDuplicates       uint64  `json:"capture_duplicates"`
	TCPFlows                uint64  `json:"tcp_flows"`
	UDPFlows                uint64  `json:"udp_flows"`
	DataSegments            uint64  `json:"data_segments"`
	PayloadBytes            uint64  `json:"payload_bytes"`
	// TCP holds every per-direction counter summed over all flows.
	TCP CaptureDirection `json:"tcp"`
}

// CaptureFlow is one TCP or UDP flow.
type CaptureFlow struct {
	// ID names the flow: encapsulation, protocol, client > server.
	ID            string         `json:"id"`
	Protocol      string         `json:"protocol"`
	Client        string         `json:"client"`
	Server        string         `json:"server"`
	Encapsulation []CaptureEncap `json:"encapsulation"`
	// Tunnel indexes Capture.Tunnels: the innermost tunnel around the flow.
	Tunnel        *int      `json:"tunnel,omitempty"`
	FirstPacketAt time.Time `json:"first_packet_at"`
	LastPacketAt  time.Time `json:"last_packet_at"`
	DurationS     float64   `json:"duration_s"`
	Handshake     bool      `json:"handshake"`
	Midstream     bool      `json:"midstream"`
	Evicted       bool      `json:"evicted"`
	// ProblemShare ranks flows: retransmitted, reordered and lost
	// segments over data segments plus 10.
	ProblemShare   float64            `json:"problem_share"`
	HandshakeRTTMs *float64           `json:"handshake_rtt_ms,omitempty"`
	ClientRTTMs    *float64           `json:"client_rtt_ms,omitempty"`
	ServerRTTMs    *float64           `json:"server_rtt_ms,omitempty"`
	Directions     []CaptureDirection `json:"directions"`
}

// CaptureEncap is one encapsulation layer, outermost first.
type CaptureEncap struct {
	Type string  `json:"type"`
	ID   *uint32 `json:"id,omitempty"`
	Src  string  `json:"src,omitempty"`
	Dst  string  `json:"dst,omitempty"`
}

// CaptureDirection is what one side of a TCP flow sent.
type CaptureDirection struct {
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`

	Packets           uint64  `json:"packets"`
	Bytes             uint64  `json:"bytes"`
	CaptureDuplicates uint64  `json:"capture_duplicates"`
	DataPackets       uint64  `json:"data_packets"`
	DataSegments      uint64  `json:"data_segments"`
	GSOFrames         uint64  `json:"gso_frames"`
	PayloadBytes      uint64  `json:"payload_bytes"`
	UniqueBytes       uint64  `json:"unique_bytes"`
	GoodputBps        float64 `json:"goodput_bps"`
	MSS               int     `json:"mss"`
	WindowScale       *int    `json:"window_scale,omitempty"`
	SACKPermitted     bool    `json:"sack_permitted"`
	Timestamps        bool    `json:"timestamps"`

	RetransmittedPackets    uint64           `json:"retransmitted_packets"`
	RetransmittedFrames     uint64           `json:"retransmitted_frames"`
	RetransmittedBytes      uint64           `json:"retransmitted_bytes"`
	TimeoutRetransmissions  uint64           `json:"timeout_retransmissions"`
	FastRetransmissions     uint64           `json:"fast_retransmissions"`
	SpuriousRetransmissions uint64           `json:"spurious_retransmissions"`
	SpuriousByACK           uint64           `json:"spurious_by_ack"`
	SpuriousByDSACK         uint64           `json:"spurious_by_dsack"`
	SpuriousByLateOriginal  uint64           `json:"spurious_by_late_original"`
	SpuriousAfterReordering uint64           `json:"spurious_after_reordering"`
	FullSizeRetransmissions uint64           `json:"full_size_retransmissions"`
	RepeatedRetransmissions uint64           `json:"repeated_retransmissions"`
	SYNRetransmissions      uint64           `json:"syn_retransmissions"`
	ReorderedPackets        uint64           `json:"reordered_packets"`
	LostSegments            uint64           `json:"lost_segments"`
	LostBytes               uint64           `json:"lost_bytes"`
	NotCapturedSegments     uint64           `json:"not_captured_segments"`
	NotCapturedBytes        uint64           `json:"not_captured_bytes"`
	LateDuplicates          uint64           `json:"late_duplicates"`
	HoleDecisions           CaptureDecisions `json:"hole_decisions"`
	Reordering              *CaptureReorder  `json:"reordering,omitempty"`
	OuterOrder              *CaptureOuter    `json:"outer_order,omitempty"`
	DupACKs                 uint64           `json:"dup_acks"`
	SACKPackets             uint64           `json:"sack_packets"`
	DSACKs                  uint64           `json:"dsacks"`
	ZeroWindows             uint64           `json:"zero_windows"`
	ZeroWindowMs            float64          `json:"zero_window_ms"`
	WindowFull              uint64           `json:"window_full"`
	KeepAlives              uint64           `json:"keep_alives"`
	WindowProbes            uint64           `json:"window_probes"`
	RTT                     *CaptureRTT      `json:"rtt,omitempty"`
}

// CaptureDecisions counts how hole-filling segments were judged, by the
// evidence that decided.
type CaptureDecisions struct {
	TSval     CaptureDecision `json:"tsval"`
	IPID      CaptureDecision `json:"ip_id"`
	Timing    CaptureDecision `json:"timing"`
	DupThresh CaptureDecision `json:"dupthresh"`
}

// CaptureDecision splits one kind of evidence's verdicts.
type CaptureDecision struct {
	Reordered     uint64 `json:"reordered"`
	Retransmitted uint64 `json:"retransmitted"`
}

// CaptureOuter attributes late originals inside a tunnel.
type CaptureOuter struct {
	Underlay            uint64 `json:"underlay"`
	BeforeEncapsulation uint64 `json:"before_encapsulation"`
	Unknown             uint64 `json:"unknown"`
}

// CaptureRTT summarises round-trip samples in milliseconds.
type CaptureRTT struct {
	Samples uint64  `json:"samples"`
	MinMs   float64 `json:"min_ms"`
	MeanMs  float64 `json:"mean_ms"`
	MaxMs   float64 `json:"max_ms"`
}

// CaptureReorder holds the reordering metrics of one stream.
type CaptureReorder struct {
	Packets          uint64  `json:"packets"`
	ReorderedPackets uint64  `json:"reordered_packets"`
	Ratio            float64 `json:"ratio"`
	ExtentMax        uint64  `json:"extent_max"`
	ExtentMean       float64 `json:"extent_mean"`
	// ExtentHistogram buckets RFC 4737 extents; To is absent on the last.
	ExtentHistogram []CaptureBucket `json:"extent_histogram"`
	NReordering     []CaptureNCount `json:"n_reordering"`
	// Density is RFC 5236's reorder density: the share of packets at
	// each displacement; DensityBeyondThreshold counts packets later than
	// the threshold, left out as the RFC says.
	Density                []CaptureDensity    `json:"density"`
	DensityThreshold       int                 `json:"density_threshold"`
	DensityBeyondThreshold uint64              `json:"density_beyond_threshold"`
	LateMsMax              float64             `json:"late_ms_max"`
	LateMsMean             float64             `json:"late_ms_mean"`
	LateTimeHistogram      []CaptureTimeBucket `json:"late_time_histogram"`
	LateSmaller            uint64              `json:"late_smaller_than_overtaker"`
	LateLarger             uint64              `json:"late_larger_than_overtaker"`
	LateSameSize           uint64              `json:"late_same_size"`
}

// CaptureBucket is a histogram bucket [From, To].
type CaptureBucket struct {
	From    uint64  `json:"from"`
	To      *uint64 `json:"to,omitempty"`
	Packets uint64  `json:"packets"`
}

// CaptureTimeBucket is a histogram bucket [FromMs, ToMs).
type CaptureTimeBucket struct {
	FromMs  float64  `json:"from_ms"`
	ToMs    *float64 `json:"to_ms,omitempty"`
	Packets uint64   `json:"packets"`
}

// CaptureNCount counts n-reordered packets; OrMore marks the last bucket.
type CaptureNCount struct {
	N       int    `json:"n"`
	OrMore  bool   `json:"or_more,omitempty"`
	Packets uint64 `json:"packets"`
}

// CaptureDensity is one point of the reorder density.
type CaptureDensity struct {
	Displacement int     `json:"displacement"`
	Packets      uint64  `json:"packets"`
	Fraction     float64 `json:"fraction"`
}

// CaptureTunnel is one tunnel between two outer endpoints.
type CaptureTunnel struct {
	Index         int                      `json:"index"`
	Type          string                   `json:"type"`
	ID            *uint32                  `json:"id,omitempty"`
	A             string                   `json:"a"`
	B             string                   `json:"b"`
	Encapsulation []CaptureEncap           `json:"encapsulation"`
	Parent        *int                     `json:"parent,omitempty"`
	Flows         uint64                   `json:"flows"`
	FirstPacketAt time.Time                `json:"first_packet_at"`
	LastPacketAt  time.Time                `json:"last_packet_at"`
	Directions    []CaptureTunnelDirection `json:"directions"`
	// Inner sums the TCP flows inside the tunnel, both directions.
	Inner CaptureDirection `json:"inner"`
}

// CaptureTunnelDirection is one direction of a tunnel.
type CaptureTunnelDirection struct {
	From                string           `json:"from"`
	To                  string           `json:"to"`
	Packets             uint64           `json:"packets"`
	Bytes               uint64           `json:"bytes"`
	SequenceSource      string           `json:"sequence_source,omitempty"`
	Sessions            uint64           `json:"sessions"`
	SessionList         []CaptureSession `json:"session_list,omitempty"`
	Sequence            *CaptureSequence `json:"sequence,omitempty"`
	OuterIPIDInOrder    uint64           `json:"outer_ip_id_in_order"`
	OuterIPIDOutOfOrder uint64           `json:"outer_ip_id_out_of_order"`
	Handshakes          uint64           `json:"handshakes"`
}

// CaptureSession is one WireGuard receiver index or ESP SPI.
type CaptureSession struct {
	ID               uint32    `json:"id"`
	FirstSeq         int64     `json:"first_seq"`
	LastSeq          int64     `json:"last_seq"`
	Packets          uint64    `json:"packets"`
	Lost             uint64    `json:"lost"`
	ReorderedPackets uint64    `json:"reordered_packets"`
	Replays          uint64    `json:"replays"`
	FirstPacketAt    time.Time `json:"first_packet_at"`
	LastPacketAt     time.Time `json:"last_packet_at"`
}

// CaptureSequence measures an outer per-packet sequence.
type CaptureSequence struct {
	Packets           uint64          `json:"packets"`
	Lost              uint64          `json:"lost"`
	Replays           uint64          `json:"replays"`
	CaptureDuplicates uint64          `json:"capture_duplicates"`
	ReorderedPackets  uint64          `json:"reordered_packets"`
	Reordering        *CaptureReorder `json:"reordering"`
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
		RetransmittedRatio:      capRatio(t.Retransmission.Packets, t.Segments),
		ReorderedRatio:          capRound(r.Totals.Reorder.Ratio(), 6),
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
			b.WriteString(" " + capItoa(uint64(e.ID)))
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
		s += " " + capItoa(uint64(t.ID))
	}
	return s + " " + t.A.String() + " - " + t.B.String()
}

func newCaptureFlow(f *capture.Flow) CaptureFlow {
	out := CaptureFlow{
		ID: FlowID(f), Protocol: f.Proto, Client: f.Client.String(), Server: f.Server.String(),
		Encapsulation: newEncap(f.Encap), FirstPacketAt: f.First, LastPacketAt: f.Last,
		DurationS: capSeconds(f.Last.Sub(f.First)), Handshake: f.Handshake, Midstream: f.Midstream,
		Evicted: f.Evicted, ProblemShare: capRound(f.Score(), 6),
	}
	if f.Tunnel >= 0 {
		i := f.Tunnel
		out.Tunnel = &i
	}
	if f.Handshake {
		out.HandshakeRTTMs, out.ClientRTTMs, out.ServerRTTMs = capMsPtr(f.HandshakeRTT), capMsPtr(f.ClientRTT), capMsPtr(f.ServerRTT)
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
		NotCapturedBytes: d.NotCapturedBytes, LateDuplicates: d.LateDuplicates,
		HoleDecisions: CaptureDecisions{
			TSval:     CaptureDecision{d.Decided.ReorderedByTSval, d.Decided.RetransmittedByTSval},
			IPID:      CaptureDecision{d.Decided.ReorderedByIPID, d.Decided.RetransmittedByIPID},
			Timing:    CaptureDecision{d.Decided.ReorderedByTiming, d.Decided.RetransmittedByTiming},
			DupThresh: CaptureDecision{d.Decided.ReorderedByDupThresh, d.Decided.RetransmittedByDupThresh},
		},
		DupACKs: d.DupACKs, SACKPackets: d.SACKPackets, DSACKs: d.DSACKs, ZeroWindows: d.ZeroWindows,
		ZeroWindowMs: capMs(d.ZeroWindowTime), WindowFull: d.WindowFull, KeepAlives: d.KeepAlives, WindowProbes: d.WindowProbes,
	}
	if d.WindowScale >= 0 {
		ws := d.WindowScale
		x.WindowScale = &ws
	}
	if span := d.LastData.Sub(d.FirstData); span > 0 {
		x.GoodputBps = capRound(float64(d.UniqueBytes)*8/span.Seconds(), 0)
	}
	if d.Reorder != nil {
		x.ReorderedPackets = d.Reorder.Reordered
		x.Reordering = newCaptureReorder(d.Reorder)
	}
	if o := d.Outer; o.Underlay+o.BeforeEncap+o.Unknown > 0 {
		x.OuterOrder = &CaptureOuter{Underlay: o.Underlay, BeforeEncapsulation: o.BeforeEncap, Unknown: o.Unknown}
	}
	if d.RTT.Samples > 0 {
		x.RTT = &CaptureRTT{Samples: d.RTT.Samples, MinMs: capMs(d.RTT.Min), MeanMs: capMs(d.RTT.Mean), MaxMs: capMs(d.RTT.Max)}
	}
	return x
}

func newCaptureReorder(r *capture.Reorder) *CaptureReorder {
	x := &CaptureReorder{
		Packets: r.Packets, ReorderedPackets: r.Reordered, Ratio: capRound(r.Ratio(), 6), ExtentMax: r.ExtentMax,
		ExtentHistogram: []CaptureBucket{}, NReordering: []CaptureNCount{}, Density: []CaptureDensity{},
		DensityThreshold: capture.DensityThreshold, DensityBeyondThreshold: r.DensityBeyond,
		LateMsMax: capMs(r.LateTimeMax), LateTimeHistogram: []CaptureTimeBucket{},
		LateSmaller: r.LateSmaller, LateLarger: r.LateLarger, LateSameSize: r.LateSameSize,
	}
	if r.Reordered > 0 {
		x.ExtentMean = capRound(float64(r.ExtentSum)/float64(r.Reordered), 3)
		x.LateMsMean = capMs(r.LateTimeSum / time.Duration(r.Reordered))
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
				Fraction: capRound(float64(n)/float64(judged), 6)})
		}
	}
	fromMs := 0.0
	for i, n := range r.LateTimeHist {
		b := CaptureTimeBucket{FromMs: fromMs, Packets: n}
		if i < len(capture.LateTimeBuckets) {
			to := capMs(capture.LateTimeBuckets[i])
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
				CaptureDuplicates: s.Duplicates, ReorderedPackets: s.Reorder.Reordered, Reordering: newCaptureReorder(&s.Reorder)}
		}
		x.Directions = append(x.Directions, y)
	}
	return x
}

func capSeconds(d time.Duration) float64 { return capRound(d.Seconds(), 6) }

func capMs(d time.Duration) float64 { return capRound(float64(d)/float64(time.Millisecond), 3) }

func capMsPtr(d time.Duration) *float64 {
	v := capMs(d)
	return &v
}

func capRatio(n, of uint64) float64 {
	if of == 0 {
		return 0
	}
	return capRound(float64(n)/float64(of), 6)
}

func capRound(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

func capItoa(v uint64) string {
	if v == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for v > 0 {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return string(b[i:])
}
