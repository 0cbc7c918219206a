package collectors

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"path/filepath"
	"testing"
)

func mptcpRecording(t testing.TB, name string) *mptcpRaw {
	return readMPTCPRecording(t, filepath.Join("testdata", "mptcp", name+".txt"))
}

func decodeMPTCPOK(t *testing.T, raw *mptcpRaw) *MPTCP {
	t.Helper()
	m, errs := decodeMPTCP(raw)
	if len(errs) != 0 {
		t.Fatalf("decode errors: %v", errs)
	}
	return m
}

var (
	mpWan1    = netip.MustParseAddr("198.18.1.1")
	mpWan2    = netip.MustParseAddr("198.18.2.1")
	mpService = netip.MustParseAddr("198.18.0.1")
)

func TestDecodeMPTCPBonded(t *testing.T) {
	m := decodeMPTCPOK(t, mptcpRecording(t, "bonded"))
	if m.Sysctls["enabled"] != "1" || m.PathManager() != "kernel" || m.Sysctls["stale_loss_cnt"] != "4" {
		t.Errorf("sysctls = %v", m.Sysctls)
	}
	if m.PM.Limits != (MPTCPLimits{Subflows: 2}) {
		t.Errorf("limits = %+v", m.PM.Limits)
	}
	want := []struct {
		id    uint8
		addr  netip.Addr
		iface string
	}{{1, mpWan1, "wan1"}, {2, mpWan2, "wan2"}}
	if len(m.PM.Endpoints) != len(want) {
		t.Fatalf("endpoints = %+v", m.PM.Endpoints)
	}
	for i, w := range want {
		ep := m.PM.Endpoints[i]
		if ep.ID != w.id || ep.Addr != w.addr || ep.Iface != w.iface || ep.Flags != MPTCPEndpointSubflow ||
			ep.IfaceUp == nil || !*ep.IfaceUp || ep.AddrPresent == nil || !*ep.AddrPresent {
			t.Errorf("endpoint %d = %+v, want id %d %s dev %s subflow, up", i, ep, w.id, w.addr, w.iface)
		}
		if got := ep.Flags.Names(); len(got) != 1 || got[0] != "subflow" {
			t.Errorf("flag names = %v", got)
		}
	}
	s := m.Sockets
	if !s.SubflowDetail || len(s.Conns) != 1 || len(s.Listeners) != 0 {
		t.Fatalf("sockets = %+v", s)
	}
	c := s.Conns[0]
	if c.Local.Addr() != mpWan1 || c.Remote != netip.AddrPortFrom(mpService, 8080) || c.Side != MPTCPClient {
		t.Errorf("connection %s → %s side %s", c.Local, c.Remote, c.Side)
	}
	if c.SubflowCount() != 2 || c.Info.Subflows != 1 || c.Info.SubflowsMax != 2 || *c.Info.LocalAddrMax != 2 || *c.Info.LocalAddrUsed != 1 {
		t.Errorf("mptcp_info = %+v", c.Info)
	}
	if c.Info.Token == 0 || c.Info.Flags&MPTCPInfoRemoteKeyReceived == 0 || c.Fallback() {
		t.Errorf("token %08x flags %#x", c.Info.Token, c.Info.Flags)
	}
	if len(c.Subflows) != 2 {
		t.Fatalf("subflows = %+v", c.Subflows)
	}
	first, second := c.Subflows[0], c.Subflows[1]
	if first.LocalID != 0 || !first.Initial() || first.Local != c.Local || first.State != mpTCPEstablished {
		t.Errorf("initial subflow = %+v", first)
	}
	if second.LocalID != 2 || second.Initial() || second.Local.Addr() != mpWan2 || second.Flags&MPTCPSubflowJoinLocal == 0 {
		t.Errorf("joined subflow = %+v", second)
	}
}

