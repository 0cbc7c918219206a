package collectors

import (
	"encoding/binary"
	"errors"
	"flag"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/netdx/netdx/internal/netlab"
)

var recordTCPConns = flag.Bool("tcpconns.record", false, "rewrite testdata/tcpconns/lab.nl from the lab (root)")

// tcpConnsRecording is a sock_diag dump of a ConnLab client: a connection
// losing 3 % at the receiver (port 5001), a healthy paced one (5002) and
// one whose receiver never reads (5003, IPv6).
const tcpConnsRecording = "testdata/tcpconns/lab.nl"

// rawTCPDump dumps like TCPConns and keeps the kernel's messages as they
// came, each behind a netlink header.
func rawTCPDump() ([]byte, error) {
	msgs, err := dumpTCP(tcpStates, diagExtMem|diagExtInfo)
	var out []byte
	for _, m := range msgs {
		out = appendNlMsg(out, m)
	}
	return out, err
}

// appendNlMsg appends payload behind a netlink header, padded.
func appendNlMsg(out, payload []byte) []byte {
	h := make([]byte, unix.SizeofNlMsghdr)
	binary.NativeEndian.PutUint32(h, uint32(len(h)+len(payload)))
	binary.NativeEndian.PutUint16(h[4:], nl.SOCK_DIAG_BY_FAMILY)
	binary.NativeEndian.PutUint16(h[6:], unix.NLM_F_MULTI)
	out = append(append(out, h...), payload...)
	for len(out)%unix.NLMSG_ALIGNTO != 0 {
		out = append(out, 0)
	}
	return out
}

