package cli

import (
	"net/netip"
	"testing"
	"time"

	"github.com/netdx/netdx/internal/netlab"
)

// TestServeLabDrops: serve counts drop reasons from the start and
// exports them per namespace and device; the NO_SOCKET count of a lab
// namespace that receives datagrams to a closed port matches its
// Udp.NoPorts.
func TestServeLabDrops(t *testing.T) {
	netlab.RequireRoot(t)
	p := netlab.NewPath(t, netlab.PathSpec{})
	before, err := p.Target.Counters()
	if err != nil {
		t.Fatal(err)
	}
	addr, stop := serveTest(t, nil, "--interval", "1s")
	waitFor(t, addr, 30*time.Second, "a drop-reason source", func(m map[string]float64) bool {
		return m[`netdx_drops_source_info{source="bpf-tp_btf"}`] == 1 || m[`netdx_drops_source_info{source="none"}`] == 1
	})
	if m := scrape(t, addr); m[`netdx_drops_source_info{source="bpf-tp_btf"}`] != 1 {
		stop()
		t.Skip("skipped: the tp_btf source could not run here")
	}
	const sent = 3000
	if n, err := p.Prober.SendUDP(netip.Addr{}, netip.AddrPortFrom(p.TargetAddr.V4, 9), sent, 64); err != nil || n < sent*9/10 {
		t.Fatalf("sent %d of %d: %v", n, sent, err)
	}
	after, err := p.Target.Settle(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	want := float64(after.Sub(before)["Udp.NoPorts"])
	series := `netdx_drops_total{device="` + p.TargetIface + `",netns="` + p.Target.Name + `",reason="NO_SOCKET"}`
	m := waitFor(t, addr, 10*time.Second, series, func(m map[string]float64) bool { return m[series] >= want*0.9 })
	if got := m[series]; want < sent/2 || got > want*1.1 {
		t.Errorf("%s = %v, Udp.NoPorts moved by %v", series, got, want)
	}
	if code := stop(); code != exitOK {
		t.Errorf("serve exit %d", code)
	}
}
