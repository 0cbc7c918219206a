package capture

import (
	"cmp"
	"net/netip"
	"slices"
	"sort"
	"testing"
	"time"

	ct "github.com/netdx/netdx/capture/capturetest"
	"github.com/netdx/netdx/capture/decode"

	"github.com/gopacket/gopacket/layers"
)

// Adjacent swaps only: every tenth pair of 1000 segments arrives swapped.
// The truth is 100 reordered packets of extent 1, and nothing lost or
// retransmitted.
func TestAdjacentSwapsAreReorderingNotLoss(t *testing.T) {
	for _, tc := range []struct {
		name       string
		client     string
		server     string
		ts         bool
		wantByIPID bool
	}{
		{"ipv4 ip-id evidence", "198.18.0.1:40000", "198.18.1.1:5201", true, true},
		{"ipv6 timing evidence", "[2001:db8::1]:40000", "[2001:db8::2]:5201", true, false},
		{"ipv6 no timestamps", "[2001:db8::1]:40000", "[2001:db8::2]:5201", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := ct.NewGen(t, layers.LinkTypeEthernet)
			c := ct.NewConv(g, tc.client, tc.server)
			c.TS = tc.ts
			c.Handshake(0, 10*time.Millisecond)
			segs := c.SendData(0, 20*time.Millisecond, 10*time.Microsecond, 1000, 1448)
			for i := 0; i < 1000; i += 10 {
				segs[i+5], segs[i+6] = segs[i+6], segs[i+5]
			}
			c.Deliver(c.Receiver(1), 30*time.Millisecond, 20*time.Microsecond, segs)
			res := analyzeBytes(t, g.Pcap(), Options{})
			f := onlyTCP(t, res)
			if !f.Handshake || f.HandshakeRTT != 11*time.Millisecond {
				t.Errorf("handshake %v rtt %v, want true 11ms", f.Handshake, f.HandshakeRTT)
			}
			d := &f.Dir[0]
			checkDir(t, "client data", d, want{reordered: 100})
			if d.Reorder.ExtentHist[0] != 100 || d.Reorder.ExtentMax != 1 {
				t.Errorf("extent hist %v max %d, want 100 at 1", d.Reorder.ExtentHist, d.Reorder.ExtentMax)
			}
			if d.Reorder.NReordering[0] != 100 {
				t.Errorf("1-reordering %d, want 100", d.Reorder.NReordering[0])
			}
			if d.Reorder.Packets != 1000 {
				t.Errorf("reorder packets %d, want 1000", d.Reorder.Packets)
			}
			rd := d.Reorder.Density
			if rd[DensityThreshold+1] != 100 || rd[DensityThreshold-1] != 100 || rd[DensityThreshold] != 800 {
				t.Errorf("reorder density %v, want 100 at -1 and +1, 800 at 0", rd)
			}
			// IP IDs are evidence from the first swap on: the late segment's
			// ID lies just below its overtaker's.
			if tc.wantByIPID && d.Decided.ReorderedByIPID != 100 {
				t.Errorf("decided %+v, want 100 by IP ID", d.Decided)
			}
			if !tc.wantByIPID && d.Decided.ReorderedByTiming != 100 {
				t.Errorf("decided %+v, want 100 by timing", d.Decided)
			}
			if d.UniqueBytes != 1000*1448 {
				t.Errorf("unique bytes %d", d.UniqueBytes)
			}
			ack := &f.Dir[1]
			if ack.DupACKs != 100 {
				t.Errorf("dup ACKs %d, want 100", ack.DupACKs)
			}
		})
	}
}

