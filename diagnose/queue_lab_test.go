package diagnose

import (
	"fmt"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/netdx/netdx/collectors"
	"github.com/netdx/netdx/internal/netlab"
)

// The listen queue cases of issue 12 (the truth of docs/diag.md, section
// "Listen queues"): a listener with backlog 8 that never accepts, in a
// server namespace, flooded from a client namespace with SYNs that never
// complete (the SYN queue) or with connections once its accept queue is
// full, under each tcp_syncookies mode; tcp_abort_on_overflow with and
// without completed handshakes.

var queueRules = []string{"tcp.syn_queue_overflow", "tcp.listen_overflow"}

const (
	labBacklog = 8
	labFlood   = 100
)

// queueLab is a ConnLab whose server has one listener that never accepts.
type queueLab struct {
	*netlab.ConnLab
	listener netip.AddrPort
}

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

// name is how the report names the listener.
func (l *queueLab) name() string { return l.listener.String() + " (" + thisProcess() + ")" }

// fill completes n connections into the accept queue.
func (l *queueLab) fill(t *testing.T, n int) {
	t.Helper()
	c, err := l.Client.Connect(l.listener, n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	time.Sleep(100 * time.Millisecond)
}

func (l *queueLab) connect(t *testing.T, n int) func() {
	return func() {
		c, err := l.Client.Connect(l.listener, n)
		if err != nil {
			t.Error(err)
			return
		}
		t.Cleanup(c.Close)
	}
}

// TestLabSynQueueBySyncookies is the matrix: syncookies 0, 1 and
// 2, the SYN queue flooded by half-open handshakes or SYNs meeting a full
// accept queue. The SYN queue finding fires only on the half-open floods,
// names the listener, and says what =2 means; the accept queue finding
// fires only on the accept-queue floods, never the SYN queue's (the
// issue's false finding with =2, where TCPReqQFullDoCookies counts every
// SYN and no cookie is sent).
func TestLabSynQueueBySyncookies(t *testing.T) {
	for _, mode := range []int{0, 1, 2} {
		t.Run(fmt.Sprintf("syncookies=%d/half-open", mode), func(t *testing.T) {
			netlab.RequireNFT(t)
			l := newQueueLab(t, mode, 0, labBacklog)
			if err := l.Client.DropSYNACKs(); err != nil {
				t.Fatal(err)
			}
			r := runDiagIn(t, l.Server, 500*time.Millisecond, collectors.TCPHealthOptions{}, func() {
				if err := l.Client.SendSYNs(l.ClientAddr.V4, l.listener, labFlood); err != nil {
					t.Error(err)
				}
			})
			t.Logf("kernel: TCPReqQFullDrop +%d, TCPReqQFullDoCookies +%d, SyncookiesSent +%d, ListenOverflows +%d",
				r.moved("TcpExt.TCPReqQFullDrop"), r.moved("TcpExt.TCPReqQFullDoCookies"), r.moved("TcpExt.SyncookiesSent"), r.moved("TcpExt.ListenOverflows"))
			wantFindings(t, r.rep, queueRules, "tcp.syn_queue_overflow critical")
			f := finding(t, r.rep, "tcp.syn_queue_overflow")
			logFinding(t, f)
			if f.Subject != l.name() {
				t.Errorf("subject %q, want the listener %q", f.Subject, l.name())
			}
			mustNotMention(t, "fix", f.Fix, "tcp_max_syn_backlog")
			for _, c := range []string{"TcpExt.TCPReqQFullDrop", "TcpExt.SyncookiesSent", "TcpExt.TCPReqQFullDoCookies"} {
				if got, want := r.reported(t, c), r.moved(c); got != want {
					t.Errorf("%s: report %d, kernel %d", c, got, want)
				}
			}
			switch mode {
			case 0:
				if r.moved("TcpExt.TCPReqQFullDrop") != labFlood-labBacklog-1 {
					t.Errorf("kernel dropped %d", r.moved("TcpExt.TCPReqQFullDrop"))
				}
				mustMention(t, "summary", []string{f.Summary}, fmt.Sprintf("%d half-open, backlog %d", labBacklog+1, labBacklog))
				mustMention(t, "fix", f.Fix, "sysctl -w net.ipv4.tcp_syncookies=1")
			case 1:
				mustMention(t, "summary", []string{f.Summary}, fmt.Sprintf("%d SYNs in", r.moved("TcpExt.SyncookiesSent")))
			case 2:
				mustMention(t, "summary", []string{f.Summary}, "SYN cookies are always on (net.ipv4.tcp_syncookies=2)")
				mustMention(t, "summary", []string{f.Summary}, fmt.Sprintf("%d SYNs in", labFlood))
			}
		})
		t.Run(fmt.Sprintf("syncookies=%d/accept-queue", mode), func(t *testing.T) {
			l := newQueueLab(t, mode, 0, labBacklog)
			l.fill(t, labBacklog+1)
			r := runDiagIn(t, l.Server, 500*time.Millisecond, collectors.TCPHealthOptions{}, l.connect(t, labFlood))
			t.Logf("kernel: ListenOverflows +%d, TCPReqQFullDoCookies +%d, SyncookiesSent +%d, Tcp.OutRsts +%d",
				r.moved("TcpExt.ListenOverflows"), r.moved("TcpExt.TCPReqQFullDoCookies"), r.moved("TcpExt.SyncookiesSent"), r.moved("Tcp.OutRsts"))
			wantFindings(t, r.rep, queueRules, "tcp.listen_overflow critical")
			f := finding(t, r.rep, "tcp.listen_overflow")
			logFinding(t, f)
			if f.Subject != l.name() {
				t.Errorf("subject %q, want the listener %q", f.Subject, l.name())
			}
			if got, want := r.reported(t, "TcpExt.ListenOverflows"), r.moved("TcpExt.ListenOverflows"); got != want || want != labFlood {
				t.Errorf("ListenOverflows: report %d, kernel %d, connections %d", got, want, labFlood)
			}
			mustMention(t, "notes", f.Notes, "tcp_abort_on_overflow would change nothing for them")
			if mode == 2 {
				if r.moved("TcpExt.TCPReqQFullDoCookies") != labFlood || r.moved("TcpExt.SyncookiesSent") != 0 {
					t.Errorf("kernel: DoCookies +%d, SyncookiesSent +%d", r.moved("TcpExt.TCPReqQFullDoCookies"), r.moved("TcpExt.SyncookiesSent"))
				}
				mustMention(t, "notes", f.Notes, fmt.Sprintf("TcpExt.TCPReqQFullDoCookies grew by %d too", labFlood))
			}
		})
	}
}

// TestLabAbortOnOverflow: tcp_abort_on_overflow=1 acts on completed
// handshakes only. SYNs meeting the full queue: nobody is reset and the
// finding says the setting changed nothing; completed handshakes with it
// on: the resets the kernel sent are counted; with it off: the finding
// offers it as the way to confirm.
func TestLabAbortOnOverflow(t *testing.T) {
	t.Run("abort=1, SYNs at the full queue", func(t *testing.T) {
		l := newQueueLab(t, 1, 1, labBacklog)
		l.fill(t, labBacklog+1)
		r := runDiagIn(t, l.Server, 500*time.Millisecond, collectors.TCPHealthOptions{}, l.connect(t, labFlood))
		wantFindings(t, r.rep, queueRules, "tcp.listen_overflow critical")
		f := finding(t, r.rep, "tcp.listen_overflow")
		logFinding(t, f)
		if r.moved("Tcp.OutRsts") != 0 {
			t.Fatalf("the kernel sent %d resets", r.moved("Tcp.OutRsts"))
		}
		mustMention(t, "notes", f.Notes, "changed nothing here: no reset was sent (Tcp.OutRsts +0)")
		mustNotMention(t, "notes", f.Notes, "clients whose completed handshake met the full queue are reset")
	})
	// Backlog 4 holds 5: three connections wait, five more handshakes
	// wait for their last ACK (held back by the client); released, two
	// fit and three meet the full queue.
	const backlog, first, held = 4, 3, 5
	for _, abort := range []int{1, 0} {
		t.Run(fmt.Sprintf("abort=%d, completed handshakes", abort), func(t *testing.T) {
			netlab.RequireNFT(t)
			l := newQueueLab(t, 1, abort, backlog)
			l.fill(t, first)
			if err := l.Client.HoldACKs(l.listener.Port()); err != nil {
				t.Fatal(err)
			}
			pending, err := l.Client.Connect(l.listener, held)
			if err != nil {
				t.Fatal(err)
			}
			defer pending.Close()
			time.Sleep(100 * time.Millisecond)
			r := runDiagIn(t, l.Server, 500*time.Millisecond, collectors.TCPHealthOptions{}, func() {
				if err := l.Client.ReleaseACKs(); err != nil {
					t.Error(err)
				}
				pending.Send()
			})
			t.Logf("kernel: ListenOverflows +%d, Tcp.OutRsts +%d", r.moved("TcpExt.ListenOverflows"), r.moved("Tcp.OutRsts"))
			f := finding(t, r.rep, "tcp.listen_overflow")
			logFinding(t, f)
			if f.Subject != l.name() {
				t.Errorf("subject %q, want %q", f.Subject, l.name())
			}
			if abort == 1 {
				if r.moved("Tcp.OutRsts") == 0 {
					t.Fatal("the kernel sent no reset")
				}
				mustMention(t, "notes", f.Notes, fmt.Sprintf("Tcp.OutRsts grew by %d", r.moved("Tcp.OutRsts")))
				return
			}
			mustMention(t, "notes", f.Notes, "To confirm, net.ipv4.tcp_abort_on_overflow=1")
			mustNotMention(t, "notes", f.Notes, "would change nothing")
		})
	}
}
