package capture

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	ct "github.com/netdx/netdx/capture/capturetest"

	"github.com/gopacket/gopacket/layers"
)

func scenarioPcap(t *testing.T) ([]byte, *ct.Gen) {
	g := ct.NewGen(t, layers.LinkTypeEthernet)
	ct.RetransScenario(ct.NewConv(g, "198.18.0.1:40000", "198.18.1.1:5201"))
	return g.Pcap(), g
}

// Unreadable input fails with ErrFormat and no result; damaged or cut
// short input returns what came before with an error naming the record
// and its byte offset.
func TestBadInput(t *testing.T) {
	good, g := scenarioPcap(t)
	last := len(g.Recs)
	lastOffset := len(good) - 16 - len(g.Recs[last-1].Data)
	huge := append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(huge[24+8:], 1<<30) // first record's caplen
	binary.LittleEndian.PutUint32(huge[24+12:], 1<<30)
	linkUser := append([]byte(nil), good[:24]...)
	binary.LittleEndian.PutUint32(linkUser[20:], 147)
	gzCut := ct.Gzip(t, good)
	gzCut = gzCut[:len(gzCut)/2]
	for _, tc := range []struct {
		name    string
		data    []byte
		kind    error
		partial bool
		msg     string
	}{
		{"empty", nil, ErrFormat, false, "file header at byte offset 0"},
		{"text file", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), ErrFormat, false, "unknown magic number 47455420"},
		{"header cut short", good[:10], ErrFormat, false, "file header"},
		{"unsupported link type", linkUser, ErrFormat, false, "link type 147"},
		{"last record cut short", good[:len(good)-5], ErrCutShort, true, "record " + strconv.FormatUint(uint64(last), 10) + " at byte offset " + strconv.FormatUint(uint64(lastOffset), 10)},
		{"record header cut short", good[:lastOffset+7], ErrCutShort, true, "record " + strconv.FormatUint(uint64(last), 10)},
		{"capture length beyond any snap length", huge, ErrDamaged, true, "record 1 at byte offset 24"},
		{"gzip cut short", gzCut, ErrCutShort, true, "record"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Analyze(context.Background(), bytes.NewReader(tc.data), Options{Name: "x.pcap"})
			if !errors.Is(err, tc.kind) {
				t.Fatalf("error %v, want %v", err, tc.kind)
			}
			var ie *InputError
			if !errors.As(err, &ie) || !strings.Contains(err.Error(), tc.msg) || !strings.HasPrefix(err.Error(), "x.pcap: ") {
				t.Errorf("error %q, want it to name x.pcap and contain %q", err, tc.msg)
			}
			if (res != nil) != tc.partial {
				t.Fatalf("result %v, want partial %v", res != nil, tc.partial)
			}
			if res != nil && (res.Complete || len(res.Warnings) == 0) {
				t.Errorf("complete %v warnings %q", res.Complete, res.Warnings)
			}
			if tc.name == "last record cut short" && res.Packets != uint64(last-1) {
				t.Errorf("packets %d, want %d", res.Packets, last-1)
			}
		})
	}
}