// Drops, a delayed segment with a spurious fast retransmission, and a tail
// drop recovered by timeout, seen at the receiver. The tail drop's
// retransmission is the first copy the receiver sees: at this capture
// point it is new data, and the test says so.
func TestRetransmissionsSplitAndSpurious(t *testing.T) {
	g := ct.NewGen(t, layers.LinkTypeEthernet)
	c := ct.NewConv(g, "198.18.0.1:40000", "198.18.1.1:5201")
	rtt := 10 * time.Millisecond
	c.Handshake(0, rtt)
	t0 := 20 * time.Millisecond
	gap := 100 * time.Microsecond
	segs := c.SendData(0, t0, gap, 200, 1448)
	var fs []ct.Timed
	arrive := func(i int) time.Duration { return t0 + time.Duration(i)*gap + rtt/2 }
	for i, s := range segs {
		switch i {
		case 20, 60, 199: // lost on the way
		case 100: // overtaken by the next four
			fs = append(fs, ct.Timed{At: arrive(104) + gap/2, F: s})
		default:
			fs = append(fs, ct.Timed{At: arrive(i), F: s})
		}
	}
	// Fast retransmissions, one round trip after the first duplicate ACK.
	for _, i := range []int{20, 60, 100} {
		fs = append(fs, ct.Timed{At: arrive(i+1) + rtt, F: c.Resend(segs[i], arrive(i+1)+rtt/2)})
	}
	// The tail drop waits for the retransmission timer.
	fs = append(fs, ct.Timed{At: arrive(199) + 300*time.Millisecond, F: c.Resend(segs[199], arrive(199)+300*time.Millisecond-rtt/2)})
	c.DeliverAt(c.Receiver(1), fs)
	res := analyzeBytes(t, g.Pcap(), Options{})
	f := onlyTCP(t, res)
	d := &f.Dir[0]
	checkDir(t, "client data", d, want{retrans: 3, spurious: 1, reordered: 1, lost: 2, fast: 3})
	if d.Retransmission.ByACK != 1 || d.Retransmission.AfterReordering != 1 {
		t.Errorf("spurious proofs %+v, want 1 by ACK, after reordering", d.Retransmission)
	}
	if d.Reorder.ExtentMax != 4 {
		t.Errorf("extent %d, want 4", d.Reorder.ExtentMax)
	}
	if d.Decided.RetransmittedByTSval != 2 || d.Decided.ReorderedByIPID != 1 {
		t.Errorf("decided %+v, want 2 retransmissions by TSval and 1 reordering by IP ID", d.Decided)
	}
	if d.Retransmission.Bytes != 3*1448 {
		t.Errorf("retransmitted bytes %d", d.Retransmission.Bytes)
	}
}

var _ = netip.Addr{}

var scenarioWant = want{retrans: 3, spurious: 1, reordered: 3, lost: 2, fast: 3}

func checkScenario(t *testing.T, res *Result) *Flow {
	t.Helper()
	f := onlyTCP(t, res)
	checkDir(t, "client data", &f.Dir[0], scenarioWant)
	checkDir(t, "server acks", &f.Dir[1], want{})
	if f.Dir[0].Reorder.ExtentHist[0] != 2 || f.Dir[0].Reorder.ExtentMax != 4 {
		t.Errorf("extents %v max %d, want two of 1 and one of 4", f.Dir[0].Reorder.ExtentHist, f.Dir[0].Reorder.ExtentMax)
	}
	if f.Client.String() != "198.18.0.1:40000" && f.Client.String() != "[2001:db8::1]:40000" {
		t.Errorf("client %v", f.Client)
	}
	return f
}

func TestSequenceWrapAround(t *testing.T) {
	g := ct.NewGen(t, layers.LinkTypeEthernet)
	c := ct.NewConv(g, "198.18.0.1:40000", "198.18.1.1:5201")
	c.ISN = [2]uint32{0xffffa000, 0xfffffff0}
	c.Next = [2]uint32{c.ISN[0] + 1, c.ISN[1] + 1}
	ct.RetransScenario(c)
	f := checkScenario(t, analyzeBytes(t, g.Pcap(), Options{}))
	if f.Dir[0].UniqueBytes != 200*1000 {
		t.Errorf("unique bytes %d, want %d", f.Dir[0].UniqueBytes, 200*1000)
	}
}

