package collectors

import (
	"fmt"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/netdx/netdx/internal/netlab"
)

// The listen queue scenarios of issue 12, each against the server
// namespace's own counters (read like nstat before and after): which
// counters move with net.ipv4.tcp_syncookies 0, 1 and 2 when the accept
// queue is full and when half-open connections fill the SYN queue, what
// tcp_abort_on_overflow does with and without completed handshakes, and
// what the collectors read of it (the listener's SYN-RECV count and drop
// counter, the settings).

// queueCounters are the counters the scenarios watch.
var queueCounters = []string{
	"TcpExt.ListenOverflows", "TcpExt.ListenDrops", "TcpExt.TCPReqQFullDoCookies", "TcpExt.TCPReqQFullDrop",
	"TcpExt.SyncookiesSent", "TcpExt.SyncookiesRecv", "TcpExt.SyncookiesFailed", "Tcp.OutRsts",
}

// queueLab is a ConnLab whose server has one listener that never accepts.
type queueLab struct {
	*netlab.ConnLab
	listener netip.AddrPort
	before   netlab.Counters
}

// newQueueLab sets the server's syncookies and abort_on_overflow and
// opens the listener with backlog.
func newQueueLab(t *testing.T, syncookies, abort, backlog int) *queueLab {
	t.Helper()
	l := &queueLab{ConnLab: netlab.NewConnLab(t)}
	for k, v := range map[string]int{"net/ipv4/tcp_syncookies": syncookies, "net/ipv4/tcp_abort_on_overflow": abort} {
		if err := l.Server.SetSysctl(k, strconv.Itoa(v)); err != nil {
			t.Fatal(err)
		}
	}
	l.listener = l.Server.ListenNoAccept(t, netip.AddrPortFrom(l.ServerAddr.V4, 0), backlog)
	return l
}

// mark reads the counters the next delta starts from.
func (l *queueLab) mark(t *testing.T) {
	t.Helper()
	c, err := l.Server.Counters()
	if err != nil {
		t.Fatal(err)
	}
	l.before = c
}

// moved returns the watched counters' changes since mark, and the
// collectors' view of the server then.
func (l *queueLab) moved(t *testing.T) (map[string]int64, *Snapshot, *Listener) {
	t.Helper()
	snap, _ := takeIn(t, l.Server)
	c, err := l.Server.Counters()
	if err != nil {
		t.Fatal(err)
	}
	d := c.Sub(l.before)
	out := map[string]int64{}
	for _, k := range queueCounters {
		out[k] = d[k]
	}
	if snap.Sockets == nil {
		t.Fatalf("no sockets read: %+v", snap.Skipped)
	}
	for i := range snap.Sockets.Listeners {
		if snap.Sockets.Listeners[i].Local == l.listener.String() {
			return out, snap, &snap.Sockets.Listeners[i]
		}
	}
	t.Fatalf("listener %s not read: %+v", l.listener, snap.Sockets.Listeners)
	return nil, nil, nil
}

// expect compares the changes with want; counters not in want must not
// move.
func expect(t *testing.T, got map[string]int64, want map[string]int64) {
	t.Helper()
	for _, k := range queueCounters {
		if got[k] != want[k] {
			t.Errorf("%s moved %d, want %d (all: %v)", k, got[k], want[k], got)
		}
	}
}

const (
	queueBacklog = 8
	// queueQueued is how many the kernel queues under a listen() backlog
	// of queueBacklog: it counts the queues full only once they hold
	// more than the backlog.
	queueQueued = queueBacklog + 1
	queueFlood  = 100
)

