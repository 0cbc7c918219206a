package capture

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/netdx/netdx/capture/decode"
)

// seqSpan follows one direction's sequence numbers as a capture shows
// them, data and the peer's acknowledgements alike, unwrapped around the
// last seen.
type seqSpan struct {
	init      bool
	lastRaw   uint32
	last      int64
	low, high int64
	// isn is the last SYN's sequence number, syn whether one was seen.
	isn uint32
	syn bool
}

func (s *seqSpan) add(v uint32) {
	if !s.init {
		s.init, s.lastRaw = true, v
		return
	}
	s.last += int64(int32(v - s.lastRaw))
	s.lastRaw = v
	s.low, s.high = min(s.low, s.last), max(s.high, s.last)
}

// spanKey is one direction of a 5-tuple in one encapsulation stack (the
// same connection on two VLANs is two flows, each with its span).
type spanKey struct {
	stack    string
	ver      uint8
	src, dst [16]byte
	sp, dp   uint16
}

// stackOf names a packet's encapsulation as a flow is keyed on it: kinds,
// IDs (none for MPLS, whose labels change hop by hop), and for tunnels
// the IP version and outer address pair in canonical order.
func stackOf(p *decode.Packet) string {
	var b strings.Builder
	for i := range p.NLayers {
		l := &p.Layers[i]
		b.WriteString(l.Kind.String())
		if l.HasID && l.Kind != decode.MPLS {
			b.WriteString(strconv.FormatUint(uint64(l.ID), 10))
		}
		if l.Kind.IsTunnel() {
			x, y := canon(l.Src, l.Dst)
			b.WriteByte(l.Version)
			b.Write(x[:])
			b.Write(y[:])
		}
		b.WriteByte('/')
	}
	return b.String()
}

// captureSpans reads a capture on its own, without the analysis: the
// total of every TCP direction's sequence span (by inner 5-tuple and
// encapsulation stack, a SYN with a new ISN starting a new connection's)
// and the TCP packets.
func captureSpans(t *testing.T, data []byte) (span, packets uint64) {
	t.Helper()
	src, err := openSource(bytes.NewReader(data), "spans")
	if err != nil {
		t.Fatalf("spans: %v", err)
	}
	dec := decode.New(decode.Config{})
	spans := map[spanKey]*seqSpan{}
	get := func(k spanKey) *seqSpan {
		s := spans[k]
		if s == nil {
			s = &seqSpan{}
			spans[k] = s
		}
		return s
	}
	for {
		b, ci, lt, err := src.next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				var ie *InputError
				if !errors.As(err, &ie) {
					t.Fatalf("spans: %v", err)
				}
			}
			break
		}
		if !decode.Supported(lt) {
			continue
		}
		p := dec.Decode(lt, b, max(ci.Length, ci.CaptureLength))
		if p.Top != decode.TopTCP {
			continue
		}
		packets++
		o := &p.TCP
		stack := stackOf(p)
		k := spanKey{stack, p.Version, p.Src, p.Dst, p.SrcPort, p.DstPort}
		back := spanKey{stack, p.Version, p.Dst, p.Src, p.DstPort, p.SrcPort}
		if o := &p.TCP; o.Flags&(decode.SYN|decode.ACK) == decode.SYN {
			if x := spans[k]; x != nil && x.syn && x.isn != o.Seq { // a new connection: close the old one's spans
				for _, old := range []spanKey{k, back} {
					if y := spans[old]; y != nil {
						span += uint64(y.high - y.low)
						delete(spans, old)
					}
				}
			}
			get(k).syn, get(k).isn = true, o.Seq
		}
		s := get(k)
		s.add(o.Seq)
		end := o.Seq + uint32(p.Payload)
		if o.Flags&(decode.SYN|decode.FIN) != 0 {
			end++
		}
		s.add(end)
		if o.Flags&decode.ACK != 0 {
			get(back).add(o.Ack)
		}
	}
	for _, s := range spans {
		span += uint64(s.high - s.low)
	}
	return span, packets
}