// The same truth at a sender-side capture: the reordering and the losses
// happen downstream and are invisible, the spurious retransmission is
// proven by the receiver's D-SACK, the tail drop is recovered by timeout.
func TestSenderSideDSACKAndTimeout(t *testing.T) {
	g := ct.NewGen(t, layers.LinkTypeEthernet)
	c := ct.NewConv(g, "198.18.0.1:40000", "198.18.1.1:5201")
	rtt := 10 * time.Millisecond
	c.Handshake(0, rtt)
	t0 := 20 * time.Millisecond
	gap := 100 * time.Microsecond
	segs := c.SendData(0, t0, gap, 100, 1448)
	var out []ct.Frame
	var arrivals []ct.Timed
	for i, s := range segs {
		out = append(out, s)
		switch i {
		case 70, 99:
		case 50:
			arrivals = append(arrivals, ct.Timed{At: s.At + rtt/2 + 3*gap + gap/2, F: s})
		default:
			arrivals = append(arrivals, ct.Timed{At: s.At + rtt/2, F: s})
		}
	}
	for _, r := range []struct {
		i  int
		at time.Duration
	}{{50, segs[53].At + rtt + 10*time.Microsecond}, {70, segs[73].At + rtt + 10*time.Microsecond}, {99, segs[99].At + 300*time.Millisecond}} {
		x := c.Resend(segs[r.i], r.at)
		out = append(out, x)
		arrivals = append(arrivals, ct.Timed{At: r.at + rtt/2, F: x})
	}
	f := onlyTCP(t, analyzeBytes(t, ackedCapture(g, c, out, arrivals, rtt/2), Options{}))
	d := &f.Dir[0]
	checkDir(t, "client data", d, want{retrans: 3, spurious: 1, fast: 2, timeout: 1})
	if d.Retransmission.ByDSACK != 1 {
		t.Errorf("spurious by D-SACK %d, want 1", d.Retransmission.ByDSACK)
	}
	if f.Dir[1].DSACKs != 1 {
		t.Errorf("D-SACKs %d, want 1", f.Dir[1].DSACKs)
	}
	if d.RTT.Samples == 0 || d.RTT.Min < rtt || d.RTT.Min > rtt+time.Millisecond {
		t.Errorf("data RTT %+v, want about %v", d.RTT, rtt)
	}
}

// A sender-side capture of a long recovery: 60 retransmissions leave
// before the first D-SACK comes back a round trip later, and each D-SACK
// must still find its retransmission (the log of them grows past its
// first 16 records).
func TestDSACKsAfterManyRetransmissions(t *testing.T) {
	f := onlyTCP(t, analyzeBytes(t, longRecoveryPcap(t), Options{}))
	d := &f.Dir[0]
	if f.Dir[1].DSACKs != longRecoveryResent {
		t.Fatalf("D-SACKs %d, want %d", f.Dir[1].DSACKs, longRecoveryResent)
	}
	if d.Retransmission.Packets != longRecoveryResent || d.Retransmission.ByDSACK != longRecoveryResent || d.Retransmission.Spurious != longRecoveryResent {
		t.Errorf("retransmissions %+v, want %d, all spurious by D-SACK", d.Retransmission, longRecoveryResent)
	}
}

// longRecoveryResent is how many segments longRecoveryPcap sends again.
const longRecoveryResent = 60

// longRecoveryPcap is the capture of TestDSACKsAfterManyRetransmissions:
// 100 segments, the first longRecoveryResent of them sent again
// spuriously in a burst, each answered by a D-SACK.
func longRecoveryPcap(t *testing.T) []byte {
	g := ct.NewGen(t, layers.LinkTypeEthernet)
	c := ct.NewConv(g, "198.18.0.1:40000", "198.18.1.1:5201")
	rtt := 20 * time.Millisecond
	c.Handshake(0, rtt)
	t0 := 40 * time.Millisecond
	gap := 100 * time.Microsecond
	segs := c.SendData(0, t0, gap, 100, 1448)
	var out []ct.Frame
	var arrivals []ct.Timed
	for _, s := range segs {
		out = append(out, s)
		arrivals = append(arrivals, ct.Timed{At: s.At + rtt/2, F: s})
	}
	for i := range longRecoveryResent {
		x := c.Resend(segs[i], segs[99].At+time.Duration(i+1)*gap/2)
		out = append(out, x)
		arrivals = append(arrivals, ct.Timed{At: x.At + rtt/2, F: x})
	}
	return ackedCapture(g, c, out, arrivals, rtt/2)
}

// Every 25th frame is seen twice, as on a SPAN port: the copies are
// capture duplicates, not retransmissions.
func TestCaptureDuplicates(t *testing.T) {
	g := ct.NewGen(t, layers.LinkTypeEthernet)
	c := ct.NewConv(g, "198.18.0.1:40000", "198.18.1.1:5201")
	ct.RetransScenario(c)
	var recs []ct.Record
	var dups [2]uint64
	for i, r := range g.Recs {
		recs = append(recs, r)
		if i%25 == 7 {
			d := r
			d.CI.Timestamp = d.CI.Timestamp.Add(3 * time.Microsecond)
			recs = append(recs, d)
			if r.Data[len(r.Data)-1] == 0 && r.CI.Length > 100 { // client data frames are long
				dups[0]++
			} else {
				dups[1]++
			}
		}
	}
	g.Recs = recs
	f := onlyTCP(t, analyzeBytes(t, g.Pcap(), Options{}))
	w := scenarioWant
	w.dups = dups[0]
	checkDir(t, "client data", &f.Dir[0], w)
	checkDir(t, "server acks", &f.Dir[1], want{dups: dups[1]})
}