// TestQueueHalfOpenBySyncookies floods a listener with SYNs that never
// complete (raw SYNs; the prober drops the SYN-ACKs) under each syncookies
// mode.
func TestQueueHalfOpenBySyncookies(t *testing.T) {
	netlab.RequireNFT(t)
	const flood, held = queueFlood, queueQueued
	for _, tc := range []struct {
		mode    int
		synRecv uint64
		want    map[string]int64
	}{
		// No cookies: the SYN queue takes backlog+1, then each SYN is
		// dropped as "SYN queue full".
		{0, held, map[string]int64{"TcpExt.TCPReqQFullDrop": flood - held, "TcpExt.ListenDrops": flood - held}},
		// Cookies when the queue is full: the overflow is answered.
		{1, held, map[string]int64{"TcpExt.TCPReqQFullDoCookies": flood - held, "TcpExt.SyncookiesSent": flood - held}},
		// Cookies always: no SYN is queued, every one is answered.
		{2, 0, map[string]int64{"TcpExt.TCPReqQFullDoCookies": flood, "TcpExt.SyncookiesSent": flood}},
	} {
		t.Run(fmt.Sprintf("syncookies=%d", tc.mode), func(t *testing.T) {
			l := newQueueLab(t, tc.mode, 0, queueBacklog)
			if err := l.Client.DropSYNACKs(); err != nil {
				t.Fatal(err)
			}
			l.mark(t)
			if err := l.Client.SendSYNs(l.ClientAddr.V4, l.listener, flood); err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond)
			got, snap, ls := l.moved(t)
			t.Logf("syncookies=%d, %d SYNs never completed: %v; SYN-RECV %s, listener drops %s", tc.mode, flood, got, deref(ls.SynRecv), deref(ls.Drops))
			expect(t, got, tc.want)
			if ls.SynRecv == nil || *ls.SynRecv != tc.synRecv {
				t.Errorf("listener SYN-RECV %v, want %d", ls.SynRecv, tc.synRecv)
			}
			if ls.Drops == nil || int64(*ls.Drops) != got["TcpExt.ListenDrops"] {
				t.Errorf("listener's own drops %v, the namespace's ListenDrops moved %d", ls.Drops, got["TcpExt.ListenDrops"])
			}
			if v := snap.Sysctls["net.ipv4.tcp_syncookies"].Value; v != strconv.Itoa(tc.mode) {
				t.Errorf("tcp_syncookies read %q, set %d", v, tc.mode)
			}
		})
	}
}

// TestQueueAcceptFullBySyncookies fills the accept queue with completed
// connections, then opens more under each syncookies mode.
func TestQueueAcceptFullBySyncookies(t *testing.T) {
	const flood = queueFlood
	for _, tc := range []struct {
		mode int
		want map[string]int64
	}{
		// The SYN is dropped at the full accept queue, before any cookie.
		{0, map[string]int64{"TcpExt.ListenOverflows": flood, "TcpExt.ListenDrops": flood}},
		{1, map[string]int64{"TcpExt.ListenOverflows": flood, "TcpExt.ListenDrops": flood}},
		// Cookies always: "do cookies" is counted for every SYN, which is
		// then dropped at the full accept queue: no cookie is sent.
		{2, map[string]int64{"TcpExt.TCPReqQFullDoCookies": flood, "TcpExt.ListenOverflows": flood, "TcpExt.ListenDrops": flood}},
	} {
		t.Run(fmt.Sprintf("syncookies=%d", tc.mode), func(t *testing.T) {
			l := newQueueLab(t, tc.mode, 0, queueBacklog)
			fill, err := l.Client.Connect(l.listener, queueQueued)
			if err != nil {
				t.Fatal(err)
			}
			defer fill.Close()
			time.Sleep(100 * time.Millisecond)
			l.mark(t)
			more, err := l.Client.Connect(l.listener, flood)
			if err != nil {
				t.Fatal(err)
			}
			defer more.Close()
			time.Sleep(200 * time.Millisecond) // well before the first SYN retransmission (1 s)
			got, _, ls := l.moved(t)
			t.Logf("syncookies=%d, accept queue full, %d more connects: %v; accept queue %d/%d, SYN-RECV %s, listener drops %s", tc.mode, flood, got, ls.AcceptQueue, ls.Backlog, deref(ls.SynRecv), deref(ls.Drops))
			expect(t, got, tc.want)
			if ls.AcceptQueue != queueQueued || ls.Backlog != queueBacklog || ls.SynRecv == nil || *ls.SynRecv != 0 {
				t.Errorf("listener queue %d/%d SYN-RECV %v, want %d/%d and none", ls.AcceptQueue, ls.Backlog, ls.SynRecv, queueQueued, queueBacklog)
			}
		})
	}
}