func TestDecodeMPTCPFlapped(t *testing.T) {
	m := decodeMPTCPOK(t, mptcpRecording(t, "flapped"))
	c := m.Sockets.Conns[0]
	if c.SubflowCount() != 1 || len(c.Subflows) != 1 || c.Subflows[0].LocalID != 0 {
		t.Errorf("after the flap: %d subflows %+v, want only the initial one", c.SubflowCount(), c.Subflows)
	}
	// The kernel still counts endpoint 2 as used: that is why it never
	// opens a new subflow from it.
	if c.Info.Subflows != 0 || *c.Info.LocalAddrUsed != 1 {
		t.Errorf("mptcp_info subflows %d local_addr_used %d, want 0 and 1", c.Info.Subflows, *c.Info.LocalAddrUsed)
	}
	if ep := m.PM.Endpoints[1]; !*ep.IfaceUp {
		t.Errorf("wan2 recorded down after it came back: %+v", ep)
	}
}

// TestDecodeMPTCPUnprivileged replays the recording as older kernels show
// it to a user without CAP_NET_ADMIN: TCP subflows carry the ULP name but
// no MPTCP details.
func TestDecodeMPTCPUnprivileged(t *testing.T) {
	raw := mptcpRecording(t, "bonded")
	for i, msg := range raw.TCPSocks {
		raw.TCPSocks[i] = mptcpStripULP(t, msg)
	}
	m := decodeMPTCPOK(t, raw)
	s := m.Sockets
	if s.SubflowDetail || len(s.Conns[0].Subflows) != 0 {
		t.Errorf("subflow details without them: %+v", s)
	}
	if c := s.Conns[0]; c.Side != MPTCPClient || c.SubflowCount() != 2 {
		t.Errorf("side %s count %d, want client 2 from mptcp_info alone", c.Side, c.SubflowCount())
	}
}

// mptcpStripULP rewrites an inet_diag_msg so its ULP info holds only the
// name, as older kernels send it to unprivileged readers.
func mptcpStripULP(t *testing.T, msg []byte) []byte {
	t.Helper()
	d, err := decodeMPTCPDiagMsg(msg)
	if err != nil {
		t.Fatal(err)
	}
	out := append([]byte(nil), msg[:mpInetDiagMsgLen]...)
	for _, a := range d.attrs {
		if a.typ == mpInetDiagULPInfo {
			out = mptcpAppendAttr(out, mpInetDiagULPInfo, mptcpAppendAttr(nil, mpInetULPInfoName, []byte("mptcp\x00")))
			continue
		}
		out = mptcpAppendAttr(out, a.typ, a.val)
	}
	return out
}