// checkSupported checks a result against what its capture can carry.
// Segments lost or missed by the capture lie within the directions'
// sequence spans: at most the spans over the smallest MSS counted, plus
// one per packet (every gap is opened by one). Every other count is at
// most the packets that could carry it.
func checkSupported(t *testing.T, name string, data []byte, res *Result) {
	t.Helper()
	span, packets := captureSpans(t, data)
	tot := &res.Totals.TCP
	if missed := tot.LostSegments + tot.NotCapturedSegments; missed > span/minCountMSS+packets {
		t.Errorf("%s: %d segments lost or not captured, beyond the %d bytes of sequence the capture spans (%d packets)",
			name, missed, span, packets)
	}
	if missed := tot.LostBytes + tot.NotCapturedBytes; missed > span {
		t.Errorf("%s: %d bytes lost or not captured, beyond the %d bytes the capture spans", name, missed, span)
	}
	if tot.UniqueBytes > span {
		t.Errorf("%s: %d unique bytes, beyond the %d bytes the capture spans", name, tot.UniqueBytes, span)
	}
	if res.Filtered == 0 && tot.Packets+tot.Duplicates != res.TCPPackets {
		t.Errorf("%s: %d packets and %d duplicates in the flows, %d TCP packets read", name, tot.Packets, tot.Duplicates, res.TCPPackets)
	}
	checkDirSupported(t, name+" totals", tot)
	for _, f := range res.Flows {
		for i := range f.Dir {
			checkDirSupported(t, name+" "+f.Client.String()+" dir "+strconv.FormatUint(uint64(i), 10), &f.Dir[i])
		}
	}
}

// checkDirSupported checks one direction's counts against its packets.
func checkDirSupported(t *testing.T, name string, d *Direction) {
	t.Helper()
	R := &d.Retransmission
	var reordered uint64
	if d.Reorder != nil {
		reordered = d.Reorder.Reordered
	}
	x := &d.Decided
	decided := x.ReorderedByTSval + x.ReorderedByIPID + x.ReorderedByTiming + x.RetransmittedByTSval +
		x.RetransmittedByIPID + x.RetransmittedByTiming + x.Undecided
	for _, c := range []struct {
		what      string
		got, most uint64
	}{
		{"retransmitted frames over packets", R.Frames, d.Packets},
		{"retransmitted segments over data segments and other packets (SYN, FIN)", R.Packets, d.Segments + d.Packets - d.DataPackets},
		{"spurious over retransmitted", R.Spurious, R.Packets},
		{"after reordering over spurious", R.AfterReordering, R.Spurious},
		{"full-size over retransmitted", R.FullSize, R.Packets},
		{"repeated over retransmitted", R.Repeated, R.Packets},
		{"reordered over data packets", reordered, d.DataPackets},
		{"hole verdicts and late duplicates over data packets", decided + d.LateDuplicates, d.DataPackets},
		{"GSO frames over data packets", d.GSOFrames, d.DataPackets},
		{"data packets over data segments", d.DataPackets, d.Segments},
		{"window full over data packets", d.WindowFull, d.DataPackets},
		{"dup ACKs over packets", d.DupACKs, d.Packets},
		{"SACK packets over packets", d.SACKPackets, d.Packets},
		{"D-SACKs over SACK packets", d.DSACKs, d.SACKPackets},
		{"zero windows over packets", d.ZeroWindows, d.Packets},
		{"keep-alives and probes over packets", d.KeepAlives + d.WindowProbes, d.Packets},
		{"anomalies over packets", d.Anomalies, d.Packets},
		{"lost segments over lost bytes", d.LostSegments, d.LostBytes},
		{"not captured segments over their bytes", d.NotCapturedSegments, d.NotCapturedBytes},
	} {
		if c.got > c.most {
			t.Errorf("%s: %s: %d > %d", name, c.what, c.got, c.most)
		}
	}
	if R.Timeout+R.Fast != R.Packets || R.ByACK+R.ByDSACK+R.ByLateOriginal != R.Spurious {
		t.Errorf("%s: retransmissions do not add up: %+v", name, *R)
	}
}

// The property over every real capture: no count beyond what the capture
// carries (see checkSupported), whatever the capture.
func TestRealCapturesSupportTheirCounts(t *testing.T) {
	for _, path := range sharedFiles(t, sharedCaptures(t)) {
		data := readFile(t, path)
		res, _ := analyzeFile(t, path)
		if res == nil {
			continue
		}
		checkSupported(t, filepath.Base(path), data, res)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