// TestQueueAbortOnOverflow: tcp_abort_on_overflow=1 resets a client only
// when its completed handshake meets a full accept queue; a SYN that meets
// it is dropped before any handshake, so nobody is reset.
func TestQueueAbortOnOverflow(t *testing.T) {
	netlab.RequireNFT(t)
	t.Run("SYNs meet the full queue", func(t *testing.T) {
		l := newQueueLab(t, 1, 1, queueBacklog)
		fill, err := l.Client.Connect(l.listener, queueQueued)
		if err != nil {
			t.Fatal(err)
		}
		defer fill.Close()
		time.Sleep(100 * time.Millisecond)
		l.mark(t)
		more, err := l.Client.Connect(l.listener, queueFlood)
		if err != nil {
			t.Fatal(err)
		}
		defer more.Close()
		time.Sleep(200 * time.Millisecond)
		got, snap, _ := l.moved(t)
		t.Logf("abort_on_overflow=1, SYNs at a full accept queue: %v", got)
		expect(t, got, map[string]int64{"TcpExt.ListenOverflows": queueFlood, "TcpExt.ListenDrops": queueFlood})
		if v := snap.Sysctls["net.ipv4.tcp_abort_on_overflow"].Value; v != "1" {
			t.Errorf("tcp_abort_on_overflow read %q", v)
		}
	})
	// Four slots of the accept queue (backlog 4 takes 5) hold three
	// connections; five more handshakes wait for their last ACK, held back
	// by the client. Released, two fit and three overflow.
	const backlog, first, held, fit = 4, 3, 5, 2
	for _, abort := range []int{0, 1} {
		t.Run(fmt.Sprintf("completed handshakes abort=%d", abort), func(t *testing.T) {
			l := newQueueLab(t, 1, abort, backlog)
			fill, err := l.Client.Connect(l.listener, first)
			if err != nil {
				t.Fatal(err)
			}
			defer fill.Close()
			time.Sleep(100 * time.Millisecond)
			if err := l.Client.HoldACKs(l.listener.Port()); err != nil {
				t.Fatal(err)
			}
			pending, err := l.Client.Connect(l.listener, held)
			if err != nil {
				t.Fatal(err)
			}
			defer pending.Close()
			time.Sleep(100 * time.Millisecond)
			l.mark(t)
			if err := l.Client.ReleaseACKs(); err != nil {
				t.Fatal(err)
			}
			if n := pending.Send(); n != held {
				t.Fatalf("%d of %d held connections could send", n, held)
			}
			time.Sleep(200 * time.Millisecond)
			got, _, ls := l.moved(t)
			t.Logf("abort_on_overflow=%d, %d completed handshakes at %d free slots: %v; accept queue %d/%d", abort, held, fit, got, ls.AcceptQueue, ls.Backlog)
			if abort == 1 {
				expect(t, got, map[string]int64{"TcpExt.ListenOverflows": held - fit, "TcpExt.ListenDrops": held - fit, "Tcp.OutRsts": held - fit})
			} else {
				// The final ACK is ignored and the client, established,
				// retransmits its data: each retransmission overflows
				// again, so the count grows with time. Nobody is reset.
				over := got["TcpExt.ListenOverflows"]
				if over < held-fit || got["TcpExt.ListenDrops"] != over || got["Tcp.OutRsts"] != 0 {
					t.Errorf("overflows %d, drops %d, resets %d; want at least %d overflows, as many drops, no reset", over, got["TcpExt.ListenDrops"], got["Tcp.OutRsts"], held-fit)
				}
			}
			if ls.AcceptQueue != first+fit {
				t.Errorf("accept queue %d, want %d", ls.AcceptQueue, first+fit)
			}
		})
	}
}

// deref prints a counter that may be absent.
func deref(p *uint64) string {
	if p == nil {
		return "absent"
	}
	return strconv.FormatUint(*p, 10)
}