// Hostile headers inside frames stop decoding of that frame only.
func TestHostileFrames(t *testing.T) {
	g := ct.NewGen(t, layers.LinkTypeEthernet)
	eth := func(t uint16) []byte {
		return binary.BigEndian.AppendUint16(append(append([]byte(nil), ct.MacB...), ct.MacA...), t)
	}
	ip4 := func(proto byte, payload []byte) []byte {
		h := []byte{0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, proto, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2}
		binary.BigEndian.PutUint16(h[2:], uint16(20+len(payload)))
		return append(h, payload...)
	}
	udp := func(dport uint16, payload []byte) []byte {
		h := binary.BigEndian.AppendUint16(nil, 40000)
		h = binary.BigEndian.AppendUint16(h, dport)
		h = binary.BigEndian.AppendUint16(h, uint16(8+len(payload)))
		return append(append(h, 0, 0), payload...)
	}
	// Geneve whose option length points past the packet.
	geneve := append(eth(0x0800), ip4(17, udp(6081, []byte{0x3f, 0, 0x65, 0x58, 0, 0, 1, 0}))...)
	// GRE with the obsolete routing bit.
	greRouting := append(eth(0x0800), ip4(47, []byte{0x40, 0, 0x08, 0})...)
	// IP in IP nested past the limit.
	nested := ip4(6, make([]byte, 20))
	for range 12 {
		nested = ip4(4, nested)
	}
	nested = append(eth(0x0800), nested...)
	// IPv4 total length larger than the frame: the IP length is used.
	long := append(eth(0x0800), ip4(6, append(make([]byte, 12), 0x50, 0x10, 0, 0, 0, 0, 0, 0))...)
	binary.BigEndian.PutUint16(long[14+2:], 9000)
	// TCP data offset beyond the packet.
	badTCP := append(eth(0x0800), ip4(6, append(make([]byte, 12), 0xf0, 0, 0, 0, 0, 0, 0, 0))...)
	for i, b := range [][]byte{geneve, greRouting, nested, long, badTCP, eth(0x0806), {1, 2, 3}} {
		g.AddRaw(time.Duration(i)*time.Millisecond, b, len(b))
	}
	res := analyzeBytes(t, g.Pcap(), Options{})
	var total uint64
	got := map[string]uint64{}
	for _, c := range res.Undecoded {
		total += c.Packets
		got[c.Reason] = c.Packets
	}
	for _, reason := range []string{"geneve: header longer than the packet", "gre: obsolete GRE routing header",
		"ipip: too many encapsulation layers", "tcp: invalid header length",
		"ethernet: not IP", "ethernet: header longer than the packet"} {
		if got[reason] != 1 {
			t.Errorf("undecoded %q = %d, want 1 (all: %v)", reason, got[reason], got)
		}
	}
	if total != 6 || res.NonIPPackets != 1 || res.Overlong != 1 || res.TCPPackets != 1 {
		t.Errorf("undecoded total %d non-IP %d overlong %d tcp %d", total, res.NonIPPackets, res.Overlong, res.TCPPackets)
	}
}

// A full flow table evicts the idlest flows; the totals stay exact and
// the worst evicted flows stay listed.
func TestFlowTableEviction(t *testing.T) {
	g := ct.NewGen(t, layers.LinkTypeEthernet)
	for i := range 40 {
		c := ct.NewConv(g, "198.18.0.1:"+strconv.FormatUint(uint64(30000+i), 10), "198.18.1.1:5201")
		base := time.Duration(i) * time.Second
		c.Handshake(base, time.Millisecond)
		segs := c.SendData(0, base+5*time.Millisecond, 100*time.Microsecond, 10, 1000)
		if i%4 == 0 { // one swap in every fourth flow
			segs[3], segs[4] = segs[4], segs[3]
		}
		c.Deliver(c.Receiver(1), base+10*time.Millisecond, 200*time.Microsecond, segs)
	}
	res := analyzeBytes(t, g.Pcap(), Options{MaxFlows: 8})
	if res.FlowsSeen != 40 || res.FlowsEvicted == 0 {
		t.Errorf("seen %d evicted %d", res.FlowsSeen, res.FlowsEvicted)
	}
	if res.Totals.TCPFlows != 40 || res.Totals.TCP.Reorder.Reordered != 10 || res.Totals.TCP.DataPackets != 400 {
		t.Errorf("totals: flows %d reordered %d data %d", res.Totals.TCPFlows, res.Totals.TCP.Reorder.Reordered, res.Totals.TCP.DataPackets)
	}
	bad := 0
	for _, f := range res.Flows {
		if f.Dir[0].Reorder.Reordered > 0 {
			bad++
		}
	}
	if bad != 10 || res.Flows[0].Dir[0].Reorder.Reordered != 1 {
		t.Errorf("%d flows with reordering listed, want all 10 first", bad)
	}
	if !strings.Contains(strings.Join(res.Warnings, "\n"), "flow table reached its limit of 8") {
		t.Errorf("warnings %q", res.Warnings)
	}
}

