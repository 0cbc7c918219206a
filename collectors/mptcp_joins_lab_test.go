package collectors

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/netdx/netdx/internal/mptcplab"
	"github.com/netdx/netdx/internal/netlab"
)

// mptcpJoinCounters moved in a namespace: the MPTcpExt counters that
// tell a refused join from a subflow that was never tried again.
func mptcpMoved(before, after netlab.Counters) map[string]int64 {
	out := map[string]int64{}
	for k, v := range after.Sub(before) {
		if v != 0 && k != "MPTcpExt.MPCurrEstab" && (strings.HasPrefix(k, "MPTcpExt.") || strings.HasPrefix(k, "Tcp.") || strings.HasPrefix(k, "TcpExt.")) {
			out[k] = v
		}
	}
	return out
}

func mptcpCounters(t *testing.T, ns *netlab.NS) netlab.Counters {
	t.Helper()
	c, err := ns.Counters()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// mptcpInfoText prints the mptcp_info fields the two cases differ in.
func mptcpInfoText(c *MPTCPConn) string {
	used := "absent"
	if c.Info.LocalAddrUsed != nil {
		used = fmt.Sprint(*c.Info.LocalAddrUsed)
	}
	return fmt.Sprintf("subflows %d (max %d), local_addr_used %s, %d live subflows read", c.Info.Subflows, c.Info.SubflowsMax, used, len(c.Subflows))
}

// TestMPTCPJoinRefusedVsStuck records, on both ends, what moves when the
// server refuses the client's join (its limits allow no subflow) and
// when a subflow dies with its link and is not rebuilt after the link
// returns: the two cases a finding must tell apart.
func TestMPTCPJoinRefusedVsStuck(t *testing.T) {
	ctx := context.Background()
	t.Run("peer refuses the join", func(t *testing.T) {
		w := mptcplab.NewTwoWAN(t)
		if err := w.ConfigureBonding(); err != nil {
			t.Fatal(err)
		}
		if err := w.RefuseJoins(); err != nil {
			t.Fatal(err)
		}
		cb, sb := mptcpCounters(t, w.Client), mptcpCounters(t, w.Server)
		conn, err := w.Connect(ctx, 8080)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		time.Sleep(time.Second)
		client, server := mptcpMoved(cb, mptcpCounters(t, w.Client)), mptcpMoved(sb, mptcpCounters(t, w.Server))
		snap, _ := takeIn(t, w.Client)
		c, err := mptcpOnlyConn(snap)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("client: %v", client)
		t.Logf("server: %v", server)
		t.Logf("client's connection: %s", mptcpInfoText(c))
		// The join is answered, then reset: the server rejects it at the
		// last ACK with a plain reset; the client resets the subflow with
		// MP_RST. Nothing arrives with MP_RST at either end.
		if client["MPTcpExt.MPJoinSynTx"] < 1 || client["MPTcpExt.MPJoinSynAckRx"] < 1 || client["MPTcpExt.MPRstTx"] < 1 || client["MPTcpExt.MPRstRx"] != 0 ||
			server["MPTcpExt.MPJoinSynRx"] < 1 || server["MPTcpExt.MPJoinRejected"] < 1 || server["MPTcpExt.MPJoinAckRx"] != 0 {
			t.Errorf("a refused join: client %v, server %v", client, server)
		}
		if v, ok := snap.Netstat.Get("MPTcpExt", "MPJoinSynAckRx"); !ok || v == 0 {
			t.Errorf("snapshot MPJoinSynAckRx %d (%v)", v, ok)
		}
		// mptcp_info reads as after a flap (below): no additional subflow,
		// one endpoint counted as used. It cannot tell the cases apart.
		if c.SubflowCount() != 1 || c.Info.LocalAddrUsed == nil || *c.Info.LocalAddrUsed != 1 {
			t.Errorf("%s; want one subflow and endpoint 2 counted as used", mptcpInfoText(c))
		}
	})
	t.Run("subflow not rebuilt after a link flap", func(t *testing.T) {
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
		cb, sb := mptcpCounters(t, w.Client), mptcpCounters(t, w.Server)
		if err := w.SetCarrier(1, false); err != nil {
			t.Fatal(err)
		}
		mptcpWaitSubflows(t, w.Client, 1, 30*time.Second)
		if err := w.SetCarrier(1, true); err != nil {
			t.Fatal(err)
		}
		if err := mptcplab.Wait(ctx, 10*time.Second, "WAN 2 to carry traffic again", func() (bool, error) {
			return w.PathWorks(ctx, 1, 8080), nil
		}); err != nil {
			t.Fatal(err)
		}
		cm, sm := mptcpCounters(t, w.Client), mptcpCounters(t, w.Server)
		time.Sleep(time.Second)
		client, server := mptcpMoved(cb, cm), mptcpMoved(sb, sm)
		clientAfter, serverAfter := mptcpMoved(cm, mptcpCounters(t, w.Client)), mptcpMoved(sm, mptcpCounters(t, w.Server))
		c, err := mptcpOnlyConn(collectMPTCPIn(t, w.Client))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("link down to back up: client %v, server %v", client, server)
		t.Logf("the second after: client %v, server %v", clientAfter, serverAfter)
		t.Logf("client's connection: %s", mptcpInfoText(c))
		// The subflow dies of its keepalive and is reset with MP_RST; no
		// join is tried, refused or rejected, before or after the link
		// returns.
		if client["TcpExt.TCPAbortOnTimeout"] < 1 || client["MPTcpExt.MPRstTx"] < 1 || client["MPTcpExt.MPJoinSynTx"] != 0 ||
			server["MPTcpExt.MPJoinSynRx"] != 0 || server["MPTcpExt.MPJoinRejected"] != 0 || clientAfter["MPTcpExt.MPJoinSynTx"] != 0 {
			t.Errorf("a flap: client %v then %v, server %v", client, clientAfter, server)
		}
		if c.SubflowCount() != 1 || c.Info.LocalAddrUsed == nil || *c.Info.LocalAddrUsed != 1 {
			t.Errorf("%s; want one subflow and the dead one's endpoint still counted as used", mptcpInfoText(c))
		}
	})
}
