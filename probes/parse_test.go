package probes

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// readHex reads a recorded reply: "# from ADDR" then the ICMP message in hex.
func readHex(t testing.TB, path string) (netip.Addr, []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	from := netip.MustParseAddr(strings.TrimPrefix(lines[0], "# from "))
	msg, err := hex.DecodeString(strings.TrimSpace(lines[1]))
	if err != nil {
		t.Fatal(err)
	}
	return from, msg
}

// TestParseRecordedReplies parses ICMP errors recorded in the lab: hop 1
// answered time-exceeded, hop 2 (a router with a prohibit rule)
// administratively prohibited, for each probe method and family.
func TestParseRecordedReplies(t *testing.T) {
	files, _ := filepath.Glob("testdata/replies/*.hex")
	if len(files) != 12 {
		t.Fatalf("want 12 recorded replies, found %d", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			from, b := readHex(t, f)
			v6 := from.Is6()
			msg, err := ParseMessage(v6, b)
			if err != nil {
				t.Fatal(err)
			}
			// Probe 0 (TTL 1) expired at hop 1; probe 1 (TTL 2) was
			// refused by hop 2.
			wantKind, wantSeq := KindTimeExceeded, uint16(0)
			if strings.HasSuffix(f, "-1.hex") {
				wantKind, wantSeq = KindAdminProhibited, 1
			}
			if msg.Kind != wantKind {
				t.Errorf("kind %s, want %s", msg.Kind, wantKind)
			}
			q := msg.Quoted
			if q == nil {
				t.Fatal("no quoted packet")
			}
			method := Method(strings.SplitN(filepath.Base(f), "-", 2)[0])
			wantProto := map[Method]int{ICMP: protoICMP, UDP: protoUDP, TCP: protoTCP}[method]
			if v6 && method == ICMP {
				wantProto = protoICMPv6
			}
			if q.Proto != wantProto {
				t.Errorf("quoted protocol %d, want %d", q.Proto, wantProto)
			}
			if q.TTL != 1 && wantKind == KindTimeExceeded {
				t.Errorf("quoted TTL %d, want 1", q.TTL)
			}
			if !q.Dst.IsValid() || !strings.HasPrefix(q.Dst.String(), map[bool]string{false: "198.18.", true: "2001:db8:"}[v6]) {
				t.Errorf("quoted destination %s", q.Dst)
			}

			// A matcher holding the identifiers the probe carried
			// claims the reply; one with another token or port does not.
			cfg, _ := Config{Target: q.Dst, Method: method, Paris: method == UDP}.withDefaults()
			var token uint32
			if len(q.Payload) >= 4 {
				token = binary.BigEndian.Uint32(q.Payload)
			}
			m := newMatcher(cfg, q.Src, q.EchoID, token, q.SrcPort, q.TCPSeq-uint32(wantSeq))
			rep, ok := m.matchMessage(msg, from, 64, time.Now())
			if !ok || rep.Seq != wantSeq || rep.From != from {
				t.Errorf("own matcher: ok=%v seq=%d from=%s; want ok, seq %d, %s", ok, rep.Seq, rep.From, wantSeq, from)
			}
			other := newMatcher(cfg, q.Src, q.EchoID+1, token+1, q.SrcPort+1, q.TCPSeq+100000)
			if _, ok := other.matchMessage(msg, from, 64, time.Now()); ok {
				t.Error("another trace's matcher claimed the reply")
			}
		})
	}
}

// TestMatchEchoAndTCP covers the answers that quote nothing: echo replies
// and TCP segments from the destination.
func TestMatchEchoAndTCP(t *testing.T) {
	dst := netip.MustParseAddr("198.18.4.2")
	cfg, _ := Config{Target: dst, Method: ICMP}.withDefaults()
	m := newMatcher(cfg, netip.MustParseAddr("198.18.1.1"), 0x1234, 0xdeadbeef, 0, 0)
	echo := &Message{Kind: KindEchoReply, Echo: &Echo{ID: 0x1234, Seq: 7, Data: m.payload(7, 20)}}
	if rep, ok := m.matchMessage(echo, dst, 61, time.Now()); !ok || rep.Seq != 7 {
		t.Errorf("echo reply not matched: %v %+v", ok, rep)
	}
	echo.Echo.Data = []byte{1, 2, 3, 4, 5, 6}
	if _, ok := m.matchMessage(echo, dst, 61, time.Now()); ok {
		t.Error("echo reply with another trace's token matched")
	}

	cfg, _ = Config{Target: dst, Method: TCP, Port: 443}.withDefaults()
	m = newMatcher(cfg, netip.MustParseAddr("198.18.1.1"), 0, 0, 40000, 1000)
	syn := m.tcpSYN(5)
	if got := transportChecksum(m.src, m.dst, protoTCP, syn); got != 0 {
		t.Errorf("SYN checksum does not verify: %#x", got)
	}
	synack := make([]byte, 20)
	binary.BigEndian.PutUint16(synack[0:2], 443)
	binary.BigEndian.PutUint16(synack[2:4], 40000)
	binary.BigEndian.PutUint32(synack[8:12], 1000+5+1)
	synack[12], synack[13] = 5<<4, tcpSYN|tcpACK
	if rep, ok := m.matchTCP(synack, dst, 60, time.Now()); !ok || rep.Seq != 5 || rep.Kind != KindTCPSynAck {
		t.Errorf("SYN-ACK not matched: %v %+v", ok, rep)
	}
	synack[13] = tcpRST | tcpACK
	if rep, ok := m.matchTCP(synack, dst, 60, time.Now()); !ok || rep.Kind != KindTCPReset {
		t.Errorf("RST not matched: %v %+v", ok, rep)
	}
	binary.BigEndian.PutUint16(synack[2:4], 40001)
	if _, ok := m.matchTCP(synack, dst, 60, time.Now()); ok {
		t.Error("segment to another port matched")
	}
}