func TestFilters(t *testing.T) {
	g := ct.NewGen(t, layers.LinkTypeEthernet)
	ct.RetransScenario(ct.NewConv(g, "198.18.0.1:40000", "198.18.1.1:5201"))
	other := ct.NewConv(g, "198.18.0.7:40001", "198.18.1.9:443")
	other.Handshake(time.Second, time.Millisecond)
	other.Deliver(other.Receiver(1), time.Second+5*time.Millisecond, time.Millisecond, other.SendData(0, time.Second, time.Millisecond, 5, 100))
	ap := netip.MustParseAddrPort
	for _, tc := range []struct {
		name string
		f    Filter
		want int
	}{
		{"none", Filter{}, 2},
		{"host", Filter{Hosts: []netip.Addr{netip.MustParseAddr("198.18.1.9")}}, 1},
		{"port", Filter{Ports: []uint16{5201}}, 1},
		{"flow either direction", Filter{Flows: []FlowSpec{{A: ap("198.18.1.1:5201"), B: ap("198.18.0.1:40000")}}}, 1},
		{"no match", Filter{Ports: []uint16{22}}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := analyzeBytes(t, g.Pcap(), Options{Filter: tc.f})
			if len(res.Flows) != tc.want {
				t.Fatalf("%d flows, want %d", len(res.Flows), tc.want)
			}
			if tc.name == "port" {
				checkScenario(t, res)
			}
			if tc.want < 2 && res.Filtered == 0 {
				t.Error("nothing counted as filtered")
			}
		})
	}
}

