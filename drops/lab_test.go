package drops

import (
	"context"
	"fmt"
	"math"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/netdx/netdx/internal/netlab"
)

// startSource starts a Source with opts and skips the test, saying why,
// when the wanted kind cannot run here (not root, or a kernel without
// it). It is closed when the test ends.
func startSource(t *testing.T, want Kind, opts Options) *Source {
	t.Helper()
	netlab.RequireRoot(t)
	opts.Kinds = []Kind{want}
	s := New(opts)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	if s.Kind() != want {
		t.Skipf("skipped: source %s cannot run here: %v", want, s.Failures())
	}
	return s
}

// nsCookie is the net cookie of the lab namespace.
func nsCookie(t *testing.T, ns *netlab.NS) uint64 {
	t.Helper()
	var c uint64
	if err := ns.Do(func() (err error) { c, err = currentNetnsCookie(); return err }); err != nil {
		t.Fatal(err)
	}
	return c
}

// sumDrops adds up the rows of reason in the namespace with cookie that
// keep passes (nil keeps all).
func sumDrops(w Window, cookie uint64, reason string, keep func(Drop) bool) uint64 {
	var n uint64
	for _, d := range w.Drops {
		if d.Netns.Cookie == cookie && d.Reason == reason && (keep == nil || keep(d)) {
			n += d.Count
		}
	}
	return n
}

// within says whether got is within tol (a fraction) of want.
func within(got, want uint64, tol float64) bool {
	return math.Abs(float64(got)-float64(want)) <= tol*float64(want)
}

func udpOnly(d Drop) bool { return d.IPProto == 17 }

