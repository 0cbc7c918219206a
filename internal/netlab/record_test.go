package netlab

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// readPcap returns a pcap file's records: captured and original lengths.
func readPcap(t *testing.T, path string) (caps, wires []int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if r.LinkType() != layers.LinkTypeEthernet {
		t.Errorf("link type %v", r.LinkType())
	}
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return caps, wires
		}
		if err != nil {
			t.Fatal(err)
		}
		caps, wires = append(caps, len(data)), append(wires, ci.Length)
	}
}

// TestRecorderWholeAndSnapped sends a known number of datagrams of known
// size and records them at both ends, whole and cut to 128 bytes.
func TestRecorderWholeAndSnapped(t *testing.T) {
	p := NewPath(t, PathSpec{Routers: make([]RouterSpec, 1)})
	dir := t.TempDir()
	whole, err := p.Prober.Record(p.ProberIface, filepath.Join(dir, "whole.pcap"), 0)
	if err != nil {
		t.Fatal(err)
	}
	snapped, err := p.Target.Record(p.TargetIface, filepath.Join(dir, "snap.pcap"), 128)
	if err != nil {
		t.Fatal(err)
	}
	dst := netip.AddrPortFrom(p.TargetAddr.V4, 9999)
	var conn net.PacketConn
	if err := p.Target.Do(func() (err error) {
		conn, err = net.ListenPacket("udp4", dst.String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c, err := p.Prober.Dial(context.Background(), "udp4", dst.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const n, size = 200, 1000
	buf := make([]byte, size)
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for range n {
		if _, err := c.Write(buf); err != nil {
			t.Fatal(err)
		}
		if _, _, err := conn.ReadFrom(buf); err != nil {
			t.Fatal(err)
		}
	}
	ws, err := whole.Stop()
	if err != nil {
		t.Fatal(err)
	}
	ss, err := snapped.Stop()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("whole %+v, snapped %+v", ws, ss)
	for name, st := range map[string]RecordStats{"prober": ws, "target": ss} {
		if st.Drops != 0 || st.Written != st.Kernel {
			t.Errorf("%s recording lost frames: %+v", name, st)
		}
	}
	if ws.Outgoing < n || ss.Incoming < n {
		t.Errorf("recorded %d datagrams leaving the prober and %d reaching the target, want %d", ws.Outgoing, ss.Incoming, n)
	}
	const frame = 14 + 20 + 8 + size
	for _, x := range []struct {
		path string
		snap int
	}{{filepath.Join(dir, "whole.pcap"), 0}, {filepath.Join(dir, "snap.pcap"), 128}} {
		// Other frames (IPv6 router solicitations...) may come and go;
		// the datagrams must all be there, stored as asked.
		caps, wires := readPcap(t, x.path)
		want := frame
		if x.snap > 0 {
			want = x.snap
		}
		datagrams := 0
		for i := range caps {
			if wires[i] != frame {
				continue
			}
			datagrams++
			if caps[i] != want {
				t.Fatalf("%s record %d: captured %d of %d bytes, want %d", x.path, i, caps[i], wires[i], want)
			}
		}
		if datagrams != n {
			t.Errorf("%s: %d datagrams recorded, want %d", x.path, datagrams, n)
		}
	}
	// Stop twice returns the same.
	if again, err := whole.Stop(); err != nil || again != ws {
		t.Errorf("second Stop: %+v %v", again, err)
	}
}

func TestCountersAndOffloads(t *testing.T) {
	p := NewPath(t, PathSpec{Routers: make([]RouterSpec, 1)})
	c, err := p.Prober.Counters()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"Tcp.RetransSegs", "TcpExt.TCPFastRetrans", "Ip.Forwarding", "Ip6.InReceives"} {
		if _, ok := c[k]; !ok {
			t.Errorf("counter %s missing", k)
		}
	}
	if err := p.Prober.SetOffloads(p.ProberIface, false); err != nil {
		t.Fatal(err)
	}
	o, err := p.Prober.Offloads(p.ProberIface)
	if err != nil {
		t.Fatal(err)
	}
	if o["tx-tcp-segmentation"] || o["tx-generic-segmentation"] {
		t.Errorf("offloads still on: %v", o)
	}
}

// TestVXLANCarriesTCP moves data through a VXLAN tunnel over the path and
// checks that the relay saw it as outer packets VXLANInner matches.
func TestVXLANCarriesTCP(t *testing.T) {
	const port = 5302
	p := NewPath(t, PathSpec{Routers: []RouterSpec{{Impair: Impairment{ReorderEvery: 1 << 30,
		Match: VXLANInner(TCPDataTo(port))}}}})
	vx := NewVXLAN(t, p.Prober, p.Target, p.ProberAddr.V4, p.TargetAddr.V4, 7)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, dst := range []netip.Addr{vx.B.V4, vx.B.V6} {
		if _, err := BulkTCP(ctx, p.Prober, p.Target, netip.AddrPortFrom(dst, port), 256<<10); err != nil {
			t.Fatalf("transfer to %s through the tunnel: %v", dst, err)
		}
	}
	st := p.Hops[0][0].Relay.Settled(time.Second)
	// 2 × 256 KiB in segments of at most 1,450 - 40 bytes.
	if st.Matched < 2*(256<<10)/1410 {
		t.Errorf("relay matched %d tunnelled data packets: %+v", st.Matched, st)
	}
}
