package collectors

import (
	"encoding/binary"
	"encoding/json"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// tcpInfoBytes encodes the fields TCPHealth reads into a struct tcp_info
// of n bytes, as a kernel with a struct that long would send it.
func tcpInfoBytes(n int, i TCPInfo) []byte {
	b := make([]byte, sizeofTCPInfoDecoded)
	b[1] = i.CAState
	if i.AppLimited {
		b[7] = 1
	}
	put32 := func(off int, v uint32) { binary.NativeEndian.PutUint32(b[off:], v) }
	put64 := func(off int, v uint64) { binary.NativeEndian.PutUint64(b[off:], v) }
	put32(68, i.RTT)
	put32(80, i.SndCwnd)
	put32(100, i.TotalRetrans)
	put64(120, i.BytesAcked)
	put32(156, i.DataSegsOut)
	put64(168, i.BusyTime)
	put64(176, i.RwndLimited)
	put64(184, i.SndbufLimited)
	put64(200, i.BytesSent)
	put32(216, i.DSACKDups)
	put32(220, i.ReordSeen)
	binary.NativeEndian.PutUint16(b[240:], i.TotalRTO)
	if n > len(b) {
		b = append(b, make([]byte, n-len(b))...)
	}
	return b[:n]
}

// TestDecodeTCPInfoByLength: every kernel's struct length decodes the
// fields it has, and leaves the later ones absent.
func TestDecodeTCPInfoByLength(t *testing.T) {
	full := TCPInfo{CAState: 3, AppLimited: true, RTT: 1500, SndCwnd: 10, TotalRetrans: 7, BytesAcked: 1 << 40, DataSegsOut: 900,
		BusyTime: 5e6, RwndLimited: 1e6, SndbufLimited: 2e6, BytesSent: 1 << 41, DSACKDups: 3, ReordSeen: 4, TotalRTO: 2}
	for _, tc := range []struct {
		n    int
		has  TCPInfoField
		lack TCPInfoField
	}{
		{104, TCPInfoTotalRetrans, TCPInfoPacingRate},  // 2.6.12
		{160, TCPInfoDataSegsOut, TCPInfoDeliveryRate}, // 4.6
		{192, TCPInfoBusyTime, TCPInfoDelivered},       // 4.10
		{224, TCPInfoBytesRetrans, TCPInfoRcvOOOPack},  // 4.19
		{232, TCPInfoRcvOOOPack, TCPInfoRcvWnd},        // 5.4
		{248, TCPInfoTotalRTO, TCPInfoTotalRTO + 1},    // 6.7
		{280, TCPInfoTotalRTO, TCPInfoTotalRTO + 33},   // 6.18: AccECN fields follow
	} {
		got := tcpInfoOf(tcpInfoBytes(tc.n, full))
		if got.Len != tc.n || !got.Has(tc.has) || got.Has(tc.lack) {
			t.Errorf("%d bytes: Len %d, has %d %v, has %d %v", tc.n, got.Len, tc.has, got.Has(tc.has), tc.lack, got.Has(tc.lack))
		}
		if got.TotalRetrans != 7 || got.RTT != 1500 || got.CAStateName() != "recovery" {
			t.Errorf("%d bytes: original fields %+v", tc.n, got)
		}
		if (got.TotalRTO != 0) != got.Has(TCPInfoTotalRTO) || (got.ReordSeen != 0) != got.Has(TCPInfoBytesRetrans) ||
			(got.BusyTime != 0) != got.Has(TCPInfoBusyTime) || got.AppLimited != (tc.n >= 8) {
			t.Errorf("%d bytes: a field read past the struct: %+v", tc.n, got)
		}
	}
	if got := tcpInfoOf(make([]byte, 103)); got.Len != 0 {
		t.Errorf("103 bytes decoded as tcp_info of %d", got.Len)
	}
}

// conn makes a connection of the synthetic tables below.
func conn(cookie uint64, local, remote string, info TCPInfo) TCPConn {
	b := tcpInfoBytes(280, info)
	return TCPConn{Local: netip.MustParseAddrPort(local), Remote: netip.MustParseAddrPort(remote), State: 1, Cookie: cookie,
		Inode: cookie + 1000, Info: tcpInfoOf(b)}
}

// TestTCPHealthOf checks matching, deltas, groups and their order on a
// synthetic pair of dumps.
func TestTCPHealthOf(t *testing.T) {
	before := &TCPConns{Conns: []TCPConn{
		conn(1, "198.18.0.1:40001", "198.18.1.1:443", TCPInfo{TotalRetrans: 100, DataSegsOut: 10000, BusyTime: 1e6}),
		conn(2, "198.18.0.1:40002", "198.18.1.1:443", TCPInfo{TotalRetrans: 5, DataSegsOut: 1000}),
		conn(3, "198.18.0.1:40003", "198.18.1.1:80", TCPInfo{BusyTime: 1e6, RwndLimited: 1e5}),
		conn(4, "198.18.0.1:40004", "198.18.1.1:80", TCPInfo{}),                                                        // closes
		conn(5, "198.18.0.1:40005", "198.18.1.1:80", TCPInfo{TotalRetrans: 1, DataSegsOut: 100}),                       // reopened with cookie 9
		conn(6, "[2001:db8::1]:40006", "[2001:db8::2]:22", TCPInfo{TotalRetrans: 1<<32 - 6, DataSegsOut: 1<<32 - 296}), // wraps
	}}
	after := &TCPConns{Conns: []TCPConn{
		// 60 of 2000 resent: the most resent, listed first.
		conn(1, "198.18.0.1:40001", "198.18.1.1:443", TCPInfo{TotalRetrans: 160, DataSegsOut: 12000, BusyTime: 3e6, TotalRTO: 2}),
		// 1 resent: under TCPRetransMinSegs.
		conn(2, "198.18.0.1:40002", "198.18.1.1:443", TCPInfo{TotalRetrans: 6, DataSegsOut: 3000, AppLimited: true}),
		// Stalled by the window 0.9 s of 1 s busy.
		conn(3, "198.18.0.1:40003", "198.18.1.1:80", TCPInfo{BusyTime: 2e6, RwndLimited: 1e6, SndbufLimited: 5e3}),
		conn(9, "198.18.0.1:40005", "198.18.1.1:80", TCPInfo{TotalRetrans: 3, DataSegsOut: 20, ReordSeen: 2, DSACKDups: 2}),
		conn(6, "[2001:db8::1]:40006", "[2001:db8::2]:22", TCPInfo{TotalRetrans: 10, DataSegsOut: 400}),
		conn(7, "198.18.0.1:40007", "198.18.1.1:80", TCPInfo{}), // new, idle
	}}
	after.Conns = append(after.Conns, TCPConn{Local: netip.MustParseAddrPort("198.18.0.1:40008"), State: 1, Cookie: 8})  // no tcp_info
	after.Conns = append(after.Conns, TCPConn{Local: netip.MustParseAddrPort("198.18.0.1:40010"), State: 2, Cookie: 10}) // syn-sent: not counted
	h := TCPHealthOf(before, after, 2, TCPHealthOptions{Top: 2})
	if h.Conns != 7 || h.New != 3 || h.Closed != 2 || h.NoInfo != 1 || h.WindowSeconds != 2 {
		t.Errorf("conns %d new %d closed %d no_info %d window %v; want 7 3 2 1 2", h.Conns, h.New, h.Closed, h.NoInfo, h.WindowSeconds)
	}
	ports := func(l TCPLimit) []uint16 {
		var out []uint16
		if g := h.Group(l); g != nil {
			for _, c := range g.Conns {
				out = append(out, c.Local.Port())
			}
		}
		return out
	}
	// 40006 resent 16 of 696 across the wrap; 40005 reopened: its 3.
	if got := ports(TCPRetransmitting); !slices.Equal(got, []uint16{40001, 40006}) || h.Group(TCPRetransmitting).More != 1 {
		t.Errorf("retransmitting %v more %d, want 40001 40006 and 1 more", got, h.Group(TCPRetransmitting).More)
	}
	if got := ports(TCPReordering); !slices.Equal(got, []uint16{40005}) {
		t.Errorf("reordering %v, want 40005", got)
	}
	if got := ports(TCPRwndLimited); !slices.Equal(got, []uint16{40003}) {
		t.Errorf("rwnd limited %v, want 40003", got)
	}
	if g := h.Group(TCPSndbufLimited); g != nil {
		t.Errorf("5 ms of sndbuf stall in 1 s busy is under the floor, listed: %+v", g.Conns[0])
	}
	if got := ports(TCPAppLimited); !slices.Equal(got, []uint16{40002}) {
		t.Errorf("app limited %v, want 40002", got)
	}
	c := h.Group(TCPRetransmitting).Conns[0]
	if c.RetransSegs != 60 || *c.DataSegsOut != 2000 || *c.RetransShare != 0.03 || *c.RTOs != 2 || *c.BusyUs != 2e6 ||
		*c.BusyShare != 1 || c.New || !slices.Equal(c.Limits, []TCPLimit{TCPRetransmitting}) {
		t.Errorf("40001: %+v", c)
	}
	re := h.Group(TCPReordering).Conns[0]
	if !re.New || re.RetransSegs != 3 || re.BusyShare != nil || *re.SpuriousShare != 2.0/3 {
		t.Errorf("40005 reopened: new %v resent %d busy share %v spurious %v", re.New, re.RetransSegs, re.BusyShare, *re.SpuriousShare)
	}
	if got := len(h.Listed()); got != 5 {
		t.Errorf("%d listed connections, want 5 (each once)", got)
	}
	// The JSON names the fields as documented, and absent ones are absent.
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"local":"198.18.0.1:40001"`, `"retrans_segs":60`, `"retrans_share":0.03`, `"rtos":2`, `"ca_state":"open"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON lacks %s: %s", want, b)
		}
	}
}

