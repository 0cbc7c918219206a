package capture

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	ct "github.com/netdx/netdx/capture/capturetest"
	"github.com/netdx/netdx/capture/decode"
)

// Regression tests for the classes of real-world captures in issue 16
// (D1-D9), each on a capture generated here with an exact truth. Every
// result also passes checkSupported: no count beyond what the capture can
// carry.

// analyzeChecked analyses a generated capture and checks its counts
// against what the capture supports.
func analyzeChecked(t *testing.T, data []byte, o Options) *Result {
	t.Helper()
	res := analyzeBytes(t, data, o)
	checkSupported(t, "generated", data, o, res)
	return res
}

// D1: an ACK captured before the data it acknowledges (a capture point
// between the two directions' paths, timestamps taken on two CPUs) does
// not turn that data into a retransmission, nor into data the capture
// missed. Every tenth ACK here comes 2 µs before its segment; one segment
// arrives after the next one and after the ACK covering both (the
// original, late: its IPv4 ID says so); one segment never reaches the
// capture although the receiver acknowledges it.
func TestACKCapturedBeforeItsData(t *testing.T) {
	g := ct.NewGen(t, layers.LinkTypeEthernet)
	c := ct.NewConv(g, "198.18.0.1:40000", "198.18.1.1:445")
	c.TS = false
	c.Handshake(0, time.Millisecond)
	rx := c.Receiver(1)
	segs := c.SendData(0, 5*time.Millisecond, 20*time.Microsecond, 200, 1448)
	for i := 0; i < len(segs); i++ {
		s := segs[i]
		a := rx.Ack(s.At+5*time.Microsecond, s)
		switch {
		case i == 100: // never captured
			g.Add(a)
		case i == 50: // the capture sees 51, the ACK of both, then 50
			next := segs[51]
			g.Add(next)
			rx.Ack(s.At, s)
			both := rx.Ack(next.At+5*time.Microsecond, next)
			both.At = next.At + time.Microsecond
			g.Add(both)
			s.At = next.At + 2*time.Microsecond
			g.Add(s)
			i++
		case i%10 == 3 || i == len(segs)-1:
			a.At = s.At - 2*time.Microsecond
			g.Add(a)
			g.Add(s)
		default:
			g.Add(s)
			g.Add(a)
		}
	}
	f := onlyTCP(t, analyzeChecked(t, g.Pcap(), Options{}))
	d := &f.Dir[0]
	checkDir(t, "client data", d, want{reordered: 1, notCaptured: 1})
	if d.Decided.ReorderedByIPID != 1 || d.UniqueBytes != 200*1448 {
		t.Errorf("decided %+v unique %d", d.Decided, d.UniqueBytes)
	}
	if d.RTT.Samples == 0 || d.RTT.Min <= 0 {
		t.Errorf("round trips %+v: data the ACK preceded gives no sample", d.RTT)
	}
}

