package diagnose

import (
	"bytes"
	"context"
	"encoding/binary"
	"net/netip"
	"sort"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/netdx/netdx/capture"
	"github.com/netdx/netdx/capture/capturetest"
)

// A pcapng holding both sides of a WireGuard tunnel: the encrypted
// packets on eth0 with counters in order, the decrypted flow on wg0
// reordered. The finding must blame the tunnel endpoints, not the
// underlay.
func TestCaptureWireGuardEndpointReordering(t *testing.T) {
	outer := capturetest.NewGen(t, layers.LinkTypeEthernet)
	a, b := netip.MustParseAddr("198.18.20.1"), netip.MustParseAddr("198.18.20.2")
	for i := range 400 {
		p := make([]byte, 32+1448)
		p[0] = 4
		binary.LittleEndian.PutUint32(p[4:], 0x77)
		binary.LittleEndian.PutUint64(p[8:], uint64(i))
		outer.Add(capturetest.Frame{At: 10*time.Millisecond + time.Duration(i)*20*time.Microsecond, Src: a, Dst: b,
			SPort: 41000, DPort: 51820, UDP: true, UDPPayload: p, WS: -1})
	}
	inner := capturetest.NewGen(t, layers.LinkTypeRaw)
	c := capturetest.NewConv(inner, "10.99.0.1:40000", "10.99.0.2:443")
	c.Handshake(0, 5*time.Millisecond)
	segs := c.SendData(0, 9*time.Millisecond, 20*time.Microsecond, 400, 1448)
	for i := 5; i+1 < len(segs); i += 20 {
		segs[i], segs[i+1] = segs[i+1], segs[i]
	}
	c.Deliver(c.Receiver(1), 10*time.Millisecond+7*time.Microsecond, 20*time.Microsecond, segs)
	for i := range inner.Recs {
		inner.Recs[i].CI.InterfaceIndex = 1
	}
	merged := capturetest.NewGen(t, layers.LinkTypeEthernet)
	merged.Recs = append(append(merged.Recs, outer.Recs...), inner.Recs...)
	sort.SliceStable(merged.Recs, func(i, j int) bool { return merged.Recs[i].CI.Timestamp.Before(merged.Recs[j].CI.Timestamp) })
	res, err := capture.Analyze(context.Background(), bytes.NewReader(merged.Pcapng(layers.LinkTypeEthernet, layers.LinkTypeRaw)),
		capture.Options{Name: "wg.pcapng"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Totals.Reorder.Reordered != 20 {
		t.Fatalf("reordered %d, want 20", res.Totals.Reorder.Reordered)
	}
	fs := findings(t, res)
	e := fs["capture.reordering_at_tunnel_endpoint"]
	if len(e) != 1 || e[0].Subject != "wg.pcapng: wireguard 198.18.20.1 - 198.18.20.2" {
		t.Errorf("endpoint findings %+v", e)
	}
	if len(fs["capture.reordering_in_underlay"]) != 0 || len(fs["capture.reordering"]) != 1 {
		t.Errorf("findings %v", fs)
	}
}