// A capture that starts mid-flow: no handshake, and the first segment
// sent after the capture began arrives after the next one.
func TestMidstreamStart(t *testing.T) {
	g := ct.NewGen(t, layers.LinkTypeEthernet)
	c := ct.NewConv(g, "198.18.0.1:40000", "198.18.1.1:5201")
	c.Next = [2]uint32{c.ISN[0] + 1 + 30000, c.ISN[1] + 1}
	segs := c.SendData(0, 0, 100*time.Microsecond, 100, 1000)
	segs[0], segs[1] = segs[1], segs[0]
	segs[40], segs[41] = segs[41], segs[40]
	c.Deliver(c.Receiver(1), time.Millisecond, 200*time.Microsecond, segs)
	f := onlyTCP(t, analyzeBytes(t, g.Pcap(), Options{}))
	if !f.Midstream || f.Handshake {
		t.Errorf("midstream %v handshake %v", f.Midstream, f.Handshake)
	}
	checkDir(t, "client data", &f.Dir[0], want{reordered: 2})
}

// A sender-side capture with TSO: super-segments of four MSS, IP total
// length 0, snap length 128. Segments count what went on the wire.
func TestGSOSuperSegments(t *testing.T) {
	g := ct.NewGen(t, layers.LinkTypeEthernet)
	c := ct.NewConv(g, "198.18.0.1:40000", "198.18.1.1:5201")
	c.Handshake(0, time.Millisecond)
	rx := c.Receiver(1)
	at := 5 * time.Millisecond
	var sent []ct.Frame
	for i := range 50 {
		f := c.Data(0, at, 4*1448)
		f.ZeroLen, f.Snap = i%2 == 0, 128
		g.Add(f)
		sent = append(sent, f)
		at += 50 * time.Microsecond
	}
	// One wire segment of super-segment 10 is lost: the sender
	// retransmits one MSS.
	r := c.Resend(sent[10], at+2*time.Millisecond)
	r.Payload = 1448
	r.Snap = 128
	for i, f := range sent {
		if i == 10 {
			part := f
			part.Seq += 1448
			part.Payload = 3 * 1448
			g.Add(rx.Ack(f.At+time.Millisecond, part))
			continue
		}
		g.Add(rx.Ack(f.At+time.Millisecond, f))
	}
	g.Add(r)
	g.Add(rx.Ack(r.At+time.Millisecond, r))
	sort.SliceStable(g.Recs, func(i, j int) bool { return g.Recs[i].CI.Timestamp.Before(g.Recs[j].CI.Timestamp) })
	res := analyzeBytes(t, g.Pcap(), Options{})
	f := onlyTCP(t, res)
	d := &f.Dir[0]
	if d.Segments != 50*4+1 || d.GSOFrames != 50 || d.UniqueBytes != 50*4*1448 || d.MSS != 1448 {
		t.Errorf("segments %d gso %d unique %d mss %d, want 201, 50, %d, 1448", d.Segments, d.GSOFrames, d.UniqueBytes, d.MSS, 50*4*1448)
	}
	checkDir(t, "client data", d, want{retrans: 1, fast: 1})
	if res.SnapTruncated != 51 {
		t.Errorf("snap-truncated %d, want 51", res.SnapTruncated)
	}
}

// Data the receiver acknowledged but the capture never saw is a capture
// drop, not loss.
func TestAckedButNotCaptured(t *testing.T) {
	g := ct.NewGen(t, layers.LinkTypeEthernet)
	c := ct.NewConv(g, "198.18.0.1:40000", "198.18.1.1:5201")
	c.Handshake(0, time.Millisecond)
	segs := c.SendData(0, 5*time.Millisecond, 100*time.Microsecond, 50, 1448)
	rx := c.Receiver(1)
	for i, s := range segs {
		a := rx.Ack(s.At+10*time.Microsecond, s)
		if i != 30 && i != 31 {
			g.Add(s)
		}
		g.Add(a)
	}
	f := onlyTCP(t, analyzeBytes(t, g.Pcap(), Options{}))
	checkDir(t, "client data", &f.Dir[0], want{notCaptured: 2})
}

