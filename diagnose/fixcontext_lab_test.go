package diagnose

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/netdx/netdx/collectors"
	"github.com/netdx/netdx/internal/netlab"
)

// TestLabRPFilter sends datagrams that arrive on e1 while the route back
// leaves by e2, under rp_filter settings (the truth of docs/diag.md,
// section "rp_filter"): the finding names e1, never e2, offers what fixes
// it (alternatives marked as such, not conf.e1=0 while conf.all=1), and
// stays silent where the kernel dropped nothing.
func TestLabRPFilter(t *testing.T) {
	const sent = 50
	for _, tc := range []struct {
		all, in, back int
		fix           []string
	}{
		{0, 1, 0, []string{"sysctl -w net.ipv4.conf.e1.rp_filter=2   (loose on e1 only: the larger of conf.all=0 and 2 is 2)"}},
		{1, 0, 0, []string{"either: sysctl -w net.ipv4.conf.e1.rp_filter=2   (loose on e1 only: the larger of conf.all=1 and 2 is 2)",
			"or: sysctl -w net.ipv4.conf.all.rp_filter=0   (then each interface's own value decides: e1's is 0)",
			"or: sysctl -w net.ipv4.conf.all.rp_filter=2   (loose on every interface)"}},
		{1, 1, 1, []string{"either: sysctl -w net.ipv4.conf.e1.rp_filter=2   (loose on e1 only: the larger of conf.all=1 and 2 is 2)",
			"or: sysctl -w net.ipv4.conf.all.rp_filter=2   (loose on every interface)"}},
		{0, 2, 0, nil},
		{2, 1, 0, nil},
		{1, 2, 0, nil},
		{0, 0, 1, nil},
	} {
		t.Run(fmt.Sprintf("all=%d,in=%d,back=%d", tc.all, tc.in, tc.back), func(t *testing.T) {
			a := netlab.NewAsymmetric(t)
			for conf, v := range map[string]int{"all": tc.all, a.In: tc.in, a.Back: tc.back} {
				if err := a.Receiver.SetSysctl("net/ipv4/conf/"+conf+"/rp_filter", strconv.Itoa(v)); err != nil {
					t.Fatal(err)
				}
			}
			var fd int
			err := a.Receiver.Do(func() (err error) {
				if fd, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0); err != nil {
					return err
				}
				return unix.Bind(fd, &unix.SockaddrInet4{Addr: a.Target.As4(), Port: 9999})
			})
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			r := runDiagIn(t, a.Receiver, 300*time.Millisecond, collectors.TCPHealthOptions{}, func() {
				if err := a.SendUDP(9999, sent); err != nil {
					t.Error(err)
				}
			})
			dropped := r.moved("TcpExt.IPReversePathFilter")
			t.Logf("kernel: IPReversePathFilter +%d, Ip.InReceives +%d", dropped, r.moved("Ip.InReceives"))
			if got := r.reported(t, "TcpExt.IPReversePathFilter"); got != dropped {
				t.Errorf("report %d drops, kernel %d", got, dropped)
			}
			if tc.fix == nil {
				if dropped != 0 {
					t.Fatalf("the kernel dropped %d", dropped)
				}
				wantFindings(t, r.rep, []string{"ip.rp_filter_drops"})
				return
			}
			if dropped != sent {
				t.Fatalf("the kernel dropped %d of %d", dropped, sent)
			}
			wantFindings(t, r.rep, []string{"ip.rp_filter_drops"}, "ip.rp_filter_drops warning")
			f := finding(t, r.rep, "ip.rp_filter_drops")
			logFinding(t, f)
			if f.Subject != a.In {
				t.Errorf("subject %q, want the arrival interface %s", f.Subject, a.In)
			}
			if strings.Join(f.Fix, "\n") != strings.Join(tc.fix, "\n") {
				t.Errorf("fix:\n%s\nwant:\n%s", strings.Join(f.Fix, "\n"), strings.Join(tc.fix, "\n"))
			}
			mustNotMention(t, "fix", f.Fix, a.Back)
			if tc.all == 1 {
				mustMention(t, "notes", f.Notes, "Setting conf.e1.rp_filter=0 would not help while conf.all.rp_filter=1")
			}
		})
	}
}

