package collectors

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var fixedNow = func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }

// takeFixture reads a recorded host tree under testdata/hosts.
func takeFixture(t *testing.T, name string) *Snapshot {
	t.Helper()
	src, err := Replay("testdata/hosts/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return Take(context.Background(), src, fixedNow)
}

func findSkip(s *Snapshot, source string) *Skip {
	for i := range s.Skipped {
		if strings.Contains(s.Skipped[i].Source, source) {
			return &s.Skipped[i]
		}
	}
	return nil
}

func mustGet(t *testing.T, c NetCounters, section, name string, want uint64) {
	t.Helper()
	v, ok := c.Get(section, name)
	if !ok || v != want {
		t.Errorf("%s.%s = %d, %v; want %d", section, name, v, ok, want)
	}
}

func mustLack(t *testing.T, c NetCounters, section, name string) {
	t.Helper()
	if v, ok := c.Get(section, name); ok {
		t.Errorf("%s.%s = %d, want absent", section, name, v)
	}
}

func TestFixtureKernel310(t *testing.T) {
	s := takeFixture(t, "linux-3.10")
	// Counters this kernel lacks are absent, not zero.
	mustLack(t, s.Netstat, "TcpExt", "TCPRcvQDrop")
	mustLack(t, s.Netstat, "TcpExt", "TCPZeroWindowDrop")
	mustLack(t, s.Netstat, "Udp", "MemErrors")
	mustLack(t, s.Netstat, "Udp", "IgnoredMulti")
	mustGet(t, s.Netstat, "TcpExt", "ListenOverflows", 14)
	mustGet(t, s.Netstat, "Tcp", "RetransSegs", 43210)
	mustLack(t, s.Netstat, "Tcp", "MaxConn") // -1: a constant, not a counter
	mustGet(t, s.Netstat, "Ip6", "InReceives", 5432)
	mustGet(t, s.Netstat, "Icmp6", "InType134", 12)
	mustGet(t, s.Netstat, "UdpLite6", "InDatagrams", 0)
	mustGet(t, s.Netstat, "IcmpMsg", "OutType3", 67)

	// 10 softnet columns: no flow limit, CPU numbers from the row.
	if len(s.Softnet) != 4 {
		t.Fatalf("softnet rows = %d", len(s.Softnet))
	}
	c := s.Softnet[3]
	if c.Columns != 10 || c.FlowLimitCount != nil || c.ReceivedRPS == nil || !c.CPUFromRow || c.CPU != 3 || c.Processed != 0xfffffff0 {
		t.Errorf("softnet row 3 = %+v", c)
	}
	if s.Softnet[2].Dropped != 0x20 || s.Softnet[2].TimeSqueeze != 311 {
		t.Errorf("softnet row 2 = %+v", s.Softnet[2])
	}

	// No netlink recording: links come from /proc/net/dev.
	eth := s.Link("eth0")
	if eth == nil || eth.StatsSource != "/proc/net/dev" || eth.Kind != "" {
		t.Fatalf("eth0 = %+v", eth)
	}
	if v, _ := eth.Stat("rx_dropped"); v != 1204 {
		t.Errorf("eth0 rx_dropped = %d", v)
	}
	if eth.SpeedMbps == nil || *eth.SpeedMbps != 1000 || eth.Duplex != "full" || eth.CarrierChanges == nil || *eth.CarrierChanges != 4 {
		t.Errorf("eth0 speed/duplex/carrier = %v %q %v", eth.SpeedMbps, eth.Duplex, eth.CarrierChanges)
	}
	if sk := findSkip(s, "netlink links"); sk == nil || sk.Kind != SkipUnsupported {
		t.Errorf("netlink links skip = %+v", sk)
	}

	// ethtool: igb with per-queue drops, rings and channels.
	n := s.NICs["eth0"]
	if n == nil || n.Driver.Driver != "igb" || n.Ring == nil || n.Ring.RxPending != 256 || n.Ring.RxMax != 4096 {
		t.Fatalf("NIC eth0 = %+v", n)
	}
	if n.Channels.Combined != 4 || n.Channels.MaxCombined != 8 || n.Channels.MaxOther != 1 {
		t.Errorf("channels = %+v", n.Channels)
	}
	if n.Stats["rx_queue_1_drops"] != 1204 {
		t.Errorf("stats = %v", n.Stats)
	}
	if !n.Offloads["rx-gro"] || n.Offloads["rx-lro"] || !n.Offloads["tx-tcp-segmentation"] {
		t.Errorf("offloads = %v", n.Offloads)
	}

	// Conntrack statistics before 5.15: "searched" and "delete_list", no
	// search_restart on 3.10.
	ct := s.Conntrack
	if ct == nil || *ct.Count != 12058 || *ct.Max != 262144 {
		t.Fatalf("conntrack = %+v", ct)
	}
	if _, ok := ct.Stat("searched"); !ok {
		t.Error("conntrack lacks searched")
	}
	if _, ok := ct.Stat("search_restart"); ok {
		t.Error("3.10 conntrack has search_restart")
	}
	if v, _ := ct.Stat("insert_failed"); v != 3 {
		t.Errorf("insert_failed = %d, want 3 summed over CPUs", v)
	}
	if v, _ := ct.Stat("entries"); v != 0x2f1a {
		t.Errorf("entries = %d, want the global count, not a sum", v)
	}

	// UDP sockets with drops, named by process.
	if s.Sockets == nil || s.Sockets.UDPTotal != 4 || len(s.Sockets.UDP) != 1 {
		t.Fatalf("sockets = %+v", s.Sockets)
	}
	u := s.Sockets.UDP[0]
	if u.Local != "0.0.0.0:514" || u.Drops != 44 || u.RxQueue != 0x34000 || u.Process == nil || u.Process.String() != "unbound[812]" {
		t.Errorf("udp socket = %+v %v", u, u.Process)
	}
	if s.Sockets.Listeners != nil {
		t.Errorf("listeners = %v without a sock_diag recording", s.Sockets.Listeners)
	}
	if s.Sockstat["TCP"]["orphan"] != 1 || s.Sockstat["UDP"]["mem"] != 4 || s.Sockstat["TCP6"]["inuse"] != 12 {
		t.Errorf("sockstat = %v", s.Sockstat)
	}
	if s.Uptime.Seconds() < 3456789 {
		t.Errorf("uptime = %v", s.Uptime)
	}
	if got := s.Sysctls["net.ipv4.tcp_rmem"].Value; got != "4096 87380 6291456" {
		t.Errorf("tcp_rmem = %q", got)
	}
	if s.Sysctls["net.core.netdev_max_backlog"].Scope != ScopeHost || s.Sysctls["net.core.somaxconn"].Scope != ScopeNetNS {
		t.Errorf("sysctl scopes wrong: %v", s.Sysctls)
	}
	if _, ok := s.Sysctls["net.core.netdev_budget_usecs"]; ok {
		t.Error("3.10 has no netdev_budget_usecs")
	}
	if _, ok := s.Sysctls["net.ipv4.conf.eth0.rp_filter"]; !ok {
		t.Error("per-interface rp_filter not read")
	}
}

func TestFixtureRHEL418Backport(t *testing.T) {
	s := takeFixture(t, "rhel-4.18")
	// RHEL 8 backported these two into 4.18; detection is by name.
	mustGet(t, s.Netstat, "TcpExt", "TCPRcvQDrop", 2)
	if _, ok := s.Netstat.Get("TcpExt", "TCPZeroWindowDrop"); !ok {
		t.Error("TCPZeroWindowDrop absent")
	}
	mustLack(t, s.Netstat, "TcpExt", "TCPWqueueTooBig")
	c := s.Softnet[0]
	if c.Columns != 11 || c.FlowLimitCount == nil || c.BacklogLen != nil || !c.CPUFromRow {
		t.Errorf("softnet = %+v", c)
	}
	if n := s.NICs["ens2f0"]; n == nil || n.Stats["port.rx_discards"] != 17 || n.Driver.Driver != "i40e" {
		t.Errorf("i40e = %+v", n)
	}
	if _, ok := s.Conntrack.Stat("search_restart"); !ok {
		t.Error("4.18 conntrack lacks search_restart")
	}
}

func TestFixtureKernel54(t *testing.T) {
	s := takeFixture(t, "linux-5.4")
	if s.Sockets == nil || len(s.Sockets.Listeners) != 3 {
		t.Fatalf("listeners = %+v", s.Sockets)
	}
	l := s.Sockets.Listeners[0]
	if l.Local != "0.0.0.0:443" || l.Backlog != 511 || l.Drops == nil || *l.Drops != 14 || l.Process == nil || l.Process.String() != "nginx[1290]" {
		t.Errorf("listener = %+v", l)
	}
	if s.Sockets.Listeners[2].Process != nil {
		t.Errorf("listener without an owning fd has process %v", s.Sockets.Listeners[2].Process)
	}
	if n := s.NICs["ens1f0"]; n == nil || n.Stats["rx_out_of_buffer"] != 3321 || n.Ring.RxMax != 8192 || n.Channels.MaxCombined != 48 {
		t.Errorf("mlx5 = %+v", n)
	}
	if eth := s.Link("ens1f0"); eth == nil || *eth.SpeedMbps != 25000 {
		t.Errorf("speed = %+v", eth)
	}
}

func TestFixtureKernel515(t *testing.T) {
	s := takeFixture(t, "linux-5.15")
	// 13 columns: the CPU id comes from column 12, and CPU 3 is offline.
	last := s.Softnet[3]
	if last.Columns != 13 || last.CPU != 4 || last.CPUFromRow || last.BacklogLen == nil {
		t.Errorf("softnet last row = %+v", last)
	}
	// The 5.15 header: clashres and chainlength replace searched and delete_list.
	for _, n := range []string{"clashres", "chainlength"} {
		if _, ok := s.Conntrack.Stat(n); !ok {
			t.Errorf("conntrack lacks %s", n)
		}
	}
	if _, ok := s.Conntrack.Stat("searched"); ok {
		t.Error("5.15 conntrack has searched")
	}
	eth := s.Link("eth0")
	if eth == nil || eth.Kind != "device" || eth.StatsSource != "netlink" || eth.MTU != 9001 || *eth.TxQueueLen != 1000 {
		t.Fatalf("eth0 = %+v", eth)
	}
	if eth.SpeedMbps != nil {
		t.Errorf("ENA reports no speed, got %d", *eth.SpeedMbps)
	}
	if len(s.Qdiscs) != 4 || !s.Qdiscs[0].Root || s.Qdiscs[0].Kind != "mq" {
		t.Errorf("qdiscs = %+v", s.Qdiscs)
	}
	if n := s.NICs["eth0"]; n.Stats["pps_allowance_exceeded"] != 12 || n.Channels.Combined != 2 {
		t.Errorf("ena = %+v", n)
	}
	if _, ok := s.Netstat["MPTcpExt"]; !ok {
		t.Error("no MPTcpExt section")
	}
}

func TestFixtureKernel618(t *testing.T) {
	s := takeFixture(t, "linux-6.18")
	if c := s.Softnet[0]; c.Columns != 15 {
		t.Errorf("softnet columns = %d", c.Columns)
	}
	mustGet(t, s.Netstat, "MPTcpExt", "MPCapableSYNRX", 0)
	mustGet(t, s.Netstat, "Udp", "MemErrors", 0)
	veth := s.Link("veth1a2b")
	if veth == nil || veth.Kind != "veth" || veth.Master != "br0" || veth.Stats["tx_dropped"] != 3 {
		t.Fatalf("veth = %+v", veth)
	}
	// veth answers no ring request: a "not supported" line naming the
	// driver, not an error.
	sk := findSkip(s, "ethtool rings veth1a2b")
	if sk == nil || sk.Kind != SkipUnsupported || sk.Message != "not supported by veth" {
		t.Errorf("veth rings skip = %+v (all: %+v)", sk, s.Skipped)
	}
	if n := s.NICs["veth1a2b"]; n == nil || strings.Join(n.Unsupported, ",") != "rings,channels" || n.Stats["peer_ifindex"] != 6 {
		t.Errorf("veth NIC = %+v", n)
	}
	if n := s.NICs["eth0"]; n == nil || n.Driver.Driver != "virtio_net" || n.Stats["rx0_kicks"] != 160 {
		t.Errorf("virtio = %+v", n)
	}
	for _, sk := range s.Skipped {
		if sk.Kind == SkipError {
			t.Errorf("unexpected failed source %+v", sk)
		}
	}
}

// TestIfaceFilter: --iface limits per-interface sources and names an
// interface that is not there.
func TestIfaceFilter(t *testing.T) {
	src, err := Replay("testdata/hosts/linux-6.18")
	if err != nil {
		t.Fatal(err)
	}
	src.Ifaces = []string{"eth0", "nosuch0"}
	s := Take(context.Background(), src, fixedNow)
	if len(s.Links) != 1 || s.Links[0].Name != "eth0" {
		t.Errorf("links = %v", s.Links)
	}
	for _, q := range s.Qdiscs {
		if q.Iface != "eth0" {
			t.Errorf("qdisc of %s kept", q.Iface)
		}
	}
	if _, ok := s.NICs["veth1a2b"]; ok {
		t.Error("ethtool read an interface outside --iface")
	}
	sk := findSkip(s, "interface nosuch0")
	if sk == nil || !strings.Contains(sk.Message, `no interface "nosuch0"`) {
		t.Errorf("missing interface skip = %+v", sk)
	}
}

// TestCollectorPrerequisites: nic and sysctl read the interface list links
// made, so they must say so to run after it; no other collector reads
// another's section.
func TestCollectorPrerequisites(t *testing.T) {
	for _, c := range All() {
		var after []string
		if d, ok := c.(Dependent); ok {
			after = d.After()
		}
		want := map[string][]string{"nic": {"links"}, "sysctl": {"links"}}[c.Name()]
		if !slices.Equal(after, want) {
			t.Errorf("%s runs after %q, want %q", c.Name(), after, want)
		}
	}
}

func TestTakeInterrupted(t *testing.T) {
	src, err := Replay("testdata/hosts/linux-6.18")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := Take(ctx, src, fixedNow)
	if s.Netstat != nil || len(s.Skipped) != len(All()) {
		t.Fatalf("interrupted snapshot read data or skipped %d of %d", len(s.Skipped), len(All()))
	}
	for _, sk := range s.Skipped {
		if sk.Message != "interrupted before it was read" {
			t.Errorf("skip %+v", sk)
		}
	}
}

// TestTakeLiteralSources: Sources built as a literal (as other packages'
// tests may) work: Take fills in what is missing.
func TestTakeLiteralSources(t *testing.T) {
	s := Take(context.Background(), &Sources{ProcPath: "testdata/hosts/linux-6.18/proc"}, fixedNow)
	if s.Netstat == nil || s.Softnet == nil {
		t.Errorf("literal sources read nothing: %+v", s.Skipped)
	}
}

// TestOffloadsOnlyOfLinksThatAreUp: a link that is down passes no packets,
// so its offloads are not asked for (each request costs the library a
// 1 MiB buffer); the rest of ethtool still is.
func TestOffloadsOnlyOfLinksThatAreUp(t *testing.T) {
	for _, state := range []string{"up", "down", "lowerlayerdown"} {
		dir := t.TempDir()
		if err := os.CopyFS(dir, os.DirFS("testdata/hosts/linux-6.18")); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "netlink", "links.json")
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var links []map[string]any
		if err := json.Unmarshal(raw, &links); err != nil {
			t.Fatal(err)
		}
		for _, l := range links {
			if l["name"] == "eth0" {
				l["operstate"] = state
			}
		}
		if raw, err = json.Marshal(links); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		src, err := Replay(dir)
		if err != nil {
			t.Fatal(err)
		}
		n := Take(context.Background(), src, fixedNow).NICs["eth0"]
		if n == nil || n.Driver == nil || n.Stats["rx0_kicks"] != 160 || n.Ring == nil {
			t.Fatalf("%s: NIC eth0 = %+v", state, n)
		}
		if got, want := n.Offloads != nil, state == "up"; got != want {
			t.Errorf("%s: offloads read = %v (%v), want %v", state, got, n.Offloads, want)
		}
	}
}
