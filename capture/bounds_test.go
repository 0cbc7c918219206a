package capture

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
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

// flowSpans analyses a capture again, packet by packet, and follows which
// flow the engine gives each TCP packet: the flow's identity (a SYN with
// a new ISN starting a new connection, a connection paired across two
// encapsulations, a flow evicted and seen again) is the engine's
// decision, but the sequence each flow covers comes from its packets
// alone. It returns the total of every flow direction's sequence span
// (data and the peer's acknowledgements) and the TCP packets the flows
// took.
func flowSpans(t *testing.T, data []byte, o Options) (span, packets uint64) {
	t.Helper()
	src, err := openSource(t.Context(), bytes.NewReader(data), "spans", true)
	if err != nil {
		t.Fatalf("spans: %v", err)
	}
	defer src.close()
	a := newAnalyzer(o, src)
	spans := map[*flow]*[2]seqSpan{} // the current connection of each flow
	var done [][2]seqSpan            // connections whose flow was reused
	for {
		b, err := src.next()
		ci := src.info
		if err != nil {
			if !errors.Is(err, io.EOF) {
				var ie *InputError
				if !errors.As(err, &ie) {
					t.Fatalf("spans: %v", err)
				}
			}
			break
		}
		tcp, seen := a.res.TCPPackets, a.res.FlowsSeen
		a.packet(b, ci.caplen, ci.wire, ci.at, ci.ifIndex, ci.lt)
		if a.res.TCPPackets == tcp {
			continue
		}
		packets++
		f := a.last
		s := spans[f]
		if s == nil || a.res.FlowsSeen != seen { // a new flow, perhaps in a retired one's memory
			if s != nil {
				done = append(done, *s)
			}
			s = &[2]seqSpan{}
			spans[f] = s
		}
		p := a.dec.Decode(ci.lt, b, max(ci.wire, ci.caplen))
		ep := 0
		if compareEndpoint(&p.Src, p.SrcPort, &p.Dst, p.DstPort) > 0 {
			ep = 1
		}
		if p.Src != f.key.addr[ep] || p.SrcPort != f.key.port[ep] {
			t.Fatalf("spans: record %d is not from endpoint %d of the flow it went to", a.res.Packets, ep)
		}
		o := &p.TCP
		s[ep].add(o.Seq)
		end := o.Seq + uint32(p.Payload)
		if o.Flags&(decode.SYN|decode.FIN) != 0 {
			end++
		}
		s[ep].add(end)
		if o.Flags&decode.ACK != 0 {
			s[1-ep].add(o.Ack)
		}
	}
	for _, s := range spans {
		done = append(done, *s)
	}
	for _, s := range done {
		span += uint64(s[0].high-s[0].low) + uint64(s[1].high-s[1].low)
	}
	return span, packets
}

// checkSupported checks a result against what its capture can carry.
// Segments lost or missed by the capture lie within the directions'
// sequence spans: at most the spans over the smallest MSS counted, plus
// one per packet (every gap is opened by one). Every other count is at
// most the packets that could carry it.
func checkSupported(t *testing.T, name string, data []byte, o Options, res *Result) {
	t.Helper()
	span, packets := flowSpans(t, data, o)
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
		checkSupported(t, filepath.Base(path), data, Options{Name: filepath.Base(path)}, res)
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