// D2: the two directions of one connection under different GRE keys (an
// ERSPAN or GRE mirror session per direction) are one flow with its exact
// truth, seen in both encapsulations; so are directions mirrored on two
// VLANs, and a connection whose packets alternate between the direct path
// and a GRE tunnel (copies of one direction on two VLANs stay apart:
// TestVLANsSeparateFlows). Two connections of
// the same 5-tuple in two VXLAN VNIs (two tenants, their own ISNs) stay
// two flows.
func TestTunnelKeysPerDirection(t *testing.T) {
	t.Run("gre key per direction", func(t *testing.T) {
		g := ct.NewGen(t, layers.LinkTypeEthernet)
		c := ct.NewConv(g, "198.18.0.1:40000", "198.18.1.1:80")
		c.Encap = []ct.Spec{{Kind: "gre", ID: 0, HasKey: true, Src: outerA, Dst: outerB}}
		c.EncapBack = []ct.Spec{{Kind: "gre", ID: 0x2000000, HasKey: true, Src: outerA, Dst: outerB}}
		ct.RetransScenario(c)
		res := analyzeChecked(t, g.Pcap(), Options{})
		f := checkScenario(t, res)
		if len(f.OtherEncaps) != 1 || f.OtherEncaps[0][0].ID != 0x2000000 || f.Encap[0].ID != 0 {
			t.Errorf("encapsulations %+v, others %+v", f.Encap, f.OtherEncaps)
		}
		if len(res.Tunnels) != 2 || res.Tunnels[0].Flows != 1 || res.Tunnels[1].Flows != 1 {
			t.Errorf("tunnels %d", len(res.Tunnels))
		}
	})
	t.Run("a vlan per direction", func(t *testing.T) {
		g := ct.NewGen(t, layers.LinkTypeEthernet)
		c := ct.NewConv(g, "198.18.0.1:40000", "198.18.1.1:80")
		c.Encap = []ct.Spec{{Kind: "vlan", ID: 10}}
		c.EncapBack = []ct.Spec{{Kind: "vlan", ID: 20}}
		ct.RetransScenario(c)
		f := checkScenario(t, analyzeChecked(t, g.Pcap(), Options{}))
		if len(f.OtherEncaps) != 1 || f.OtherEncaps[0][0].ID != 20 {
			t.Errorf("other encapsulations %+v", f.OtherEncaps)
		}
	})
	t.Run("direct and gre alternating", func(t *testing.T) {
		g := ct.NewGen(t, layers.LinkTypeEthernet)
		c := ct.NewConv(g, "198.18.0.1:40000", "198.18.1.1:80")
		gre := []ct.Spec{{Kind: "gre", ID: 7, HasKey: true, Src: outerA, Dst: outerB}}
		c.Handshake(0, time.Millisecond)
		rx := c.Receiver(1)
		segs := c.SendData(0, 5*time.Millisecond, 50*time.Microsecond, 100, 1000)
		segs[30], segs[31] = segs[31], segs[30]
		at := 6 * time.Millisecond
		for i, s := range segs {
			if i == 60 {
				continue // lost before the capture point
			}
			if i%2 == 1 {
				s.Encap = gre
			}
			s.At = at
			a := rx.Ack(at+5*time.Microsecond, s)
			a.Encap = s.Encap
			g.Add(s)
			g.Add(a)
			at += 50 * time.Microsecond
		}
		r := c.Resend(segs[60], at+2*time.Millisecond)
		r.Encap = gre
		g.Add(r)
		g.Add(rx.Ack(r.At+5*time.Microsecond, r))
		f := onlyTCP(t, analyzeChecked(t, g.Pcap(), Options{}))
		checkDir(t, "client data", &f.Dir[0], want{retrans: 1, reordered: 1, lost: 1, timeout: 1})
		if len(f.OtherEncaps) != 1 {
			t.Errorf("other encapsulations %+v", f.OtherEncaps)
		}
	})
	t.Run("two tenants", func(t *testing.T) {
		g := ct.NewGen(t, layers.LinkTypeEthernet)
		for i, isn := range []uint32{1000, 3_000_000_000} {
			c := ct.NewConv(g, "10.0.0.1:40000", "10.0.0.2:443")
			c.ISN, c.Next = [2]uint32{isn, isn + 7}, [2]uint32{isn + 1, isn + 8}
			c.Offset = time.Duration(i) * 30 * time.Microsecond
			c.Encap = []ct.Spec{{Kind: "vxlan", ID: uint32(i + 1), Src: outerA, Dst: outerB}}
			ct.RetransScenario(c)
		}
		slices.SortStableFunc(g.Recs, func(a, b ct.Record) int { return a.CI.Timestamp.Compare(b.CI.Timestamp) })
		res := analyzeChecked(t, g.Pcap(), Options{})
		if len(res.Flows) != 2 {
			t.Fatalf("%d flows, want 2", len(res.Flows))
		}
		for _, f := range res.Flows {
			checkDir(t, "vni "+strconv.FormatUint(uint64(f.Encap[0].ID), 10), &f.Dir[0], scenarioWant)
		}
	})
}