// TestTCPHealthOldKernel: fields a 4.6 kernel lacks are nil, and the
// limits that need them are not judged.
func TestTCPHealthOldKernel(t *testing.T) {
	mk := func(retrans uint32) *TCPConns {
		b := tcpInfoBytes(160, TCPInfo{TotalRetrans: retrans, DataSegsOut: 1000 * retrans, BusyTime: 9, RwndLimited: 9, ReordSeen: 9})
		return &TCPConns{Conns: []TCPConn{{Local: netip.MustParseAddrPort("198.18.0.1:1"), Remote: netip.MustParseAddrPort("198.18.0.2:2"),
			State: 1, Cookie: 1, Info: tcpInfoOf(b)}}}
	}
	h := TCPHealthOf(mk(1), mk(5), 1, TCPHealthOptions{})
	if len(h.Limits) != 1 || h.Limits[0].Limit != TCPRetransmitting {
		t.Fatalf("limits %+v, want retransmitting only", h.Limits)
	}
	c := h.Limits[0].Conns[0]
	if c.DataSegsOut == nil || c.BusyUs != nil || c.RTOs != nil || c.DSACKDups != nil || c.DeliveryRate != nil {
		t.Errorf("4.6 fields: data segs %v busy %v rtos %v dsack %v delivery %v", c.DataSegsOut, c.BusyUs, c.RTOs, c.DSACKDups, c.DeliveryRate)
	}
	if one := TCPHealthOf(nil, mk(5), 0, TCPHealthOptions{}); one.WindowSeconds != 0 || one.New != 1 || !one.Limits[0].Conns[0].New {
		t.Errorf("one dump: %+v", one)
	}
}

