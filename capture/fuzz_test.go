package capture

import (
	"bytes"
	"context"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	ct "github.com/netdx/netdx/capture/capturetest"
)

// fuzzSeeds are small captures: the scenario in plain Ethernet and in
// tunnels, pcap and pcapng, gzip, WireGuard counters, and cut or mutated
// copies of each.
func fuzzSeeds(tb testing.TB) [][]byte {
	a, b := netip.MustParseAddr("198.18.10.1"), netip.MustParseAddr("198.18.10.2")
	var seeds [][]byte
	for _, encap := range [][]ct.Spec{nil, {{Kind: "vxlan", ID: 1, Src: a, Dst: b}},
		{{Kind: "gre", HasSeq: true, Seq: 5, Src: a, Dst: b}}, {{Kind: "geneve", ID: 2, Src: a, Dst: b}}} {
		g := ct.NewGen(tb, layers.LinkTypeEthernet)
		c := ct.NewConv(g, "198.18.0.1:40000", "198.18.1.1:443")
		c.Encap = encap
		c.Handshake(0, time.Millisecond)
		segs := c.SendData(0, 2*time.Millisecond, 10*time.Microsecond, 8, 100)
		segs[2], segs[3] = segs[3], segs[2]
		segs = append(segs, c.Resend(segs[5], 5*time.Millisecond))
		c.Deliver(c.Receiver(1), 3*time.Millisecond, 20*time.Microsecond, segs)
		seeds = append(seeds, g.Pcap(), g.Pcapng())
	}
	g := ct.NewGen(tb, layers.LinkTypeEthernet)
	for i, c := range []uint64{0, 1, 3, 2, 4, 4} {
		p := make([]byte, 48)
		p[0] = 4
		binary.LittleEndian.PutUint64(p[8:], c)
		g.Add(ct.Frame{At: time.Duration(i) * time.Millisecond, Src: a, Dst: b, SPort: 40000, DPort: 51820, UDP: true, UDPPayload: p, WS: -1})
	}
	seeds = append(seeds, g.Pcap(), ct.Gzip(tb, g.Pcap()))
	n := len(seeds)
	for _, s := range seeds[:n] {
		seeds = append(seeds, s[:len(s)*2/3])
		m := append([]byte(nil), s...)
		for i := 60; i < len(m); i += 97 {
			m[i] ^= 0xff
		}
		seeds = append(seeds, m)
	}
	return seeds
}

// FuzzAnalyze feeds whole files to the analyser: malformed, truncated and
// hostile input gives an error or a partial result, never a panic, and
// the counts stay consistent.
func FuzzAnalyze(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		t0 := time.Now()
		res, err := Analyze(context.Background(), bytes.NewReader(data), Options{MaxFlows: 64})
		if d := time.Since(t0); d > 2*time.Second {
			t.Fatalf("%d bytes took %v", len(data), d)
		}
		if res == nil {
			if err == nil {
				t.Fatal("no result and no error")
			}
			return
		}
		if err == nil && !res.Complete {
			t.Fatal("incomplete without an error")
		}
		for _, fl := range res.Flows {
			for i := range fl.Dir {
				d := &fl.Dir[i]
				R := &d.Retransmission
				if R.Spurious > R.Packets || R.Timeout+R.Fast != R.Packets || d.LostSegments > 1<<40 {
					t.Fatalf("inconsistent direction %+v", d)
				}
				if r := d.Reorder; r != nil && (r.Reordered > r.Packets || r.ExtentMax > r.Packets) {
					t.Fatalf("inconsistent reordering %+v", r)
				}
			}
		}
	})
}
