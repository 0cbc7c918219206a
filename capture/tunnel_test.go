package capture

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	ct "github.com/netdx/netdx/capture/capturetest"

	"github.com/gopacket/gopacket/layers"
)

func wgData(receiver uint32, counter uint64, n int) []byte {
	b := make([]byte, 16+n+16)
	b[0] = 4
	binary.LittleEndian.PutUint32(b[4:], receiver)
	binary.LittleEndian.PutUint64(b[8:], counter)
	for i := 16; i < len(b); i++ {
		b[i] = byte(i * 7)
	}
	return b
}

func wgHandshake(typ byte, n int) []byte {
	b := make([]byte, n)
	b[0] = typ
	return b
}

// A WireGuard session: the counters give exact loss, reordering, replays
// and capture duplicates of the outer (encrypted) packets.
func TestWireGuardCounters(t *testing.T) {
	g := ct.NewGen(t, layers.LinkTypeEthernet)
	a, b := netip.MustParseAddr("198.18.20.1"), netip.MustParseAddr("198.18.20.2")
	at := time.Duration(0)
	send := func(from, to netip.Addr, sport, dport uint16, payload []byte) {
		g.Add(ct.Frame{At: at, Src: from, Dst: to, SPort: sport, DPort: dport, UDP: true, UDPPayload: payload, WS: -1})
		at += 10 * time.Microsecond
	}
	send(a, b, 43000, 51820, wgHandshake(1, 148))
	send(b, a, 51820, 43000, wgHandshake(2, 92))
	var order []uint64
	for c := uint64(0); c < 1000; c++ {
		switch c {
		case 100, 101, 500: // lost
		case 200: // swapped with 201
			order = append(order, 201, 200)
		case 201:
		case 300: // five packets late
		case 305:
			order = append(order, 305, 300)
		default:
			order = append(order, c)
		}
	}
	for i, c := range order {
		send(a, b, 43000, 51820, wgData(0xabcd, c, 100))
		if c == 600 {
			at -= 8 * time.Microsecond // the same frame seen again 2µs later
			send(a, b, 43000, 51820, wgData(0xabcd, c, 100))
		}
		if i < 300 {
			send(b, a, 51820, 43000, wgData(0x1234, uint64(i), 60))
		}
	}
	send(a, b, 43000, 51820, wgData(0xabcd, 50, 100)) // a replay
	res := analyzeBytes(t, g.Pcap(), Options{})
	if len(res.Tunnels) != 1 || res.Tunnels[0].Kind != "wireguard" {
		t.Fatalf("tunnels %+v", res.Tunnels)
	}
	tun := res.Tunnels[0]
	if tun.A != a || tun.B != b {
		t.Errorf("endpoints %v %v", tun.A, tun.B)
	}
	fwd := tun.Dir[0].Seq
	if fwd == nil {
		t.Fatal("no counter stats")
	}
	if fwd.Packets != 997 || fwd.Lost != 3 || fwd.Reorder.Reordered != 2 || fwd.Replays != 1 || fwd.Duplicates != 1 || fwd.Reorder.ExtentMax != 5 {
		t.Errorf("A→B counters: packets %d lost %d reordered %d replays %d dups %d extent %d; want 997 3 2 1 1 5",
			fwd.Packets, fwd.Lost, fwd.Reorder.Reordered, fwd.Replays, fwd.Duplicates, fwd.Reorder.ExtentMax)
	}
	back := tun.Dir[1].Seq
	if back == nil || back.Packets != 300 || back.Lost != 0 || back.Reorder.Reordered != 0 || back.Replays != 0 {
		t.Errorf("B→A counters %+v", back)
	}
	if tun.Dir[0].Handshakes != 1 || tun.Dir[1].Handshakes != 1 || tun.Dir[0].Sessions != 1 || tun.Dir[0].SeqSource != "wireguard counter" {
		t.Errorf("handshakes %d/%d sessions %d source %q", tun.Dir[0].Handshakes, tun.Dir[1].Handshakes, tun.Dir[0].Sessions, tun.Dir[0].SeqSource)
	}
	if len(res.Flows) != 0 {
		t.Errorf("%d flows, want none: WireGuard payloads are encrypted", len(res.Flows))
	}
}

// ESP sequence numbers, plain and in UDP.
func TestESPSequence(t *testing.T) {
	for _, inUDP := range []bool{false, true} {
		g := ct.NewGen(t, layers.LinkTypeEthernet)
		a, b := netip.MustParseAddr("198.18.30.1"), netip.MustParseAddr("198.18.30.2")
		at := time.Duration(0)
		for seq := uint32(1); seq <= 500; seq++ {
			if seq == 77 {
				continue
			}
			s := seq
			switch seq {
			case 300:
				s = 301
			case 301:
				s = 300
			}
			esp := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 0x1000), s)
			esp = append(esp, make([]byte, 64)...)
			if inUDP {
				g.Add(ct.Frame{At: at, Src: a, Dst: b, SPort: 4500, DPort: 4500, UDP: true, UDPPayload: esp, WS: -1})
			} else {
				f := ct.Frame{At: at, Src: a, Dst: b, WS: -1}
				raw := g.RawIP(f, layers.IPProtocolESP, esp)
				g.AddRaw(at, raw, len(raw))
			}
			at += time.Millisecond
		}
		res := analyzeBytes(t, g.Pcap(), Options{})
		if len(res.Tunnels) != 1 || res.Tunnels[0].Kind != "esp" {
			t.Fatalf("udp %v: tunnels %+v", inUDP, res.Tunnels)
		}
		s := res.Tunnels[0].Dir[0].Seq
		if s == nil || s.Packets != 499 || s.Lost != 1 || s.Reorder.Reordered != 1 {
			t.Errorf("udp %v: esp sequence %+v", inUDP, s)
		}
	}
}