func TestConnFilter(t *testing.T) {
	l, r := netip.MustParseAddrPort("198.18.0.1:40000"), netip.MustParseAddrPort("198.18.1.1:443")
	l6, r6 := netip.MustParseAddrPort("[2001:db8::1]:40000"), netip.MustParseAddrPort("[2001:db8::2]:22")
	for _, tc := range []struct {
		f        string
		v4, v6   bool
		mismatch bool
	}{
		{"443", true, false, false},
		{"40000", true, true, false},
		{"198.18.1.1", true, false, false},
		{"198.18.0.0/15", true, false, false},
		{"198.18.1.1:443", true, false, false},
		{"198.18.1.1:80", false, false, false},
		{"[2001:db8::2]:22", false, true, false},
		{"2001:db8::/32", false, true, false},
		{"80, 22", false, true, false},
		{"::ffff:198.18.1.1", true, false, false},
	} {
		f, err := ParseConnFilter(tc.f)
		if err != nil {
			t.Errorf("%q: %v", tc.f, err)
			continue
		}
		if f.Match(l, r) != tc.v4 || f.Match(l6, r6) != tc.v6 || f.String() != tc.f {
			t.Errorf("%q: v4 %v v6 %v, want %v %v", tc.f, f.Match(l, r), f.Match(l6, r6), tc.v4, tc.v6)
		}
	}
	for _, bad := range []string{"", "0", "70000", "host", "198.18.1.1:x", "198.18.0.0/99", "443,"} {
		if _, err := ParseConnFilter(bad); err == nil || !strings.Contains(err.Error(), "use a port") {
			t.Errorf("%q: error %v, want one that shows the forms", bad, err)
		}
	}
	if !(ConnFilter{}).Match(l, r) {
		t.Error("the zero filter does not match")
	}
}

// TestCountSynRecv: half-open connections go to the listener the kernel
// would give them.
func TestCountSynRecv(t *testing.T) {
	ls := []Listener{{Local: "0.0.0.0:80"}, {Local: "198.18.0.1:80"}, {Local: "[::]:443"}, {Local: "[::]:80"}, {Local: "0.0.0.0:22"}}
	c := &TCPConns{SynRecv: map[netip.AddrPort]int{
		netip.MustParseAddrPort("198.18.0.1:80"):    5, // its own listener
		netip.MustParseAddrPort("198.18.0.2:80"):    3, // the IPv4 wildcard, not [::]
		netip.MustParseAddrPort("[2001:db8::1]:80"): 2, // [::]
		netip.MustParseAddrPort("198.18.0.1:443"):   7, // [::] dual stack
		netip.MustParseAddrPort("198.18.0.1:8080"):  1, // nobody's
	}}
	c.countSynRecv(ls)
	var got []uint64
	for _, l := range ls {
		got = append(got, *l.SynRecv)
	}
	if !reflect.DeepEqual(got, []uint64{3, 5, 7, 2, 0}) {
		t.Errorf("SYN-RECV per listener %v, want [3 5 7 2 0]", got)
	}
	none := []Listener{{Local: "0.0.0.0:80"}}
	(&TCPConns{dropsOnly: true}).countSynRecv(none)
	if none[0].SynRecv != nil {
		t.Error("a recording without SYN-RECV counts set one")
	}
}

// tcpInfoOf decodes b.
func tcpInfoOf(b []byte) TCPInfo {
	var i TCPInfo
	decodeTCPInfo(&i, b)
	return i
}