// A receiver-side capture of GRO-merged frames (four MSS each), two of
// them swapped: one reordered frame, nothing retransmitted or lost, and
// the segments counted as the wire carried them.
func TestGROMergedFrames(t *testing.T) {
	g := ct.NewGen(t, layers.LinkTypeEthernet)
	c := ct.NewConv(g, "198.18.0.1:40000", "198.18.1.1:5201")
	c.Handshake(0, time.Millisecond)
	frames := c.SendData(0, 5*time.Millisecond, 40*time.Microsecond, 30, 4*1448)
	frames[10], frames[11] = frames[11], frames[10]
	c.Deliver(c.Receiver(1), 6*time.Millisecond, 50*time.Microsecond, frames)
	f := onlyTCP(t, analyzeBytes(t, g.Pcap(), Options{}))
	d := &f.Dir[0]
	checkDir(t, "client data", d, want{reordered: 1})
	if d.Segments != 120 || d.GSOFrames != 30 || d.Reorder.ExtentMax != 1 {
		t.Errorf("segments %d gso frames %d extent %d, want 120, 30, 1", d.Segments, d.GSOFrames, d.Reorder.ExtentMax)
	}
}

// TCP Fast Open: data on the SYN starts after the SYN's sequence number.
func TestFastOpenDataOnSYN(t *testing.T) {
	g := ct.NewGen(t, layers.LinkTypeEthernet)
	c := ct.NewConv(g, "198.18.0.1:40000", "198.18.1.1:5201")
	syn := c.Frame(0, 0, c.ISN[0], 50, decode.SYN)
	syn.Flags, syn.Ack, syn.MSS, syn.WS = decode.SYN, 0, 1460, 7
	g.Add(syn)
	c.Next[0] += 50
	sa := c.Frame(1, time.Millisecond, c.ISN[1], 0, decode.SYN)
	sa.MSS, sa.WS = 1460, 7
	g.Add(sa)
	c.Deliver(c.Receiver(1), 2*time.Millisecond, 50*time.Microsecond, c.SendData(0, 2*time.Millisecond, 50*time.Microsecond, 10, 1000))
	f := onlyTCP(t, analyzeBytes(t, g.Pcap(), Options{}))
	checkDir(t, "client data", &f.Dir[0], want{})
	if f.Dir[0].UniqueBytes != 10050 || f.Dir[0].NotCapturedSegments != 0 {
		t.Errorf("unique bytes %d, not captured %d", f.Dir[0].UniqueBytes, f.Dir[0].NotCapturedSegments)
	}
}

// A segment lost downstream of a sender-side capture is retransmitted;
// the retransmission is delayed, the sender judges it lost too and sends
// the segment a third time. Both retransmissions reach the receiver, which
// D-SACKs the second. The D-SACK proves one copy superfluous, not both:
// the truth is 2 retransmissions, 1 spurious, as the Linux lab showed
// (TcpExt TCPLostRetransmit, one D-SACK per duplicate).
func TestDSACKProvesOneOfTwoRetransmissions(t *testing.T) {
	g := ct.NewGen(t, layers.LinkTypeEthernet)
	c := ct.NewConv(g, "198.18.0.1:40000", "198.18.1.1:5201")
	rtt := 10 * time.Millisecond
	c.Handshake(0, rtt)
	t0 := 20 * time.Millisecond
	gap := 100 * time.Microsecond
	segs := c.SendData(0, t0, gap, 100, 1448)
	var out []ct.Frame
	var arrivals []ct.Timed
	for i, s := range segs {
		out = append(out, s)
		if i != 40 {
			arrivals = append(arrivals, ct.Timed{At: s.At + rtt/2, F: s})
		}
	}
	first := c.Resend(segs[40], segs[43].At+rtt+10*time.Microsecond)
	second := c.Resend(segs[40], first.At+rtt+rtt/2)
	out = append(out, first, second)
	// The first retransmission is held up longer than the second takes.
	arrivals = append(arrivals, ct.Timed{At: second.At + rtt/2 - time.Millisecond, F: first},
		ct.Timed{At: second.At + rtt/2, F: second})
	f := onlyTCP(t, analyzeBytes(t, ackedCapture(g, c, out, arrivals, rtt/2), Options{}))
	d := &f.Dir[0]
	if d.Retransmission.Packets != 2 || d.Retransmission.Spurious != 1 || d.Retransmission.ByDSACK != 1 {
		t.Errorf("retransmissions %+v, want 2 of which 1 spurious by D-SACK", d.Retransmission)
	}
	if f.Dir[1].DSACKs != 1 {
		t.Errorf("D-SACKs %d, want 1", f.Dir[1].DSACKs)
	}
}