// D3: IPv4 IDs order a sender's segments from its first ones: a segment
// that overtakes 17 originals early in the flow, whose late originals
// arrive over 1.5 round trips (timing alone would call most of them
// retransmissions), is reordering; a segment lost later and sent again is
// a retransmission, its ID after the segment that jumped its hole.
func TestIPIDEvidenceFromTheFirstSegments(t *testing.T) {
	g := ct.NewGen(t, layers.LinkTypeEthernet)
	c := ct.NewConv(g, "198.18.0.1:443", "198.18.1.1:60038")
	c.TS = false
	rtt := 2 * time.Millisecond
	c.Handshake(0, rtt)
	t0 := 5 * time.Millisecond
	segs := c.SendData(0, t0, 20*time.Microsecond, 60, 1206)
	var fs []ct.Timed
	arrive := func(i int) time.Duration { return t0 + time.Duration(i)*20*time.Microsecond + rtt/2 }
	for i, s := range segs {
		switch {
		case i < 5:
			fs = append(fs, ct.Timed{At: arrive(i), F: s})
		case i == 22:
			fs = append(fs, ct.Timed{At: arrive(4) + 5*time.Microsecond, F: s})
		case i < 22: // late over 3 ms
			fs = append(fs, ct.Timed{At: arrive(4) + time.Duration(i-4)*180*time.Microsecond, F: s})
		case i == 40: // lost
		default:
			fs = append(fs, ct.Timed{At: arrive(i) + 4*time.Millisecond, F: s})
		}
	}
	fs = append(fs, ct.Timed{At: arrive(41) + 4*time.Millisecond + rtt + 100*time.Microsecond, F: c.Resend(segs[40], arrive(41)+rtt)})
	c.DeliverAt(c.Receiver(1), fs)
	f := onlyTCP(t, analyzeChecked(t, g.Pcap(), Options{}))
	d := &f.Dir[0]
	checkDir(t, "server data", d, want{retrans: 1, reordered: 17, lost: 1, fast: 1})
	if d.Decided.ReorderedByIPID != 17 || d.Decided.RetransmittedByIPID != 1 {
		t.Errorf("decided %+v, want all by IPv4 ID", d.Decided)
	}
}

// A segment that overtakes 100 originals (paths of different delays) is
// held as a long jump; the receiver's SACK of it confirms it, and the 100
// late originals are reordering, not loss or anomalies.
func TestDeepReorderingConfirmedBySACK(t *testing.T) {
	g := ct.NewGen(t, layers.LinkTypeEthernet)
	c := ct.NewConv(g, "198.18.0.1:40000", "198.18.1.1:5201")
	c.Handshake(0, time.Millisecond)
	segs := c.SendData(0, 5*time.Millisecond, 10*time.Microsecond, 300, 1448)
	order := append([]ct.Frame{}, segs[:10]...)
	order = append(order, segs[110])
	order = append(order, segs[10:110]...)
	order = append(order, segs[111:]...)
	c.Deliver(c.Receiver(1), 6*time.Millisecond, 20*time.Microsecond, order)
	d := &onlyTCP(t, analyzeChecked(t, g.Pcap(), Options{})).Dir[0]
	checkDir(t, "client data", d, want{reordered: 100})
	if d.Anomalies != 0 || d.Reorder.ExtentMax != 100 {
		t.Errorf("anomalies %d extent %d, want 0 and 100", d.Anomalies, d.Reorder.ExtentMax)
	}
}

