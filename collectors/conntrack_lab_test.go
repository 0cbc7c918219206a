package collectors

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/netdx/netdx/internal/netlab"
)

// sendUDPFlows sends one datagram to each of ports 1..perAddr of every
// address in dsts from one socket in ns: each is a new UDP conntrack
// entry (nobody answers; the port unreachable errors are related to it,
// not new).
func sendUDPFlows(t *testing.T, ns *netlab.NS, dsts []netip.Addr, perAddr int) {
	t.Helper()
	err := ns.Do(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		for _, d := range dsts {
			for p := 1; p <= perAddr; p++ {
				if err := unix.Sendto(fd, []byte{0}, 0, &unix.SockaddrInet4{Addr: d.As4(), Port: p}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestConntrackUDPOnlyChildNS: a child namespace tracking only UDP flows.
// The collectors read its entries as UDP, that nf_conntrack_max cannot be
// written there, and, once the table is full, which statistics move:
// unreplied UDP entries are evicted to make room (early_drop), nothing is
// dropped.
func TestConntrackUDPOnlyChildNS(t *testing.T) {
	netlab.RequireNFT(t)
	ns := netlab.NewNS(t, "ct")
	lo, err := ns.Netlink().LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	var dsts []netip.Addr
	for i := byte(1); i <= 5; i++ {
		a := netip.AddrFrom4([4]byte{198, 18, 0, i})
		dsts = append(dsts, a)
		if err := ns.Netlink().AddrAdd(lo, &netlink.Addr{IPNet: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(32, 32)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := ns.NFT("table inet netdx_ct {\n chain out {\n type filter hook output priority 0;\n ct state new counter\n }\n}\n"); err != nil {
		t.Fatal(err)
	}
	const flows = 1000
	sendUDPFlows(t, ns, dsts[:1], flows)
	snap, _ := takeIn(t, ns)
	ct := snap.Conntrack
	if ct == nil || ct.Count == nil {
		t.Fatalf("conntrack not read: %+v", snap.Skipped)
	}
	if *ct.Count != flows || ct.Counted != flows || len(ct.ByProto) != 1 || ct.ByProto["udp"] != flows {
		t.Errorf("count %d, by protocol %v of %d counted; want %d udp", *ct.Count, ct.ByProto, ct.Counted, flows)
	}
	if ct.MaxWritable == nil || *ct.MaxWritable {
		t.Errorf("nf_conntrack_max writable %v in a child namespace", ct.MaxWritable)
	}
	if testing.Short() {
		t.Log("-short: the full-table part (seconds of kernel work) is skipped")
		return
	}
	if ct.Max == nil || *ct.Max > 300000 {
		t.Logf("nf_conntrack_max %v: filling the table would take too long; the full-table part is skipped", ct.Max)
		return
	}

	// Fill it: more new flows than the table holds.
	more := int(*ct.Max) + 2000 - flows
	perAddr := (more + len(dsts) - 1) / len(dsts)
	start := time.Now()
	sendUDPFlows(t, ns, dsts, perAddr)
	full, _ := takeIn(t, ns)
	t.Logf("sent %d more flows in %v", perAddr*len(dsts), time.Since(start).Round(time.Millisecond))
	moved := map[string]uint64{}
	for _, col := range full.Conntrack.Columns {
		if d, _, ok := ConntrackDelta(ct, full.Conntrack, col); ok && d != 0 && col != "entries" {
			moved[col] = d
		}
	}
	t.Logf("table full: count %d of max %d; by protocol %v (%d counted); statistics moved %v",
		*full.Conntrack.Count, *full.Conntrack.Max, full.Conntrack.ByProto, full.Conntrack.Counted, moved)
	if *full.Conntrack.Count < *full.Conntrack.Max-100 || full.Conntrack.Counted != ConntrackCountLimit ||
		full.Conntrack.ByProto["udp"] != ConntrackCountLimit {
		t.Errorf("full table: count %d of %d, %v of %d counted", *full.Conntrack.Count, *full.Conntrack.Max, full.Conntrack.ByProto, full.Conntrack.Counted)
	}
	var took time.Duration
	_ = ns.Do(func() error {
		start := time.Now()
		_, _, err := countConntrackEntries(context.Background(), ConntrackCountLimit)
		took = time.Since(start)
		return err
	})
	t.Logf("counting %d entries by protocol took %v", ConntrackCountLimit, took.Round(time.Microsecond))
	if moved["early_drop"] == 0 || moved["drop"] != 0 {
		t.Errorf("early_drop +%d, drop +%d; want unreplied UDP entries evicted, none dropped", moved["early_drop"], moved["drop"])
	}
}