func mptcpAppendAttr(b []byte, typ uint16, val []byte) []byte {
	b = binary.NativeEndian.AppendUint16(b, uint16(4+len(val)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, val...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func TestDecodeEndpointIPv6AndFlags(t *testing.T) {
	addr := netip.MustParseAddr("2001:db8::7")
	var nested []byte
	nested = mptcpAppendAttr(nested, mptcpAddrAttrFamily, binary.NativeEndian.AppendUint16(nil, mpAFInet6))
	nested = mptcpAppendAttr(nested, mptcpAddrAttrID, []byte{9})
	a16 := addr.As16()
	nested = mptcpAppendAttr(nested, mptcpAddrAttrAddr6, a16[:])
	nested = mptcpAppendAttr(nested, mptcpAddrAttrPort, binary.NativeEndian.AppendUint16(nil, 443))
	flags := MPTCPEndpointSignal | MPTCPEndpointBackup | MPTCPEndpointFullmesh | 1<<9
	nested = mptcpAppendAttr(nested, mptcpAddrAttrFlags, binary.NativeEndian.AppendUint32(nil, uint32(flags)))
	msg := mptcpAppendAttr([]byte{mptcpPMCmdGetAddr, mptcpPMVersion, 0, 0}, mptcpPMAttrAddr|1<<15, nested)

	ep, err := decodeMPTCPEndpoint(msg)
	if err != nil {
		t.Fatal(err)
	}
	if ep.ID != 9 || ep.Addr != addr || ep.Port != 443 || ep.Flags != flags || ep.IfIndex != 0 {
		t.Errorf("endpoint = %+v", ep)
	}
	got := ep.Flags.Names()
	want := []string{"signal", "backup", "fullmesh", "0x200"}
	if len(got) != len(want) {
		t.Fatalf("names = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("names = %v, want %v", got, want)
		}
	}
	placeMPTCPEndpoint(&ep, []mptcpLink{{Index: 4, Name: "eth1", Up: false, Addrs: []netip.Addr{addr}}})
	if ep.Iface != "eth1" || *ep.IfaceUp || !*ep.AddrPresent {
		t.Errorf("placed = %+v, want on eth1, down, present", ep)
	}
	placeMPTCPEndpoint(&ep, nil)
	if ep.Iface != "eth1" || *ep.AddrPresent {
		t.Errorf("address gone: %+v, want not present", ep)
	}
}

// TestDecodeMPTCPInfoOlderKernels cuts the recorded mptcp_info to the
// sizes older kernels produce: newer fields must be absent, not zero.
func TestDecodeMPTCPInfoOlderKernels(t *testing.T) {
	raw := mptcpRecording(t, "bonded")
	d, err := decodeMPTCPDiagMsg(raw.MPTCPSocks[0])
	if err != nil {
		t.Fatal(err)
	}
	var info []byte
	for _, a := range d.attrs {
		if a.typ == mpInetDiagInfo {
			info = a.val
		}
	}
	if len(info) < 96 {
		t.Fatalf("recorded mptcp_info has %d bytes; 6.10+ makes 96", len(info))
	}
	for _, tc := range []struct {
		kernel        string
		size          int
		localAddr     bool
		bytes, total  bool
		wantSubflowsN int
	}{
		{"5.9", 40, false, false, false, 2},
		{"5.14", 48, true, false, false, 2},
		{"6.5", 80, true, true, false, 2},
		{"6.8", 84, true, true, true, 2},
	} {
		in, err := decodeMPTCPInfo(info[:tc.size])
		if err != nil {
			t.Fatalf("%s: %v", tc.kernel, err)
		}
		if (in.LocalAddrMax != nil) != tc.localAddr || (in.BytesSent != nil) != tc.bytes || (in.SubflowsTotal != nil) != tc.total {
			t.Errorf("%s (%d bytes): local_addr %v bytes %v total %v", tc.kernel, tc.size, in.LocalAddrMax != nil, in.BytesSent != nil, in.SubflowsTotal != nil)
		}
		c := MPTCPConn{Info: in}
		if c.SubflowCount() != tc.wantSubflowsN {
			t.Errorf("%s: SubflowCount %d, want %d", tc.kernel, c.SubflowCount(), tc.wantSubflowsN)
		}
	}
	if _, err := decodeMPTCPInfo(info[:39]); !errors.Is(err, errMPTCPMalformed) {
		t.Errorf("39-byte mptcp_info: err %v, want malformed", err)
	}
}

// TestDecodeMPTCPMalformed cuts every recorded message short: decoding
// must fail with a clear error or succeed, never panic.
func TestDecodeMPTCPMalformed(t *testing.T) {
	raw := mptcpRecording(t, "bonded")
	for _, msg := range append(append([][]byte{raw.Limits}, raw.Endpoints...), raw.MPTCPSocks...) {
		for n := 0; n < len(msg); n++ {
			cut := msg[:n]
			_, _ = decodeMPTCPLimits(cut)
			_, _ = decodeMPTCPEndpoint(cut)
			if d, err := decodeMPTCPDiagMsg(cut); err == nil {
				_, _, _ = decodeMPTCPSubflow(d)
			}
		}
	}
	bad := *raw
	bad.MPTCPSocks = [][]byte{raw.MPTCPSocks[0][:len(raw.MPTCPSocks[0])-4]}
	if _, errs := decodeMPTCP(&bad); !errors.Is(errs[mptcpSourceSockDiag], errMPTCPMalformed) {
		t.Errorf("truncated attribute: errors %v, want malformed for %s", errs, mptcpSourceSockDiag)
	}
	bad = *raw
	bad.Endpoints = [][]byte{{3, 1}}
	m, errs := decodeMPTCP(&bad)
	if !errors.Is(errs[mptcpSourcePM], errMPTCPMalformed) || m.PM != nil || m.Sockets == nil {
		t.Errorf("bad endpoint: errors %v, PM %v, sockets %v; want PM dropped, sockets kept", errs, m.PM, m.Sockets)
	}
}