func TestInterrupted(t *testing.T) {
	data, _ := scenarioPcap(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := Analyze(ctx, bytes.NewReader(data), Options{})
	if !errors.Is(err, context.Canceled) || res == nil || res.Complete {
		t.Fatalf("err %v res %v", err, res)
	}
}

// A pcapng interface of a link type netdx does not decode: its packets
// are counted as undecoded with a warning, the others analysed.
func TestPcapngUnsupportedInterface(t *testing.T) {
	g := ct.NewGen(t, layers.LinkTypeEthernet)
	ct.RetransScenario(ct.NewConv(g, "198.18.0.1:40000", "198.18.1.1:5201"))
	n := len(g.Recs)
	for i := range 5 {
		g.Recs = append(g.Recs, ct.Record{CI: g.Recs[n-1].CI, Data: []byte{1, 2, 3, byte(i)}})
		g.Recs[len(g.Recs)-1].CI.InterfaceIndex = 1
		g.Recs[len(g.Recs)-1].CI.CaptureLength, g.Recs[len(g.Recs)-1].CI.Length = 4, 4
	}
	res := analyzeBytes(t, g.Pcapng(layers.LinkTypeEthernet, 147), Options{})
	checkScenario(t, res)
	if len(res.Undecoded) != 1 || res.Undecoded[0].Packets != 5 || res.Undecoded[0].Reason != "link: unsupported link type linktype 147" {
		t.Errorf("undecoded %+v", res.Undecoded)
	}
	if !strings.Contains(strings.Join(res.Warnings, "\n"), "interface 1 (if1) has link type linktype 147") || res.Interfaces[1].Supported {
		t.Errorf("warnings %q interfaces %+v", res.Warnings, res.Interfaces)
	}
}

// A record longer than the read-ahead ring (a file with a snap length
// above 1 MiB) is read whole through the spill buffer; one that claims
// more bytes than the file holds is a cut-short record, and memory
// follows the bytes read, not the length claimed.
func TestLongRecords(t *testing.T) {
	good, g := scenarioPcap(t)
	want, err := Analyze(context.Background(), bytes.NewReader(good), Options{})
	if err != nil {
		t.Fatal(err)
	}
	const pad = 3 << 20
	long := binary.LittleEndian.AppendUint32(append([]byte(nil), good[:16]...), 8<<20) // snap length 8 MiB
	long = append(long, good[20:24]...)
	first := 24 + 16 + len(g.Recs[0].Data)
	hdr := append([]byte(nil), good[24:40]...)
	binary.LittleEndian.PutUint32(hdr[8:], uint32(len(g.Recs[0].Data)+pad))
	binary.LittleEndian.PutUint32(hdr[12:], uint32(len(g.Recs[0].Data)+pad))
	long = append(append(append(long, hdr...), good[40:first]...), make([]byte, pad)...) // Ethernet padding after the IP packet
	long = append(long, good[first:]...)

	got, err := Analyze(context.Background(), bytes.NewReader(long), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Packets != want.Packets || got.Totals.TCP.Retransmission.Packets != want.Totals.TCP.Retransmission.Packets || got.Bytes != want.Bytes+pad {
		t.Errorf("%d packets, %d retransmitted, %d bytes; want %d, %d, %d", got.Packets, got.Totals.TCP.Retransmission.Packets, got.Bytes,
			want.Packets, want.Totals.TCP.Retransmission.Packets, want.Bytes+pad)
	}

	_, err = Analyze(context.Background(), bytes.NewReader(long[:first+pad/2]), Options{Name: "x.pcap"})
	if !errors.Is(err, ErrCutShort) || !strings.Contains(err.Error(), "record 1 at byte offset 24") {
		t.Errorf("long record cut short: %v", err)
	}

	liar := append([]byte(nil), long[:first+1000]...)
	binary.LittleEndian.PutUint32(liar[16:], 0xfff00000)   // snap length near 4 GiB
	binary.LittleEndian.PutUint32(liar[24+8:], 0xf0000000) // a record of 3.75 GiB
	binary.LittleEndian.PutUint32(liar[24+12:], 0xf0000000)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = Analyze(context.Background(), bytes.NewReader(liar), Options{Name: "x.pcap"})
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrCutShort) {
		t.Errorf("a record longer than the file: %v", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 64<<20 {
		t.Errorf("a 4 KiB file claiming a 3.75 GiB record allocated %d MiB", n>>20)
	}
}

// A pcapng file whose second section is big-endian, after a little-endian
// section that ends with a non-packet block: pcapgo reads the statistics,
// section header and interface blocks in one go, and netdx's block check
// must not read the next packet block in the first section's byte order.
func TestPcapngSectionsOfBothByteOrders(t *testing.T) {
	_, g := scenarioPcap(t)
	file := g.Pcapng()
	le32 := binary.LittleEndian
	isb := le32.AppendUint32(nil, 5) // interface statistics block
	for _, v := range []uint32{24, 0, 0, 0, 24} {
		isb = le32.AppendUint32(isb, v)
	}
	file = append(file, isb...)
	// Enough packets after it that a misread length still fits the file.
	file = append(file, bigEndianPcapng(g, 4)...)
	res, err := Analyze(context.Background(), bytes.NewReader(file), Options{Name: "x.pcapng"})
	if err != nil {
		t.Fatal(err)
	}
	if want := uint64(5 * len(g.Recs)); res.Packets != want {
		t.Errorf("%d packets, want %d", res.Packets, want)
	}
}

// bigEndianPcapng writes g's records, times over, as one big-endian pcapng section
// (pcapgo writes only the machine's byte order). A comment pads every
// packet block to a multiple of 256 bytes: read in the wrong byte order,
// such a length is under 1 MiB and gets checked.
func bigEndianPcapng(g *ct.Gen, times int) []byte {
	be := binary.BigEndian
	block := func(b []byte, typ uint32, body []byte) []byte {
		n := uint32(12 + len(body))
		b = be.AppendUint32(be.AppendUint32(b, typ), n)
		return be.AppendUint32(append(b, body...), n)
	}
	shb := be.AppendUint32(nil, 0x1a2b3c4d)
	shb = be.AppendUint16(be.AppendUint16(shb, 1), 0)
	shb = be.AppendUint64(shb, ^uint64(0))
	out := block(nil, 0x0a0d0d0a, shb)
	idb := be.AppendUint16(nil, uint16(g.Link))
	idb = be.AppendUint32(be.AppendUint16(idb, 0), 262144)
	out = block(out, 1, idb)
	for i := range times * len(g.Recs) {
		r := g.Recs[i%len(g.Recs)]
		us := uint64(r.CI.Timestamp.UnixMicro())
		epb := be.AppendUint32(nil, 0)
		epb = be.AppendUint32(be.AppendUint32(epb, uint32(us>>32)), uint32(us))
		epb = be.AppendUint32(be.AppendUint32(epb, uint32(len(r.Data))), uint32(r.CI.Length))
		epb = append(epb, r.Data...)
		epb = append(epb, make([]byte, (4-len(r.Data)%4)%4)...)
		// The comment option (4-byte header and value) and the end of
		// options (4 bytes) take the block to the next multiple of 256.
		comment := 256 - (12+len(epb)+4)%256
		if comment < 4 {
			comment += 256
		}
		epb = be.AppendUint16(be.AppendUint16(epb, 1), uint16(comment-4))
		epb = append(epb, make([]byte, comment-4)...)
		epb = be.AppendUint32(epb, 0) // end of options
		out = block(out, 6, epb)
	}
	return out
}
