package diagnose

import (
	"testing"

	"github.com/netdx/netdx/report"

	"github.com/netdx/netdx/collectors"
)

// TestNewDiagCounters: the JSON counters carry totals, deltas and rates,
// handle 32-bit wraps and resets, and drop deltas since boot.
func TestNewDiagCounters(t *testing.T) {
	b, a := healthyPair()
	b.Netstat["TcpExt"]["TCPTimeouts"] = 5000 // reset: went from 5000 to 1000
	b.Softnet[0].Dropped, a.Softnet[0].Dropped = 0xFFFFFFFF, 4
	d := report.NewDiag(collectors.NewWindow(b, a, testInterval))
	if d.SinceBoot || d.IntervalSeconds != 10 {
		t.Fatalf("interval %v since boot %v", d.IntervalSeconds, d.SinceBoot)
	}
	c := d.Netstat["Tcp"]["OutSegs"]
	if c.Total != 40_100_000 || *c.Delta != 100_000 || *c.RatePerSec != 10_000 || c.Reset {
		t.Errorf("OutSegs = %+v", c)
	}
	r := d.Netstat["TcpExt"]["TCPTimeouts"]
	if !r.Reset || *r.Delta != 1000 {
		t.Errorf("reset counter = %+v, want delta 1000 (counted from zero) and reset", r)
	}
	if g := d.Netstat["Tcp"]["CurrEstab"]; g.Delta != nil {
		t.Errorf("gauge CurrEstab has a delta: %+v", g)
	}
	w := d.Softnet[0].Dropped
	if *w.Delta != 5 || w.Reset {
		t.Errorf("wrapped softnet dropped = %+v, want 5 across the wrap", w)
	}
	if q := d.Qdiscs[0]; q.Kind != "mq" || *q.Packets.Delta != 110_000 {
		t.Errorf("qdisc = %+v", q)
	}
	eth := d.Interfaces[0]
	if eth.Name != "eth0" || eth.RxUtilisationPct == nil || *eth.RxUtilisationPct != 1.2 {
		t.Errorf("eth0 utilisation = %v", eth.RxUtilisationPct)
	}
	if eth.Ring == nil || eth.Ring.RxMax != 8192 || len(eth.EthtoolDropStats) == 0 {
		t.Errorf("eth0 ethtool = %+v", eth)
	}
	if l := d.Sockets.Listeners[0]; l.FillPct != 0.05 || l.Process.Comm != "nginx" {
		t.Errorf("listener = %+v", l)
	}
	if ct := d.Conntrack; *ct.FillPct != 7.63 || ct.Stats["entries"].Delta != nil || ct.Stats["entries"].Total != 20000 || *ct.Stats["invalid"].Delta != 0 {
		t.Errorf("conntrack = %+v", ct)
	}

	sb := report.NewDiag(collectors.NewWindow(nil, a, 0))
	if !sb.SinceBoot || sb.IntervalSeconds != 0 {
		t.Fatalf("since boot: %+v", sb)
	}
	if c := sb.Netstat["Tcp"]["OutSegs"]; c.Delta != nil || c.RatePerSec != nil || c.Total != 40_100_000 {
		t.Errorf("since-boot counter = %+v", c)
	}
}