// TestTCPConnsRecord rewrites the recording. Run it as root with
// -tcpconns.record after a kernel change.
func TestTCPConnsRecord(t *testing.T) {
	if !*recordTCPConns {
		t.Skip("recording only with -tcpconns.record")
	}
	netlab.RequireNFT(t)
	lab := netlab.NewConnLab(t)
	if err := lab.DropToPort(5001, 3); err != nil {
		t.Fatal(err)
	}
	lab.StartFlow(t, netlab.FlowSpec{Port: 5001, Rate: 8 << 20})
	lab.StartFlow(t, netlab.FlowSpec{Port: 5002, Rate: 8 << 20})
	lab.StartFlow(t, netlab.FlowSpec{Port: 5003, V6: true, ServerStalls: true})
	time.Sleep(2 * time.Second)
	var b []byte
	err := lab.Client.Do(func() (err error) {
		b, err = rawTCPDump()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(tcpConnsRecording), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tcpConnsRecording, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// loadTCPConnsRecording decodes the recording.
func loadTCPConnsRecording(t testing.TB) ([]byte, *TCPConns) {
	t.Helper()
	b, err := os.ReadFile(tcpConnsRecording)
	if err != nil {
		t.Fatal(err)
	}
	c, err := decodeTCPDump(b)
	if err != nil {
		t.Fatal(err)
	}
	return b, c
}

// TestDecodeTCPDumpRecording decodes a real kernel's dump: the three lab
// connections with what each went through.
func TestDecodeTCPDumpRecording(t *testing.T) {
	b, c := loadTCPConnsRecording(t)
	byPort := map[uint16]*TCPConn{}
	for i := range c.Conns {
		byPort[c.Conns[i].Remote.Port()] = &c.Conns[i]
	}
	if len(c.Conns) != 3 || len(c.SynRecv) != 0 {
		t.Fatalf("%d connections, %d half-open; want the 3 flows", len(c.Conns), len(c.SynRecv))
	}
	for _, port := range []uint16{5001, 5002, 5003} {
		x := byPort[port]
		if x == nil {
			t.Fatalf("no connection to port %d", port)
		}
		i := &x.Info
		if x.State != 1 || x.Cookie == 0 || x.Inode == 0 || !x.HaveMem || x.SndBuf == 0 || !i.Has(TCPInfoTotalRTO) || i.State != 1 {
			t.Errorf("port %d: %+v", port, x)
		}
		if i.BytesRetrans > i.BytesSent || i.TotalRetrans > i.DataSegsOut || i.DataSegsOut > i.SegsOut ||
			i.RwndLimited+i.SndbufLimited > i.BusyTime || i.BytesAcked > i.BytesSent+1 {
			t.Errorf("port %d: inconsistent counters %+v", port, i)
		}
	}
	if lossy := byPort[5001].Info; lossy.TotalRetrans == 0 || lossy.BytesRetrans == 0 {
		t.Errorf("the lossy connection retransmitted nothing: %+v", lossy)
	}
	if healthy := byPort[5002].Info; healthy.TotalRetrans != 0 || !healthy.AppLimited {
		t.Errorf("the healthy connection: %d retransmitted, app limited %v", healthy.TotalRetrans, healthy.AppLimited)
	}
	stalled := byPort[5003]
	if !stalled.Remote.Addr().Is6() || stalled.Info.RwndLimited < stalled.Info.BusyTime*9/10 || stalled.Info.NotsentBytes == 0 {
		t.Errorf("the stalled connection: %s, rwnd limited %d of %d busy, %d not sent", stalled.Remote, stalled.Info.RwndLimited, stalled.Info.BusyTime, stalled.Info.NotsentBytes)
	}
	// A dump cut anywhere is an error naming the offset, never a panic.
	for _, n := range []int{7, 20, 16 + 71, len(b) - 1} {
		_, err := decodeTCPDump(b[:n])
		if err == nil || !strings.Contains(err.Error(), "offset ") {
			t.Errorf("cut at %d: %v", n, err)
		}
	}
}

// TestReplayTCPConns replays a recorded dump, and an old recording's
// sockets with drops without making up a table of connections.
func TestReplayTCPConns(t *testing.T) {
	b, want := loadTCPConnsRecording(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tcp_conns.nl"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := replayNetlink{dir}.TCPConns()
	if err != nil || len(got.Conns) != len(want.Conns) || got.dropsOnly {
		t.Fatalf("replayed %+v, %v", got, err)
	}
	old, err := replayNetlink{"testdata/hosts/linux-6.18/netlink"}.TCPConns()
	if err != nil || !old.dropsOnly || len(old.dropping()) != len(old.Conns) || len(old.Conns) == 0 {
		t.Fatalf("tcp_drops.json replayed as %+v, %v", old, err)
	}
	if _, err := (replayNetlink{t.TempDir()}).TCPConns(); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("nothing recorded: %v, want not supported", err)
	}
}

// TestConntrackProto finds the protocol of a ctnetlink entry, nested
// three deep, and refuses an entry without one.
func TestConntrackProto(t *testing.T) {
	attr := func(typ uint16, nested bool, val []byte) []byte {
		if nested {
			typ |= 1 << 15
		}
		b := binary.NativeEndian.AppendUint16(nil, uint16(4+len(val)))
		b = binary.NativeEndian.AppendUint16(b, typ)
		b = append(b, val...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
		return b
	}
	ip := attr(1, true, attr(1, false, []byte{198, 18, 0, 1}))                                   // CTA_TUPLE_IP
	proto := attr(2, true, append(attr(1, false, []byte{17}), attr(2, false, []byte{0, 53})...)) // CTA_TUPLE_PROTO: num, src port
	entry := append([]byte{2, 0, 0, 0}, attr(1, true, append(ip, proto...))...)                  // nfgenmsg, CTA_TUPLE_ORIG
	if p, ok := conntrackProto(entry); !ok || p != 17 || conntrackProtoName(p) != "udp" {
		t.Errorf("protocol %d %v", p, ok)
	}
	if _, ok := conntrackProto(append([]byte{2, 0, 0, 0}, attr(1, true, ip)...)); ok {
		t.Error("an entry without a protocol gave one")
	}
	if _, ok := conntrackProto(entry[:len(entry)-3]); ok {
		t.Error("a cut entry gave a protocol")
	}
	if n := conntrackProtoName(99); n != "proto 99" {
		t.Errorf("protocol 99 named %q", n)
	}
}

// TestDumpTCPBothFamilies: the one sock_diag dump returns IPv4 and IPv6
// sockets alike, the listeners and the connections of both families
// opened in a lab namespace, and nothing else.
func TestDumpTCPBothFamilies(t *testing.T) {
	ns := netlab.NewNS(t, "fam")
	lo, err := ns.Netlink().LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"198.18.0.1/32", "2001:db8::1/128"} {
		addr, err := netlink.ParseAddr(a)
		if err != nil {
			t.Fatal(err)
		}
		addr.Flags = unix.IFA_F_NODAD
		if err := ns.Netlink().AddrAdd(lo, addr); err != nil {
			t.Fatal(err)
		}
	}
	if err := ns.WaitLocal(netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("2001:db8::1")); err != nil {
		t.Fatal(err)
	}
	var wantListeners, wantConns []string
	err = ns.Do(func() error {
		for _, a := range []string{"198.18.0.1:0", "[2001:db8::1]:0"} {
			l, err := net.Listen("tcp", a)
			if err != nil {
				return err
			}
			t.Cleanup(func() { l.Close() })
			c, err := net.Dial("tcp", l.Addr().String())
			if err != nil {
				return err
			}
			t.Cleanup(func() { c.Close() })
			wantListeners = append(wantListeners, l.Addr().String())
			// The client's socket and the server's, not yet accepted.
			wantConns = append(wantConns, c.LocalAddr().String()+" → "+c.RemoteAddr().String(),
				c.RemoteAddr().String()+" → "+c.LocalAddr().String())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var listeners []Listener
	var conns *TCPConns
	err = ns.Do(func() error {
		var err error
		if listeners, err = (liveNetlink{}).Listeners(); err != nil {
			return err
		}
		conns, err = liveNetlink{}.TCPConns()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var gotListeners, gotConns []string
	for _, l := range listeners {
		gotListeners = append(gotListeners, l.Local)
	}
	for _, c := range conns.Conns {
		if c.State != 1 {
			t.Errorf("%v → %v in state %s, want established", c.Local, c.Remote, TCPStateName(c.State))
		}
		gotConns = append(gotConns, c.Local.String()+" → "+c.Remote.String())
	}
	slices.Sort(wantListeners)
	slices.Sort(gotListeners)
	slices.Sort(wantConns)
	slices.Sort(gotConns)
	if !slices.Equal(gotListeners, wantListeners) || !slices.Equal(gotConns, wantConns) {
		t.Errorf("dumped listeners %q and connections %q,\nwant %q and %q", gotListeners, gotConns, wantListeners, wantConns)
	}
}