// Inner reordering inside a GRE tunnel with sequence numbers and inside a
// VXLAN tunnel whose outer IPv4 IDs count packets: one swap happened in
// the underlay (the outer order is inverted too), one before
// encapsulation (the outer order is intact).
func TestOuterOrderAttribution(t *testing.T) {
	for _, kind := range []string{"gre", "vxlan"} {
		t.Run(kind, func(t *testing.T) {
			g := ct.NewGen(t, layers.LinkTypeEthernet)
			c := ct.NewConv(g, "198.18.0.1:40000", "198.18.1.1:5201")
			tun := ct.Spec{Kind: kind, Src: outerA, Dst: outerB, HasSeq: kind == "gre", ID: 5}
			// Packets without a per-frame header (the handshake, the
			// ACKs) go without sequence numbers.
			back := tun
			back.Src, back.Dst, back.HasSeq = outerB, outerA, false
			c.Encap = []ct.Spec{back}
			c.Handshake(0, 10*time.Millisecond)
			segs := c.SendData(0, 20*time.Millisecond, 10*time.Microsecond, 100, 1000)
			// The encapsulator numbers packets in the order it sends them.
			encapOrder := make([]ct.Frame, 0, len(segs))
			for i := range segs {
				switch i {
				case 40: // already reordered before encapsulation
					encapOrder = append(encapOrder, segs[41], segs[40])
				case 41:
				default:
					encapOrder = append(encapOrder, segs[i])
				}
			}
			for i := range encapOrder {
				x := tun
				x.Seq, x.IPID = uint32(1000+i), uint16(500+i)
				encapOrder[i].Encap = []ct.Spec{x}
			}
			// The underlay swaps two encapsulated packets.
			arrival := append([]ct.Frame(nil), encapOrder...)
			arrival[60], arrival[61] = arrival[61], arrival[60]
			c.Deliver(c.Receiver(1), 30*time.Millisecond, 20*time.Microsecond, arrival)
			res := analyzeBytes(t, g.Pcap(), Options{})
			f := onlyTCP(t, res)
			d := &f.Dir[0]
			if d.Reorder.Reordered != 2 || d.Outer.Underlay != 1 || d.Outer.BeforeEncap != 1 {
				t.Errorf("reordered %d, outer attribution %+v; want 2 with 1 underlay, 1 before encapsulation", d.Reorder.Reordered, d.Outer)
			}
			tn := res.Tunnels[f.Tunnel]
			if kind == "gre" {
				s := tn.Dir[1].Seq // A is the first sender: the server side
				if s == nil || s.Reorder.Reordered != 1 || s.Lost != 0 || s.Packets != 100 {
					t.Errorf("outer GRE sequence %+v, want 1 reordered", s)
				}
			}
		})
	}
}

// A tunnel counter that jumps ahead by more than a million stands alone
// (a damaged packet: left out) or goes on from there (counted from the new
// place); either is an anomaly, never a trillion lost packets.
func TestTunnelCounterJumps(t *testing.T) {
	a, b := netip.MustParseAddr("198.18.20.1"), netip.MustParseAddr("198.18.20.2")
	for _, tc := range []struct {
		name     string
		counters func(i uint64) []uint64
		packets  uint64
	}{
		{"lone jump", func(i uint64) []uint64 {
			if i == 50 {
				return []uint64{i, 1 << 40}
			}
			return []uint64{i}
		}, 100},
		{"goes on from the jump", func(i uint64) []uint64 {
			if i >= 50 {
				return []uint64{5_000_000_000 + i}
			}
			return []uint64{i}
		}, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := ct.NewGen(t, layers.LinkTypeEthernet)
			for i := range uint64(100) {
				for _, c := range tc.counters(i) {
					g.Add(ct.Frame{At: time.Duration(i) * time.Millisecond, Src: a, Dst: b, SPort: 43000, DPort: 51820, UDP: true,
						UDPPayload: wgData(0xabcd, c, 100), WS: -1})
				}
			}
			res := analyzeBytes(t, g.Pcap(), Options{})
			if s := res.Tunnels[0].Dir[0].Seq; s == nil || s.Lost != 0 || s.Anomalies != 1 || s.Packets != tc.packets {
				t.Errorf("counters %+v, want 0 lost, 1 anomaly, %d packets", s, tc.packets)
			}
		})
	}
}