// D4: a sender's IPv4 IDs come from a host-wide counter moving 30,000 a
// second; its retransmissions after timeouts seconds apart are not old
// copies because 16-bit IDs wrapped in between. A copy the network
// duplicated 2 ms later, with an older ID, is a late duplicate.
func TestIPIDComparedWithinTheCounterHorizon(t *testing.T) {
	g := ct.NewGen(t, layers.LinkTypeEthernet)
	c := ct.NewConv(g, "198.18.0.1:80", "198.18.1.1:3254")
	c.TS = false
	global := func(f ct.Frame) ct.Frame {
		f.IPID = uint16(int64(f.At.Seconds()*30000) + 12345)
		return f
	}
	rtt := 70 * time.Millisecond
	c.Handshake(0, rtt)
	segs := c.SendData(0, 100*time.Millisecond, 100*time.Microsecond, 50, 1400)
	var out []ct.Frame
	var arrivals []ct.Timed
	for i, s := range segs {
		s = global(s)
		segs[i] = s
		out = append(out, s)
		if i < 48 {
			arrivals = append(arrivals, ct.Timed{At: s.At + rtt/2, F: s})
		}
	}
	dup := segs[10]
	dup.At = segs[30].At + 2*time.Millisecond
	out = append(out, dup)
	at := segs[49].At
	for _, backoff := range []time.Duration{300 * time.Millisecond, 600 * time.Millisecond, 1200 * time.Millisecond, 2400 * time.Millisecond} {
		at += backoff
		out = append(out, global(c.Resend(segs[48], at)))
	}
	f := onlyTCP(t, analyzeChecked(t, ackedCapture(g, c, out, arrivals, rtt/2), Options{}))
	d := &f.Dir[0]
	checkDir(t, "server data", d, want{retrans: 4, timeout: 4})
	if d.LateDuplicates != 1 {
		t.Errorf("late duplicates %d, want 1", d.LateDuplicates)
	}
}

// D5: a SYN with a new ISN on a 4-tuple already seen starts a new
// connection (a port reused): two flows, each with its own truth, and no
// data counted as missed between them. A responder that answers one SYN
// with SYN/ACKs of different ISNs before any data (TFO tests, middleboxes)
// stays one flow, its data in the space the client acknowledged.
func TestNewISNOnAKnownFourTuple(t *testing.T) {
	t.Run("port reuse", func(t *testing.T) {
		g := ct.NewGen(t, layers.LinkTypeEthernet)
		first := ct.NewConv(g, "198.18.0.1:51615", "198.18.1.1:443")
		first.Handshake(0, time.Millisecond)
		first.Deliver(first.Receiver(1), 5*time.Millisecond, 50*time.Microsecond, first.SendData(0, 5*time.Millisecond, 50*time.Microsecond, 20, 1000))
		fin := first.Frame(0, 10*time.Millisecond, first.Next[0], 0, decode.FIN)
		g.Add(fin)
		second := ct.NewConv(g, "198.18.0.1:51615", "198.18.1.1:443")
		second.ISN, second.Next = [2]uint32{2_000_000_000, 97572840}, [2]uint32{2_000_000_001, 97572841}
		second.Offset = 20 * time.Millisecond
		ct.RetransScenario(second)
		res := analyzeChecked(t, g.Pcap(), Options{})
		if res.FlowsSeen != 2 || len(res.Flows) != 2 {
			t.Fatalf("flows %d listed %d, want 2", res.FlowsSeen, len(res.Flows))
		}
		for _, f := range res.Flows {
			if f.Dir[0].DataPackets == 20 {
				checkDir(t, "first connection", &f.Dir[0], want{})
				continue
			}
			checkDir(t, "second connection", &f.Dir[0], scenarioWant)
		}
		if res.Totals.TCP.NotCapturedSegments != 0 || res.Totals.TCP.Anomalies != 0 {
			t.Errorf("not captured %d anomalies %d", res.Totals.TCP.NotCapturedSegments, res.Totals.TCP.Anomalies)
		}
	})
	t.Run("syn/ack with new isns", func(t *testing.T) {
		g := ct.NewGen(t, layers.LinkTypeRaw)
		c := ct.NewConv(g, "198.18.0.45:51615", "198.18.144.10:443")
		syn := c.Frame(0, 0, c.ISN[0], 0, decode.SYN)
		syn.Flags, syn.Ack, syn.MSS = decode.SYN, 0, 1460
		synAck := func(at time.Duration, isn uint32) {
			sa := c.Frame(1, at, isn, 0, decode.SYN)
			sa.Ack, sa.MSS = c.ISN[0]+1, 1460
			g.Add(sa)
		}
		g.Add(syn)
		synAck(9*time.Millisecond, 3212050950)
		again := c.Frame(0, 35*time.Millisecond, c.ISN[0], 0, decode.SYN)
		again.Flags, again.Ack, again.MSS = decode.SYN, 0, 1460
		g.Add(again)
		synAck(44*time.Millisecond, 97572840)
		synAck(60*time.Millisecond, 3212050950)
		c.Next[1] = 97572841
		g.Add(c.Frame(0, 70*time.Millisecond, c.Next[0], 0, 0))
		c.Deliver(c.Receiver(0), 80*time.Millisecond, 100*time.Microsecond, c.SendData(1, 80*time.Millisecond, 100*time.Microsecond, 10, 1400))
		f := onlyTCP(t, analyzeChecked(t, g.Pcap(), Options{}))
		d := &f.Dir[1]
		if d.UniqueBytes != 14000 || d.NotCapturedSegments != 0 || d.Anomalies != 0 || d.Retransmission.SYN != 1 || f.Dir[0].Retransmission.SYN != 1 {
			t.Errorf("server: unique %d not captured %d anomalies %d SYN/ACKs again %d, client SYNs again %d",
				d.UniqueBytes, d.NotCapturedSegments, d.Anomalies, d.Retransmission.SYN, f.Dir[0].Retransmission.SYN)
		}
	})
}

