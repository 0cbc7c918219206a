package capture_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/netdx/netdx/capture"
	"github.com/netdx/netdx/internal/netlab"
)

// Lab ground truth: real transfers between network namespaces through a
// router whose userspace relay drops or swaps packets, recorded at the
// sender's and the receiver's interface by netlab's packet recorder, and
// analysed. The truth is what the kernel and the relay counted: the
// sender's TCP counters (Tcp RetransSegs, TcpExt TCPDSACKRecvSegs...) read
// inside its namespace before and after, and the relay's drops and
// displaced packets. Required accuracy: ±5 % (exact below 20).

// labCase is one recorded transfer.
type labCase struct {
	v6, vxlan bool
	// loss is the relay's drop probability for data segments; swapEvery
	// swaps one adjacent pair of data segments every swapEvery.
	loss      float64
	swapEvery int
	// noOffload turns TSO and GSO off on the sender's interface, so its
	// capture holds wire-size segments only.
	noOffload bool
	size      int64
}

// labRun is a recorded transfer with its truth.
type labRun struct {
	dir                 string
	senderPcap, rcvPcap string
	sender, receiver    *capture.Result
	recSender, recRcv   netlab.RecordStats
	// kernel is the change in the sender namespace's counters.
	kernel netlab.Counters
	relay  netlab.RelayStats
}

const labPort = 5301

