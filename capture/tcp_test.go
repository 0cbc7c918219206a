package capture

import (
	"net/netip"
	"testing"
	"time"

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
			g := newGen(t, layers.LinkTypeEthernet)
			c := newConv(g, tc.client, tc.server)
			c.ts = tc.ts
			c.handshake(0, 10*time.Millisecond)
			segs := c.sendData(0, 20*time.Millisecond, 10*time.Microsecond, 1000, 1448)
			for i := 0; i < 1000; i += 10 {
				segs[i+5], segs[i+6] = segs[i+6], segs[i+5]
			}
			c.deliver(c.receiver(1), 30*time.Millisecond, 20*time.Microsecond, segs)
			res := analyzeBytes(t, g.pcap(), Options{})
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
			// IP IDs become evidence once 16 segments showed them going up
			// by one: the first two swaps are decided by timing.
			if tc.wantByIPID && (d.Decided.ReorderedByIPID != 98 || d.Decided.ReorderedByTiming != 2) {
				t.Errorf("decided %+v, want 98 by IP ID, 2 by timing", d.Decided)
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
	g := newGen(t, layers.LinkTypeEthernet)
	c := newConv(g, "198.18.0.1:40000", "198.18.1.1:5201")
	rtt := 10 * time.Millisecond
	c.handshake(0, rtt)
	t0 := 20 * time.Millisecond
	gap := 100 * time.Microsecond
	segs := c.sendData(0, t0, gap, 200, 1448)
	var fs []timed
	arrive := func(i int) time.Duration { return t0 + time.Duration(i)*gap + rtt/2 }
	for i, s := range segs {
		switch i {
		case 20, 60, 199: // lost on the way
		case 100: // overtaken by the next four
			fs = append(fs, timed{arrive(104) + gap/2, s})
		default:
			fs = append(fs, timed{arrive(i), s})
		}
	}
	// Fast retransmissions, one round trip after the first duplicate ACK.
	for _, i := range []int{20, 60, 100} {
		fs = append(fs, timed{arrive(i+1) + rtt, c.resend(segs[i], arrive(i+1)+rtt/2)})
	}
	// The tail drop waits for the retransmission timer.
	fs = append(fs, timed{arrive(199) + 300*time.Millisecond, c.resend(segs[199], arrive(199)+300*time.Millisecond-rtt/2)})
	c.deliverAt(c.receiver(1), fs)
	res := analyzeBytes(t, g.pcap(), Options{})
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