// conntrackStats sums the columns of /proc/net/stat/nf_conntrack in ns
// over its CPUs: the kernel's own count, read apart from the collectors.
func conntrackStats(t *testing.T, ns *netlab.NS) map[string]uint64 {
	t.Helper()
	b, err := ns.ReadNetFile("stat/nf_conntrack")
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	var cols []string
	out := map[string]uint64{}
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if cols == nil {
			cols = f
			continue
		}
		for i, v := range f {
			n, err := strconv.ParseUint(v, 16, 64)
			if err != nil || i >= len(cols) {
				t.Fatalf("stat/nf_conntrack: %q", sc.Text())
			}
			out[cols[i]] += n
		}
	}
	return out
}

// TestLabConntrackUDPChildNS fills the conntrack table of a child namespace
// with unanswered UDP flows, past nf_conntrack_max (the truth of
// docs/diag.md, section "conntrack"): the kernel evicts entries
// (early_drop) and drops nothing. The findings say so, send
// nf_conntrack_max to the host (it is read-only here), and do not shorten
// the TCP timeout of a table with no TCP entry.
func TestLabConntrackUDPChildNS(t *testing.T) {
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
	var b []byte
	if err := ns.Do(func() (err error) { b, err = os.ReadFile("/proc/sys/net/netfilter/nf_conntrack_max"); return err }); err != nil {
		t.Fatal(err)
	}
	limit, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || limit > 300000 {
		t.Skipf("skipped: nf_conntrack_max %q: filling the table would take too long", b)
	}
	perAddr := (limit + 2000 + len(dsts) - 1) / len(dsts)
	before := conntrackStats(t, ns)
	r := runDiagIn(t, ns, time.Second, collectors.TCPHealthOptions{}, func() {
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
			t.Error(err)
		}
	})
	after := conntrackStats(t, ns)
	early, drop := after["early_drop"]-before["early_drop"], after["drop"]-before["drop"]
	t.Logf("kernel: %d flows sent against nf_conntrack_max %d: early_drop +%d, drop +%d", perAddr*len(dsts), limit, early, drop)
	if early == 0 || drop != 0 {
		t.Fatalf("kernel: early_drop +%d, drop +%d", early, drop)
	}
	if got := r.rep.Diag.Conntrack.Stats["early_drop"]; got.Delta == nil || *got.Delta != early {
		t.Errorf("report early_drop %v, kernel %d", got.Delta, early)
	}
	wantFindings(t, r.rep, []string{"conntrack.drops", "conntrack.table_full", "conntrack.insert_failed"},
		"conntrack.table_full critical", "conntrack.drops warning")
	for _, id := range []string{"conntrack.drops", "conntrack.table_full"} {
		f := finding(t, r.rep, id)
		logFinding(t, f)
		if f.Subject != "netns "+ns.Name {
			t.Errorf("%s: subject %q, want the namespace", id, f.Subject)
		}
		mustMention(t, id+" fix", f.Fix, fmt.Sprintf("namespace): sysctl -w net.netfilter.nf_conntrack_max=%d", 2*limit))
		mustNotMention(t, id+" fix", f.Fix, "tcp_timeout")
		for _, l := range f.Fix {
			if strings.HasPrefix(l, "sysctl -w net.netfilter.nf_conntrack_max") {
				t.Errorf("%s: %q, read-only in this namespace", id, l)
			}
		}
		mustMention(t, id+" notes", f.Notes, "Shortening nf_conntrack_tcp_timeout_established would not help")
		mustMention(t, id+" fix", f.Fix, "Keep fewer UDP entries")
	}
	mustMention(t, "summary", []string{finding(t, r.rep, "conntrack.drops").Summary}, "no packet was dropped (drop +0)")
}