// ackedCapture is the capture of the sender's frames out and of the
// receiver's ACKs, each sent delay after a data frame arrived at the
// receiver (arrivals, in any order), all in time order.
func ackedCapture(g *ct.Gen, c *ct.Conv, out []ct.Frame, arrivals []ct.Timed, delay time.Duration) []byte {
	sort.SliceStable(arrivals, func(i, j int) bool { return arrivals[i].At < arrivals[j].At })
	rx := c.Receiver(1)
	for _, a := range arrivals {
		out = append(out, rx.Ack(a.At+delay, a.F))
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At < out[j].At })
	for _, f := range out {
		g.Add(f)
	}
	return g.Pcap()
}

// The retransmission logs of all flows share one budget beyond their
// first records: a log grows while the budget lasts, then wraps.
func TestRtxLogBudget(t *testing.T) {
	budget := 2 * minRtxRecs
	var a, b rtxLog
	for i := range 8 * minRtxRecs {
		a.add(rtxRec{at: int64(i)}, 0, &budget) // every record recent: grow if allowed
	}
	// a: 16 -> 32 (16 from the budget) -> 64 would need 32 more: refused.
	if len(a.recs) != 2*minRtxRecs || budget != minRtxRecs || a.extra() != minRtxRecs {
		t.Fatalf("log of %d records, budget left %d", len(a.recs), budget)
	}
	for i := range 4 * minRtxRecs {
		b.add(rtxRec{at: int64(i)}, 0, &budget)
	}
	// b: 16 -> 32 takes the last 16.
	if len(b.recs) != 2*minRtxRecs || budget != 0 {
		t.Fatalf("second log of %d records, budget left %d", len(b.recs), budget)
	}
	if got := a.recs[(a.n-1)%uint64(len(a.recs))].at; got != 8*minRtxRecs-1 {
		t.Errorf("newest record of the wrapped log: at %d", got)
	}
}

// A sender-side capture of a stall: the receiver answers the first 100
// segments within 1 ms, then stalls; the sender's timer fires and it
// sends the other 300 again, one every 250 µs, before any answer comes.
// The receiver, awake, D-SACKs each copy 50 ms after it left. Every
// D-SACK still finds its retransmission, 200 of them sent in the 50 ms
// before the first came back although the data round trips were 1 ms: the
// log keeps retransmissions at least 200 ms.
func TestDSACKsAfterAStall(t *testing.T) {
	g := ct.NewGen(t, layers.LinkTypeEthernet)
	c := ct.NewConv(g, "198.18.0.1:40000", "198.18.1.1:5201")
	c.Handshake(0, time.Millisecond)
	segs := c.SendData(0, 5*time.Millisecond, 10*time.Microsecond, 400, 1448)
	rx := c.Receiver(1)
	var out []ct.Frame
	for i, s := range segs {
		out = append(out, s)
		if i < 100 {
			out = append(out, rx.Ack(s.At+time.Millisecond, s))
		} else {
			rx.Ack(s.At+time.Millisecond, s) // received, answered after the stall
		}
	}
	at := segs[399].At + 200*time.Millisecond
	for i := range 300 {
		x := c.Resend(segs[100+i], at+time.Duration(i)*250*time.Microsecond)
		out = append(out, x, rx.Ack(x.At+50*time.Millisecond, x))
	}
	slices.SortStableFunc(out, func(a, b ct.Frame) int { return cmp.Compare(a.At, b.At) })
	for _, f := range out {
		g.Add(f)
	}
	d := &onlyTCP(t, analyzeBytes(t, g.Pcap(), Options{})).Dir[0]
	// The 200 sent before the first answer came back are proven by their
	// D-SACKs, the 100 after it by the ACK it carried.
	if R := d.Retransmission; R.Packets != 300 || R.Spurious != 300 || R.ByDSACK != 200 || R.ByACK != 100 {
		t.Errorf("retransmissions %+v, want 300, all spurious: 200 by D-SACK, 100 by ACK", R)
	}
}
