package diagnose

import (
	"net/netip"
	"testing"

	"github.com/netdx/netdx/collectors"
	"github.com/netdx/netdx/report"
)

// connSnapshots are two samples of n established connections a second
// apart, as a busy server holds them: every connection sent data; one in
// a hundred resent some, one in fifty waited on its peer's window, the
// rest were application limited.
func connSnapshots(n int) (before, after *collectors.Snapshot) {
	conns := func(grow bool) *collectors.TCPConns {
		t := &collectors.TCPConns{Conns: make([]collectors.TCPConn, n), SynRecv: map[netip.AddrPort]int{}}
		for i := range t.Conns {
			c := &t.Conns[i]
			c.Local = netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 0, 1}), 443)
			c.Remote = netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)}), uint16(10000+i))
			c.State, c.Cookie, c.Inode, c.HaveMem = 1, uint64(i+1), uint64(100000+i), true
			in := &c.Info
			in.Len, in.State, in.RTT, in.SndCwnd, in.DeliveryRate = int(collectors.TCPInfoTotalRTO), 1, 20000, 10, 1e6
			in.DataSegsOut, in.BytesSent, in.BusyTime, in.AppLimited = 1000, 1448000, 1e6, true
			if grow {
				in.DataSegsOut += 700
				in.BytesSent += 700 * 1448
				in.BusyTime += 500000
				switch {
				case i%100 == 0:
					in.TotalRetrans += 30
				case i%50 == 1:
					in.RwndLimited += 400000
				}
			}
		}
		return t
	}
	before, after = healthyHost(t0), healthyHost(t0.Add(1e9))
	before.TCPConns, after.TCPConns = conns(false), conns(true)
	return before, after
}

// BenchmarkConnView10k is what diag spends per run on 10,000 connections
// once the two dumps are decoded: the comparison of the two samples
// (collectors.TCPHealthBetween), then the per-connection rules and the
// report's connections section. The decoding (collectors'
// BenchmarkTCPConnView10k) and the kernel's dump (BenchmarkTCPConnsLive10k)
// come on top; docs/diag.md has the figures.
func BenchmarkConnView10k(b *testing.B) {
	before, after := connSnapshots(10000)
	w := collectors.NewWindow(before, after, 1e9)
	b.Run("compare", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			collectors.TCPHealthBetween(before, after, collectors.TCPHealthOptions{})
		}
	})
	h := collectors.TCPHealthBetween(before, after, collectors.TCPHealthOptions{})
	b.Run("rules+report", func(b *testing.B) {
		b.ReportAllocs()
		var out Outcome
		for b.Loop() {
			out = checkConns(&Input{Diag: w, Conns: h})
			_ = report.NewDiagConnections(h)
		}
		if len(out.Findings) != 2 {
			b.Fatalf("findings %+v", out)
		}
	})
}