// TestClassicUDPPorts checks that classic probes recover their sequence
// from the destination port alone, as when a router quotes only 8 bytes.
func TestClassicUDPPorts(t *testing.T) {
	dst := netip.MustParseAddr("198.18.4.2")
	cfg, _ := Config{Target: dst, Method: UDP}.withDefaults()
	m := newMatcher(cfg, netip.MustParseAddr("198.18.1.1"), 0, 1, 50000, 0)
	for _, seq := range []uint16{0, 1, 2047, 2048, 65535} {
		port := m.udpDstPort(seq)
		q := &Quoted{Proto: protoUDP, Dst: dst, SrcPort: 50000, DstPort: port}
		got, ok := m.matchQuoted(q)
		if !ok || got != seq {
			t.Errorf("seq %d via port %d: got %d, %v", seq, port, got, ok)
		}
	}
	d := m.udpDatagram(BasePort, m.payload(3, 10))
	if transportChecksum(m.src, m.dst, protoUDP, d) != 0 {
		t.Error("UDP checksum does not verify")
	}
}

// readPcap returns the packets of a classic little-endian pcap file.
func readPcap(t *testing.T, path string) (linkType uint32, pkts [][]byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("capture not available: %v", err)
	}
	if len(b) < 24 || binary.LittleEndian.Uint32(b) != 0xa1b2c3d4 {
		t.Fatalf("%s: not a little-endian pcap", path)
	}
	linkType = binary.LittleEndian.Uint32(b[20:24])
	for off := 24; off+16 <= len(b); {
		n := int(binary.LittleEndian.Uint32(b[off+8:]))
		off += 16
		if off+n > len(b) {
			break
		}
		pkts = append(pkts, b[off:off+n])
		off += n
	}
	return linkType, pkts
}

func sharedDir() string {
	if d := os.Getenv("NETDX_SHARED"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "shared")
}

// TestParseMPLSTraceroute parses the ICMP time-exceeded messages of a real
// traceroute through an MPLS core (tcpdump's test capture): each carries
// the label stack in an RFC 4950 extension.
func TestParseMPLSTraceroute(t *testing.T) {
	lt, pkts := readPcap(t, filepath.Join(sharedDir(), "captures", "tcpdump-tests", "mpls-traceroute.pcap"))
	if lt != 9 { // PPP
		t.Fatalf("link type %d, want PPP", lt)
	}
	var labelled, parsed int
	for _, p := range pkts {
		if len(p) < 24 || !bytes.Equal(p[:4], []byte{0xff, 0x03, 0x00, 0x21}) || p[4+9] != protoICMP {
			continue
		}
		ip := p[4:]
		ihl := int(ip[0]&0x0f) * 4
		msg, err := ParseMessage(false, ip[ihl:])
		if err != nil {
			t.Errorf("parse: %v", err)
			continue
		}
		parsed++
		if msg.Kind != KindTimeExceeded && msg.Kind != KindPortUnreachable {
			t.Errorf("kind %s", msg.Kind)
		}
		if msg.Quoted == nil || msg.Quoted.Proto != protoUDP || msg.Quoted.Dst != netip.MustParseAddr("12.1.1.1") {
			t.Errorf("quoted %+v, want the UDP probe to 12.1.1.1", msg.Quoted)
		}
		if len(msg.MPLS) > 0 {
			labelled++
			if !msg.MPLS[len(msg.MPLS)-1].S {
				t.Errorf("label stack %+v: last entry lacks bottom-of-stack", msg.MPLS)
			}
		}
	}
	if parsed == 0 || labelled == 0 {
		t.Fatalf("parsed %d ICMP messages, %d with MPLS labels; want some of each", parsed, labelled)
	}
	t.Logf("%d ICMP messages, %d with MPLS label stacks", parsed, labelled)
}