// D6: packets damaged or crafted (a fuzzed capture) do not turn into
// absurd counts. A segment whose sequence number is off by 2^31, one
// 200 KB ahead standing alone, and an acknowledgement 2.7 MB ahead followed
// by ordinary ones are anomalies: counted, named in a warning with the
// record of the first, and left out. A new connection on the same ports
// whose SYN the capture missed moves the stream beyond any window for good:
// one anomaly, and the stretch between is not counted as lost or missed.
func TestImplausibleJumps(t *testing.T) {
	t.Run("lone jumps", func(t *testing.T) {
		g := ct.NewGen(t, layers.LinkTypeEthernet)
		c := ct.NewConv(g, "198.18.0.1:2582", "198.18.1.1:502")
		c.Handshake(0, time.Millisecond)
		rx := c.Receiver(1)
		segs := c.SendData(0, 5*time.Millisecond, 100*time.Microsecond, 100, 1000)
		var first int
		for i, s := range segs {
			g.Add(s)
			a := rx.Ack(s.At+10*time.Microsecond, s)
			g.Add(a)
			switch i {
			case 20:
				x := c.Frame(0, s.At+20*time.Microsecond, s.Seq+1<<31, 1000, decode.PSH)
				first = len(g.Recs) + 1
				g.Add(x)
			case 40:
				g.Add(c.Frame(0, s.At+20*time.Microsecond, s.Seq+200_000, 1000, decode.PSH))
			case 60:
				g.Add(c.AckFrame(1, s.At+20*time.Microsecond, a.Ack+2_700_000))
			}
		}
		res := analyzeChecked(t, g.Pcap(), Options{})
		f := onlyTCP(t, res)
		checkDir(t, "client data", &f.Dir[0], want{})
		if f.Dir[0].Anomalies != 2 || f.Dir[1].Anomalies != 1 || f.Dir[0].UniqueBytes != 100_000 {
			t.Errorf("anomalies %d and %d, want 2 and 1; unique bytes %d", f.Dir[0].Anomalies, f.Dir[1].Anomalies, f.Dir[0].UniqueBytes)
		}
		if !slices.ContainsFunc(res.Warnings, func(w string) bool {
			return strings.Contains(w, "3 sequence anomalies") && strings.Contains(w, "the first at record "+strconv.FormatUint(uint64(first), 10)+" ")
		}) {
			t.Errorf("no warning naming the flow and record %d: %q", first, res.Warnings)
		}
	})
	t.Run("new connection without its syn", func(t *testing.T) {
		g := ct.NewGen(t, layers.LinkTypeEthernet)
		c := ct.NewConv(g, "198.18.0.1:2582", "198.18.1.1:502")
		c.Handshake(0, time.Millisecond)
		c.Deliver(c.Receiver(1), 5*time.Millisecond, 100*time.Microsecond, c.SendData(0, 5*time.Millisecond, 100*time.Microsecond, 20, 1000))
		d := ct.NewConv(g, "198.18.0.1:2582", "198.18.1.1:502")
		d.Next = [2]uint32{c.Next[0] + 1_500_000_000, c.Next[1] + 7}
		d.Offset = 20 * time.Millisecond
		d.Deliver(d.Receiver(1), 0, 100*time.Microsecond, d.SendData(0, 0, 100*time.Microsecond, 20, 1000))
		f := onlyTCP(t, analyzeChecked(t, g.Pcap(), Options{}))
		checkDir(t, "client data", &f.Dir[0], want{})
		if f.Dir[0].Anomalies+f.Dir[1].Anomalies != 1 || f.Dir[0].UniqueBytes != 40_000 {
			t.Errorf("anomalies %d+%d, want 1; unique bytes %d", f.Dir[0].Anomalies, f.Dir[1].Anomalies, f.Dir[0].UniqueBytes)
		}
	})
}