func runLab(t *testing.T, c labCase) *labRun {
	t.Helper()
	match := netlab.TCPDataTo(labPort)
	if c.vxlan {
		match = netlab.VXLANInner(match)
	}
	p := netlab.NewPath(t, netlab.PathSpec{Routers: []netlab.RouterSpec{{Impair: netlab.Impairment{
		Loss: c.loss, ReorderEvery: c.swapEvery, Match: match, Seed: 7}}}})
	router := p.Hops[0][0]
	dst := p.TargetAddr.V4
	if c.v6 {
		dst = p.TargetAddr.V6
	}
	if c.vxlan {
		vx := netlab.NewVXLAN(t, p.Prober, p.Target, p.ProberAddr.V4, p.TargetAddr.V4, 42)
		dst = vx.B.V4
		if c.v6 {
			dst = vx.B.V6
		}
	}
	if c.noOffload {
		if err := p.Prober.SetOffloads(p.ProberIface, false); err != nil {
			t.Fatal(err)
		}
	}
	r := &labRun{dir: t.TempDir()}
	r.senderPcap, r.rcvPcap = filepath.Join(r.dir, "sender.pcap"), filepath.Join(r.dir, "receiver.pcap")
	snd, err := p.Prober.Record(p.ProberIface, r.senderPcap, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer snd.Stop()
	rcv, err := p.Target.Record(p.TargetIface, r.rcvPcap, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rcv.Stop()
	before, err := p.Prober.Counters()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tr, err := netlab.BulkTCP(ctx, p.Prober, p.Target, netip.AddrPortFrom(dst, labPort), c.size)
	if err != nil {
		t.Fatal(err)
	}
	r.relay = router.Relay.Settled(2 * time.Second)
	after, err := p.Prober.Counters()
	if err != nil {
		t.Fatal(err)
	}
	r.kernel = after.Sub(before)
	if r.recSender, err = snd.Stop(); err != nil {
		t.Fatal(err)
	}
	if r.recRcv, err = rcv.Stop(); err != nil {
		t.Fatal(err)
	}
	for name, st := range map[string]netlab.RecordStats{"sender": r.recSender, "receiver": r.recRcv} {
		// The recorder itself must have lost nothing.
		if st.Drops != 0 || st.Written != st.Kernel {
			t.Fatalf("%s recording incomplete: %+v", name, st)
		}
	}
	r.sender = analyzeFile(t, r.senderPcap)
	r.receiver = analyzeFile(t, r.rcvPcap)
	t.Logf("%d bytes in %s; relay %+v; recorded sender %+v, receiver %+v", tr.Bytes, tr.Duration.Round(time.Millisecond),
		r.relay, r.recSender, r.recRcv)
	t.Logf("sender kernel:%s", kernelSummary(r.kernel))
	t.Logf("sender capture:   %s", summary(r.sender))
	t.Logf("receiver capture: %s", summary(r.receiver))
	return r
}

// kernelCounters are the sender's counters the tests compare with or log.
var kernelCounters = []string{"Tcp.RetransSegs", "TcpExt.TCPFastRetrans", "TcpExt.TCPTimeouts",
	"TcpExt.TCPLossProbes", "TcpExt.TCPLostRetransmit", "TcpExt.TCPSlowStartRetrans", "TcpExt.TCPDSACKRecv",
	"TcpExt.TCPDSACKRecvSegs", "TcpExt.TCPSpuriousRTOs", "TcpExt.TCPSACKReorder", "TcpExt.TCPTSReorder",
	"TcpExt.TCPOrigDataSent"}

func kernelSummary(c netlab.Counters) string {
	var s string
	for _, k := range kernelCounters {
		s += fmt.Sprintf(" %s=%d", k, c[k])
	}
	return s
}

func analyzeFile(t *testing.T, path string) *capture.Result {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := capture.Analyze(context.Background(), f, capture.Options{Name: filepath.Base(path)})
	if err != nil {
		t.Fatalf("analyze %s: %v", path, err)
	}
	return res
}

func summary(res *capture.Result) string {
	d := &res.Totals.TCP
	R := &d.Retransmission
	return fmt.Sprintf("frames %d, data segments %d in %d frames (%d super), retransmitted %d segments in %d frames "+
		"(timeout %d, fast %d, spurious %d: ack %d dsack %d late %d), reordered %d, lost %d, not captured %d, duplicates %d",
		res.Packets, d.Segments, d.DataPackets, d.GSOFrames, R.Packets, R.Frames, R.Timeout, R.Fast, R.Spurious,
		R.ByACK, R.ByDSACK, R.ByLateOriginal, res.Totals.Reorder.Reordered, d.LostSegments, d.NotCapturedSegments,
		d.Duplicates)
}

// near checks got against the truth: within 5 %, exactly below 20.
func near(t *testing.T, what string, got, truth int64) {
	t.Helper()
	tol := truth * 5 / 100
	if got < truth-tol || got > truth+tol {
		t.Errorf("%s: analyser %d, truth %d (allowed ±%d)", what, got, truth, tol)
	}
}

func exactly(t *testing.T, what string, got, truth int64) {
	t.Helper()
	if got != truth {
		t.Errorf("%s: analyser %d, truth %d", what, got, truth)
	}
}

func tcpTotals(res *capture.Result) *capture.Direction { return &res.Totals.TCP }

// checkLoss compares a transfer through a dropping relay with its truth.
// At the sender's interface the capture saw every original: each drop
// downstream shows as a retransmission, never as a lost segment, and the
// retransmissions are the kernel's own RetransSegs (both count wire-size
// segments: a retransmitted super-segment counts as the segments it
// becomes, as tcp_skb_pcount does). At the receiver's the originals the
// relay dropped are missing: lost segments are the relay's dropped
// originals, and the retransmissions seen are the sender's less those the
// relay dropped again.
func checkLoss(t *testing.T, r *labRun) {
	t.Helper()
	retransSegs := r.kernel["Tcp.RetransSegs"]
	if r.relay.Dropped == 0 || retransSegs == 0 {
		t.Fatalf("nothing dropped (relay %+v, RetransSegs %d)", r.relay, retransSegs)
	}
	s, d := tcpTotals(r.sender), tcpTotals(r.receiver)
	near(t, "sender side: retransmitted_packets vs Tcp RetransSegs", int64(s.Retransmission.Packets), retransSegs)
	exactly(t, "sender side: lost_segments", int64(s.LostSegments), 0)
	exactly(t, "sender side: reordered_packets", int64(r.sender.Totals.Reorder.Reordered), 0)
	droppedRetrans := int64(r.relay.Dropped - r.relay.DroppedOriginals)
	near(t, "receiver side: lost_segments vs originals the relay dropped", int64(d.LostSegments), int64(r.relay.DroppedOriginals))
	near(t, "receiver side: retransmitted_packets vs RetransSegs less retransmissions dropped",
		int64(d.Retransmission.Packets), retransSegs-droppedRetrans)
	exactly(t, "receiver side: reordered_packets", int64(r.receiver.Totals.Reorder.Reordered), 0)
	dsack := r.kernel["TcpExt.TCPDSACKRecvSegs"]
	near(t, "sender side: spurious_retransmissions vs TCPDSACKRecvSegs", int64(s.Retransmission.Spurious), dsack)
	near(t, "receiver side: spurious_retransmissions vs TCPDSACKRecvSegs", int64(d.Retransmission.Spurious), dsack)
}

// checkReorder compares a transfer through a swapping relay with its
// truth: the receiver's capture has the relay's displaced packets as
// reordered originals and nothing lost; both captures have the sender's
// retransmissions (spurious ones, set off by the reordering), proven
// spurious as often as the receiver D-SACKed them.
func checkReorder(t *testing.T, r *labRun) {
	t.Helper()
	if r.relay.Displaced == 0 || r.relay.Dropped != 0 {
		t.Fatalf("relay did not just reorder: %+v", r.relay)
	}
	retransSegs := r.kernel["Tcp.RetransSegs"]
	dsack := r.kernel["TcpExt.TCPDSACKRecvSegs"]
	s, d := tcpTotals(r.sender), tcpTotals(r.receiver)
	near(t, "receiver side: reordered_packets vs packets the relay displaced", int64(r.receiver.Totals.Reorder.Reordered),
		int64(r.relay.Displaced))
	exactly(t, "receiver side: lost_segments", int64(d.LostSegments), 0)
	exactly(t, "sender side: lost_segments", int64(s.LostSegments), 0)
	exactly(t, "sender side: reordered_packets", int64(r.sender.Totals.Reorder.Reordered), 0)
	near(t, "sender side: retransmitted_packets vs Tcp RetransSegs", int64(s.Retransmission.Packets), retransSegs)
	near(t, "receiver side: retransmitted_packets vs Tcp RetransSegs", int64(d.Retransmission.Packets), retransSegs)
	near(t, "sender side: spurious_retransmissions vs TCPDSACKRecvSegs", int64(s.Retransmission.Spurious), dsack)
	near(t, "receiver side: spurious_retransmissions vs TCPDSACKRecvSegs", int64(d.Retransmission.Spurious), dsack)
}

func TestLabLossIPv4(t *testing.T) {
	r := runLab(t, labCase{loss: 0.02, size: 8 << 20})
	checkLoss(t, r)
	if tcpTotals(r.sender).GSOFrames == 0 || r.recSender.Largest <= 1514 {
		t.Errorf("sender capture holds no super-segment (largest frame %d): offloads were meant to be on", r.recSender.Largest)
	}
}

func TestLabLossIPv4NoOffload(t *testing.T) {
	r := runLab(t, labCase{loss: 0.02, size: 8 << 20, noOffload: true})
	checkLoss(t, r)
	s := tcpTotals(r.sender)
	if s.GSOFrames != 0 || r.recSender.Largest > 1514 {
		t.Errorf("TSO/GSO off, yet the sender capture holds super-segments (%d, largest frame %d)", s.GSOFrames, r.recSender.Largest)
	}
	exactly(t, "sender side without offloads: retransmitted frames vs segments", int64(s.Retransmission.Frames),
		int64(s.Retransmission.Packets))
}

func TestLabLossIPv6(t *testing.T) {
	checkLoss(t, runLab(t, labCase{v6: true, loss: 0.02, size: 8 << 20}))
}

func TestLabReorderIPv4(t *testing.T) {
	checkReorder(t, runLab(t, labCase{swapEvery: 20, size: 8 << 20}))
}

func TestLabReorderVXLAN(t *testing.T) {
	r := runLab(t, labCase{vxlan: true, swapEvery: 20, size: 8 << 20})
	checkReorder(t, r)
	if len(r.receiver.Tunnels) != 1 {
		t.Fatalf("receiver capture: %d tunnels, want the VXLAN one", len(r.receiver.Tunnels))
	}
	in := r.receiver.Tunnels[0].Inner
	late := r.receiver.Totals.Reorder.Reordered
	// The relay swapped outer packets: every late inner segment was late
	// outside too.
	near(t, "receiver side: late inner segments attributed to the underlay", int64(in.Outer.Underlay), int64(late))
}
