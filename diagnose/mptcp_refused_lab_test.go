package diagnose

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/netdx/netdx/collectors"
	"github.com/netdx/netdx/internal/mptcplab"
)

var mptcpShortRules = []string{"mptcp.join_refused", "mptcp.subflows_missing", "mptcp.subflow_limit"}

// TestLabMPTCPRefusedVsStuck: the two ways a two-WAN client's connection
// ends up on one subflow (the truth of docs/mptcp.md): the server refuses
// the join (its limits allow no subflow), or the second subflow dies with
// its link and is never rebuilt. MPTCP_INFO reads the same; the counters
// do not, and the findings differ, each with its own fix.
func TestLabMPTCPRefusedVsStuck(t *testing.T) {
	ctx := context.Background()
	t.Run("peer refuses the join", func(t *testing.T) {
		w := mptcplab.NewTwoWAN(t)
		if err := w.ConfigureBonding(); err != nil {
			t.Fatal(err)
		}
		if err := w.RefuseJoins(); err != nil {
			t.Fatal(err)
		}
		conn, err := w.Connect(ctx, 8080)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		time.Sleep(time.Second) // the join is refused at once; the window that follows sees nothing
		r := runDiagIn(t, w.Client, time.Second, collectors.TCPHealthOptions{}, nil)
		server, err := w.Server.Counters()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("kernel, client since its namespace began: MPJoinSynTx %d, MPJoinSynAckRx %d, MPRstTx %d, TCPAbortOnTimeout %d; in the window: MPJoinSynTx +%d; server: MPJoinRejected %d",
			r.after["MPTcpExt.MPJoinSynTx"], r.after["MPTcpExt.MPJoinSynAckRx"], r.after["MPTcpExt.MPRstTx"], r.after["TcpExt.TCPAbortOnTimeout"],
			r.moved("MPTcpExt.MPJoinSynTx"), server["MPTcpExt.MPJoinRejected"])
		if r.after["MPTcpExt.MPJoinSynAckRx"] < 1 || r.after["MPTcpExt.MPRstTx"] < r.after["MPTcpExt.MPJoinSynAckRx"] ||
			r.after["TcpExt.TCPAbortOnTimeout"] != 0 || server["MPTcpExt.MPJoinRejected"] < 1 || r.moved("MPTcpExt.MPJoinSynTx") != 0 {
			t.Fatal("the kernel did not refuse the join as the truth says")
		}
		wantFindings(t, r.rep, mptcpShortRules, "mptcp.join_refused info")
		f := finding(t, r.rep, "mptcp.join_refused")
		logFinding(t, f)
		token, err := conn.Token()
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("%s → %s (token %08x)", conn.Client.LocalAddr(), conn.Client.RemoteAddr(), token); f.Subject != want {
			t.Errorf("subject %q, want the connection %q", f.Subject, want)
		}
		mustMention(t, "fix", f.Fix, "On the peer 198.18.0.1: ip mptcp limits set subflows 1")
		mustNotMention(t, "fix", f.Fix, "ip mptcp endpoint delete id 2")
		mustMention(t, "notes", f.Notes, "Counted since boot")
	})
	t.Run("subflow lost with its link", func(t *testing.T) {
		w := mptcplab.NewTwoWAN(t)
		if err := w.ConfigureBonding(); err != nil {
			t.Fatal(err)
		}
		conn, err := w.Connect(ctx, 8080)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		mptcpWaitSubflows(t, w.Client, 2, 10*time.Second)
		// The window holds the flap: link down until the subflow dies of
		// its keepalive, then up until it carries traffic again.
		r := runDiagIn(t, w.Client, time.Second, collectors.TCPHealthOptions{}, func() {
			if err := w.SetCarrier(1, false); err != nil {
				t.Error(err)
			}
			mptcpWaitSubflows(t, w.Client, 1, 30*time.Second)
			if err := w.SetCarrier(1, true); err != nil {
				t.Error(err)
			}
			if err := mptcplab.Wait(ctx, 10*time.Second, "WAN 2 to carry traffic again", func() (bool, error) {
				return w.PathWorks(ctx, 1, 8080), nil
			}); err != nil {
				t.Error(err)
			}
		})
		t.Logf("kernel, client in the window: TCPAbortOnTimeout +%d, MPRstTx +%d, MPJoinSynTx +%d",
			r.moved("TcpExt.TCPAbortOnTimeout"), r.moved("MPTcpExt.MPRstTx"), r.moved("MPTcpExt.MPJoinSynTx"))
		if r.moved("TcpExt.TCPAbortOnTimeout") < 1 || r.moved("MPTcpExt.MPRstTx") < 1 || r.moved("MPTcpExt.MPJoinSynTx") != 0 {
			t.Fatal("the kernel did not lose the subflow as the truth says")
		}
		wantFindings(t, r.rep, mptcpShortRules, "mptcp.subflows_missing warning")
		f := finding(t, r.rep, "mptcp.subflows_missing")
		logFinding(t, f)
		if f.Subject != "endpoint 2 198.18.2.1 dev wan2" {
			t.Errorf("subject %q", f.Subject)
		}
		mustMention(t, "fix", f.Fix, "ip mptcp endpoint delete id 2")
		mustMention(t, "notes", f.Notes, "died of a timeout (TcpExt.TCPAbortOnTimeout)")
		mustNotMention(t, "fix", f.Fix, "On the peer")

		// Later, a window that sees nothing: the totals since the
		// namespace began hold the earlier join and the timeout, so the
		// finding stays the lost subflow, and says what would tell a
		// refusal.
		r = runDiagIn(t, w.Client, time.Second, collectors.TCPHealthOptions{}, nil)
		wantFindings(t, r.rep, mptcpShortRules, "mptcp.subflows_missing warning")
		f = finding(t, r.rep, "mptcp.subflows_missing")
		logFinding(t, f)
		mustMention(t, "notes", f.Notes, "Since boot this host's joins were answered "+plural(int(r.after["MPTcpExt.MPJoinSynAckRx"]), "time"))
	})
}