// D7: the handshake round trip follows Karn's rule. Captured at the
// server: its SYN/ACK's ACK never came, it sent the SYN/ACK again 1 s
// later, the client's ACK came 450 ms after that. Timed from the first
// SYN/ACK the round trip would be 1.45 s and a retransmission arriving
// 500 ms after the segment that jumped its hole would pass for a late
// original; the handshake round trip is left out of the report.
func TestHandshakeRoundTripKarn(t *testing.T) {
	g := ct.NewGen(t, layers.LinkTypeEthernet)
	c := ct.NewConv(g, "[2001:db8::1]:40000", "[2001:db8::2]:80")
	c.TS = false
	syn := c.Frame(0, 0, c.ISN[0], 0, decode.SYN)
	syn.Flags, syn.Ack, syn.MSS, syn.WS = decode.SYN, 0, 1460, 7
	g.Add(syn)
	for _, at := range []time.Duration{10 * time.Microsecond, time.Second} {
		sa := c.Frame(1, at, c.ISN[1], 0, decode.SYN)
		sa.MSS, sa.WS = 1460, 7
		g.Add(sa)
	}
	g.Add(c.Frame(0, 1450*time.Millisecond, c.Next[0], 0, 0))
	t0 := 1500 * time.Millisecond
	segs := c.SendData(0, t0, 100*time.Microsecond, 40, 1000)
	var fs []ct.Timed
	for i, s := range segs {
		if i != 20 {
			fs = append(fs, ct.Timed{At: s.At + 225*time.Millisecond, F: s})
		}
	}
	fs = append(fs, ct.Timed{At: segs[21].At + 725*time.Millisecond, F: c.Resend(segs[20], segs[21].At+500*time.Millisecond)})
	c.DeliverAt(c.Receiver(1), fs)
	f := onlyTCP(t, analyzeChecked(t, g.Pcap(), Options{}))
	checkDir(t, "client data", &f.Dir[0], want{retrans: 1, lost: 1, fast: 1})
	if f.HandshakeRTT != 0 || f.ServerRTT != 0 || f.ClientRTT != 10*time.Microsecond || f.Dir[0].Decided.RetransmittedByTiming != 1 {
		t.Errorf("handshake %v client %v server %v, decided %+v", f.HandshakeRTT, f.ClientRTT, f.ServerRTT, f.Dir[0].Decided)
	}
}