// settle waits for the namespace's counters to stop moving.
func settle(t *testing.T, ns *netlab.NS) netlab.Counters {
	t.Helper()
	c, err := ns.Settle(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// consistent reads the namespace's counters and a snapshot taken
// between two equal readings of them, so both count the same packets.
func consistent(t *testing.T, ns *netlab.NS, s *Source) (netlab.Counters, Window) {
	t.Helper()
	for range 20 {
		c0, err := ns.Counters()
		if err != nil {
			t.Fatal(err)
		}
		w := snapshot(t, s)
		c1, err := ns.Counters()
		if err != nil {
			t.Fatal(err)
		}
		if !moved(c1.Sub(c0)) {
			return c1, w
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the counters of %s never stood still", ns.Name)
	return nil, Window{}
}

func moved(c netlab.Counters) bool {
	for _, v := range c {
		if v != 0 {
			return true
		}
	}
	return false
}

func snapshot(t *testing.T, s *Source) Window {
	t.Helper()
	w, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// TestLabReceiverReasons is the check of issue 13 at the engine: from
// the host, while a namespace receives datagrams to a closed port, to a
// port an nft rule drops and to a socket whose buffer is full, the
// drops of each reason in that namespace match the kernel's own counters
// there (Udp NoPorts, the rule's counter, Udp RcvbufErrors) within 10 %,
// on the namespace's interface, the full-buffer drops at the socket. The
// host's namespace gets none of them.
func TestLabReceiverReasons(t *testing.T) {
	s := startSource(t, KindBTF, Options{})
	netlab.RequireNFT(t)
	p := netlab.NewPath(t, netlab.PathSpec{})
	const (
		sent       = 5000
		closedPort = 9
		nftPort    = 10
	)
	if err := p.Target.NFT(fmt.Sprintf(`table inet ndx_drops {
	chain in {
		type filter hook input priority 0; policy accept;
		udp dport %d counter drop comment "ndx-drop"
	}
}`, nftPort)); err != nil {
		t.Fatal(err)
	}
	sink, err := p.Target.NewUDPSink(netip.AddrPortFrom(p.TargetAddr.V4, 0), 1024)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	target := nsCookie(t, p.Target)

	settle(t, p.Target)
	before, w0 := consistent(t, p.Target, s)
	for _, port := range []uint16{closedPort, nftPort, sink.Port} {
		dst := netip.AddrPortFrom(p.TargetAddr.V4, port)
		if n, err := p.Prober.SendUDP(netip.Addr{}, dst, sent, 64); err != nil || n < sent*9/10 {
			t.Fatalf("sent %d of %d datagrams to %s: %v", n, sent, dst, err)
		}
	}
	settle(t, p.Target)
	after, w1 := consistent(t, p.Target, s)
	w := w1.Sub(w0)
	nftDrops, err := p.Target.NFTRuleCounter("ndx-drop")
	if err != nil {
		t.Fatal(err)
	}
	kernel := after.Sub(before)
	for _, tc := range []struct {
		reason  string
		counter string
		want    uint64
	}{
		{"NO_SOCKET", "Udp.NoPorts", uint64(kernel["Udp.NoPorts"])},
		{"NETFILTER_DROP", "nft rule counter", nftDrops},
		{"SOCKET_RCVBUFF", "Udp.RcvbufErrors", uint64(kernel["Udp.RcvbufErrors"])},
	} {
		got := sumDrops(w, target, tc.reason, udpOnly)
		t.Logf("%s in %s: %d drops, %s %d", tc.reason, p.Target.Name, got, tc.counter, tc.want)
		if tc.want < sent/2 {
			t.Errorf("%s moved by %d for %d datagrams: the scenario did not provoke %s", tc.counter, tc.want, sent, tc.reason)
		}
		if !within(got, tc.want, 0.10) {
			t.Errorf("%s: %d drops in %s, %s says %d (more than 10 %% apart)", tc.reason, got, p.Target.Name, tc.counter, tc.want)
		}
		if host := sumDrops(w, s.namer.self, tc.reason, udpOnly); host > tc.want/100 {
			t.Errorf("%s: %d drops attributed to the host's namespace", tc.reason, host)
		}
	}
	for _, d := range w.Drops {
		if d.Netns.Cookie != target || d.IPProto != 17 {
			continue
		}
		if d.Netns.Name != p.Target.Name || d.Interface != p.TargetIface {
			t.Errorf("%s drop placed in namespace %q interface %q, want %s %s", d.Reason, d.Netns.Name, d.Interface, p.Target.Name, p.TargetIface)
		}
		if d.Reason == "SOCKET_RCVBUFF" && (d.Socket == nil || d.Socket.Inode != sink.Inode || d.Via != ViaRxSock) {
			t.Errorf("SOCKET_RCVBUFF drop at socket %+v via %d, want inode %d via the receiving socket", d.Socket, d.Via, sink.Inode)
		}
		// The sink is this test's own socket: its process and address
		// are named.
		if d.Reason == "SOCKET_RCVBUFF" && d.Socket != nil {
			wantLocal := netip.AddrPortFrom(p.TargetAddr.V4, sink.Port).String()
			if d.Socket.Process == nil || d.Socket.Process.PID != os.Getpid() || d.Socket.Local != wantLocal {
				t.Errorf("SOCKET_RCVBUFF socket named %v at %q, want this process [%d] at %s", d.Socket.Process, d.Socket.Local, os.Getpid(), wantLocal)
			}
		}
	}
	var rule *Rule
	for i, r := range w.Rules {
		if r.Comment == "ndx-drop" {
			rule = &w.Rules[i]
		}
	}
	switch {
	case rule == nil:
		t.Errorf("the dropping rule was not read; rules: %v (%v)", w.Rules, w.RulesErr)
	case rule.Netns.Cookie != target || rule.Table != "ndx_drops" || rule.Chain != "in" || !rule.Counted:
		t.Errorf("rule read as %+v", *rule)
	case rule.Packets != nftDrops:
		t.Errorf("rule %s counted %d packets over the window, its counter moved by %d", rule, rule.Packets, nftDrops)
	}
	if w.Overflow.MapFull != 0 {
		t.Errorf("%d drops did not fit the map", w.Overflow.MapFull)
	}
}
