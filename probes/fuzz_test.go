package probes

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"
)

// FuzzParseReply feeds arbitrary bytes to the reply parser and the
// matchers of every method. Seeds: the replies recorded in the lab
// (testdata/replies), the committed corpus (testdata/fuzz/FuzzParseReply)
// and, when ../shared is present, the MPLS-labelled time-exceeded
// messages of tcpdump's traceroute capture. Properties: no panic; what
// parses says what the bytes say (type, code, kind, exactly one of echo
// and quote, label fields in range); a matcher accepts only an echo reply
// with its own identifier or an error quoting a packet sent to the
// trace's own target.
func FuzzParseReply(f *testing.F) {
	files, _ := filepath.Glob("testdata/replies/*.hex")
	for _, file := range files {
		from, b := readHex(f, file)
		f.Add(from.Is6(), b)
	}
	f.Add(false, []byte{0, 0, 0, 0, 0, 1, 0, 2})
	f.Add(true, []byte{129, 0, 0, 0, 0, 1, 0, 2, 1, 2, 3, 4, 5, 6})
	addMPLSTraceroute(f)
	dst := netip.MustParseAddr("198.18.4.2")
	ms := []*matcher{}
	for _, meth := range []Method{ICMP, UDP, TCP} {
		for _, paris := range []bool{false, true} {
			cfg, _ := Config{Target: dst, Method: meth, Paris: paris}.withDefaults()
			ms = append(ms, newMatcher(cfg, netip.MustParseAddr("198.18.1.1"), 1, 2, 3, 4))
		}
	}
	f.Fuzz(func(t *testing.T, v6 bool, b []byte) {
		msg, err := ParseMessage(v6, b)
		if err != nil {
			if msg != nil || err.Error() == "" {
				t.Fatalf("error %v with message %+v", err, msg)
			}
			return
		}
		if msg.Kind == "" || (msg.Echo == nil) == (msg.Quoted == nil) {
			t.Fatalf("inconsistent message %+v", msg)
		}
		if msg.Type != int(b[0]) || msg.Code != int(b[1]) || msg.Kind != kindOf(v6, msg.Type, msg.Code) ||
			(msg.Echo != nil) != (msg.Kind == KindEchoReply) {
			t.Fatalf("type %d code %d kind %s from bytes %d %d", msg.Type, msg.Code, msg.Kind, b[0], b[1])
		}
		if q := msg.Quoted; q != nil {
			if !q.Src.IsValid() || !q.Dst.IsValid() || q.Src.Is4() != q.Dst.Is4() || q.Proto < 0 || q.Proto > 255 {
				t.Fatalf("quoted %+v", q)
			}
			if len(q.Payload) > 0 && !bytes.Contains(b, q.Payload) {
				t.Fatal("quoted payload is not part of the message")
			}
		}
		for _, l := range msg.MPLS {
			if l.Label < 0 || l.Label >= 1<<20 || l.TC < 0 || l.TC > 7 || l.TTL < 0 || l.TTL > 255 {
				t.Fatalf("label %+v out of range", l)
			}
		}
		for _, m := range ms {
			if _, ok := m.matchMessage(msg, dst, 1, time.Time{}); ok {
				if msg.Echo != nil && (m.method != ICMP || msg.Echo.ID != m.echoID) {
					t.Fatalf("%s matcher took echo reply id %d", m.method, msg.Echo.ID)
				}
				if msg.Quoted != nil && msg.Quoted.Dst != dst {
					t.Fatalf("%s matcher took a reply quoting a probe to %s", m.method, msg.Quoted.Dst)
				}
			}
		}
		if _, ok := ms[4].matchTCP(b, netip.MustParseAddr("198.18.9.9"), 1, time.Time{}); ok {
			t.Fatal("TCP answer from another host than the target accepted")
		}
	})
}

// addMPLSTraceroute adds the ICMP messages of tcpdump's MPLS traceroute
// capture (PPP framing, IPv4) when the shared captures are present.
func addMPLSTraceroute(f *testing.F) {
	fh, err := os.Open(filepath.Join(sharedDir(), "captures", "tcpdump-tests", "mpls-traceroute.pcap"))
	if err != nil {
		return
	}
	defer fh.Close()
	r, err := pcapgo.NewReader(fh)
	if err != nil {
		return
	}
	for {
		p, _, err := r.ReadPacketData()
		if err != nil {
			return
		}
		if len(p) < 24 || !bytes.Equal(p[:4], []byte{0xff, 0x03, 0x00, 0x21}) || p[4+9] != protoICMP {
			continue
		}
		ip := p[4:]
		if ihl := int(ip[0]&0x0f) * 4; ihl <= len(ip) {
			f.Add(false, ip[ihl:])
		}
	}
}