// D8: a capture duplicate is the same frame: a segment with the same
// sequence number and IPv4 ID but other bytes (an overlap test) is a
// second transmission, not a copy.
func TestDuplicatesComparePayload(t *testing.T) {
	g := ct.NewGen(t, layers.LinkTypeEthernet)
	c := ct.NewConv(g, "198.18.0.1:40000", "198.18.1.1:80")
	c.Handshake(0, time.Millisecond)
	segs := c.SendData(0, 5*time.Millisecond, 100*time.Microsecond, 20, 100)
	for i, s := range segs {
		s.Data = []byte("GET /index.html")
		g.Add(s)
		switch i {
		case 5: // the same frame again: a copy
			s.At += time.Microsecond
			g.Add(s)
		case 10: // the same headers over other bytes
			s.At += time.Microsecond
			s.Data = []byte("GET /evil.html?")
			g.Add(s)
		}
	}
	f := onlyTCP(t, analyzeChecked(t, g.Pcap(), Options{}))
	checkDir(t, "client data", &f.Dir[0], want{retrans: 1, timeout: 1, dups: 1})
}

// Without timestamps, IPv4 IDs or a round trip (IPv6, one direction
// captured, no handshake) nothing tells a late original from a
// retransmission: the hole fillers are undecided, said per flow, and
// counted neither way.
func TestUndecidedWithoutEvidence(t *testing.T) {
	g := ct.NewGen(t, layers.LinkTypeEthernet)
	c := ct.NewConv(g, "[2001:db8::1]:40000", "[2001:db8::2]:80")
	c.TS = false
	segs := c.SendData(0, 0, 100*time.Microsecond, 100, 1000)
	for i := 10; i < 100; i += 20 {
		segs[i], segs[i+1] = segs[i+1], segs[i]
	}
	for i, s := range segs {
		s.At = time.Duration(i) * 100 * time.Microsecond
		g.Add(s)
	}
	res := analyzeChecked(t, g.Pcap(), Options{})
	d := &onlyTCP(t, res).Dir[0]
	checkDir(t, "client data", d, want{})
	if d.Decided.Undecided != 5 {
		t.Errorf("decided %+v, want 5 undecided", d.Decided)
	}
	if !slices.ContainsFunc(res.Warnings, func(w string) bool { return strings.Contains(w, "undecided: 5 segments") }) {
		t.Errorf("warnings %q", res.Warnings)
	}
}

// D9: goodput from a capture that filtered out most of a transfer: 1,000
// segments over one second, the capture keeping all ACKs but only the
// first 20 data segments. The data acknowledged counts over the time it
// was acknowledged: 11.6 Mbit/s, not the 20 segments' span.
func TestGoodputOfAFilteredCapture(t *testing.T) {
	g := ct.NewGen(t, layers.LinkTypeEthernet)
	c := ct.NewConv(g, "198.18.0.1:40000", "198.18.1.1:80")
	c.Handshake(0, time.Millisecond)
	rx := c.Receiver(1)
	for i, s := range c.SendData(0, 5*time.Millisecond, time.Millisecond, 1000, 1448) {
		if i < 20 {
			g.Add(s)
		}
		g.Add(rx.Ack(s.At+10*time.Microsecond, s))
	}
	d := &onlyTCP(t, analyzeChecked(t, g.Pcap(), Options{})).Dir[0]
	span := d.DeliveredLast.Sub(d.DeliveredFirst)
	bps := float64(d.UniqueBytes) * 8 / span.Seconds()
	if d.UniqueBytes != 1000*1448 || d.NotCapturedSegments != 980 || bps < 11.0e6 || bps > 12.2e6 {
		t.Errorf("unique %d not captured %d goodput %.0f bit/s over %v, want 1448000, 980, about 11.6 Mbit/s",
			d.UniqueBytes, d.NotCapturedSegments, bps, span)
	}
}
