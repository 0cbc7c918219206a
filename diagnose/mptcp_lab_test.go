package diagnose

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netdx/netdx/collectors"
	"github.com/netdx/netdx/internal/mptcplab"
	"github.com/netdx/netdx/internal/netlab"
)

// End-to-end MPTCP tests: a real kernel in lab namespaces, the real
// collector, the rules, and the fix each finding prescribes, applied as
// written.

// mptcpCollectIn takes an MPTCP-only snapshot inside ns with the
// registered collector.
func mptcpCollectIn(t *testing.T, ns *netlab.NS) *collectors.Snapshot {
	t.Helper()
	var c collectors.Collector
	for _, x := range collectors.All() {
		if x.Name() == "mptcp" {
			c = x
		}
	}
	if c == nil {
		t.Fatal("no mptcp collector registered")
	}
	snap := &collectors.Snapshot{Taken: time.Now()}
	src := &collectors.Sources{ProcPath: "/proc"}
	if err := ns.Do(func() error { return c.Collect(context.Background(), src, snap) }); err != nil {
		t.Fatalf("collect MPTCP in %s: %v", ns.Name, err)
	}
	return snap
}

// mptcpWaitSubflows waits until the namespace's only connection has n
// live, fully established subflows (the path manager acts on a connection
// only once it is fully established).
func mptcpWaitSubflows(t *testing.T, ns *netlab.NS, n int, limit time.Duration) {
	t.Helper()
	last := "nothing read"
	err := mptcplab.Wait(context.Background(), limit, fmt.Sprintf("%d subflows", n), func() (bool, error) {
		s := mptcpCollectIn(t, ns)
		if s.MPTCP == nil || s.MPTCP.Sockets == nil || len(s.MPTCP.Sockets.Conns) != 1 {
			last = fmt.Sprintf("%+v", s.MPTCP)
			return false, nil
		}
		c := s.MPTCP.Sockets.Conns[0]
		last = fmt.Sprintf("%d subflows %+v", c.SubflowCount(), c.Subflows)
		for _, sf := range c.Subflows {
			if sf.Flags&collectors.MPTCPSubflowFullyEstab == 0 {
				return false, nil
			}
		}
		return c.SubflowCount() == n && len(c.Subflows) == n, nil
	})
	if err != nil {
		t.Fatalf("%v; last: %s", err, last)
	}
}

// mptcpApplyFix runs the `ip mptcp` commands of a finding's fix through
// generic netlink, exactly as written; prose lines are skipped. A command
// the parser does not understand fails the test: the fix would not run.
func mptcpApplyFix(t *testing.T, ns *netlab.NS, f Finding) int {
	t.Helper()
	applied := 0
	for _, line := range f.Fix {
		if !strings.HasPrefix(line, "ip mptcp ") {
			continue
		}
		w := strings.Fields(line)[2:]
		num := func(s string) uint64 {
			v, err := strconv.ParseUint(s, 10, 32)
			if err != nil {
				t.Fatalf("fix %q: %v", line, err)
			}
			return v
		}
		var err error
		switch {
		case len(w) == 6 && w[0] == "limits" && w[1] == "set" && w[2] == "subflows" && w[4] == "add_addr_accepted":
			err = mptcplab.SetLimits(ns, uint32(num(w[3])), uint32(num(w[5])))
		case len(w) == 4 && w[0] == "endpoint" && w[1] == "delete" && w[2] == "id":
			err = mptcplab.DeleteEndpoint(ns, uint8(num(w[3])))
		case len(w) >= 3 && w[0] == "endpoint" && w[1] == "add":
			ep := mptcplab.Endpoint{Addr: netip.MustParseAddr(w[2])}
			for i := 3; i < len(w); i++ {
				switch w[i] {
				case "dev":
					i++
					ep.Dev = w[i]
				case "id":
					i++
					ep.ID = uint8(num(w[i]))
				case "subflow":
					ep.Flags |= mptcplab.FlagSubflow
				case "signal":
					ep.Flags |= mptcplab.FlagSignal
				case "backup":
					ep.Flags |= mptcplab.FlagBackup
				case "fullmesh":
					ep.Flags |= mptcplab.FlagFullmesh
				default:
					t.Fatalf("fix %q: unknown word %q", line, w[i])
				}
			}
			err = mptcplab.AddEndpoint(ns, ep)
		default:
			t.Fatalf("fix %q: not a command the lab knows", line)
		}
		if err != nil {
			t.Fatalf("fix %q: %v", line, err)
		}
		applied++
	}
	return applied
}

// TestMPTCPLabSubflowNotRebuilt is the scenario: a two-WAN client
// loses one link long enough for that subflow to die; the link comes back
// and carries traffic, yet the connection stays on one subflow. The
// finding names the connection and endpoint 2, and its fix, applied as
// written, brings the second subflow back.
func TestMPTCPLabSubflowNotRebuilt(t *testing.T) {
	ctx := context.Background()
	w := mptcplab.NewTwoWAN(t)
	if err := w.ConfigureBonding(); err != nil {
		t.Fatal(err)
	}
	conn, err := w.Connect(ctx, 8080)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	token, err := conn.Token()
	if err != nil {
		t.Fatal(err)
	}
	judge := func() Outcome {
		before := mptcpCollectIn(t, w.Client)
		after := mptcpCollectIn(t, w.Client)
		return checkMPTCPSubflows(&Input{Diag: collectors.NewWindow(before, after, time.Millisecond)})
	}

	mptcpWaitSubflows(t, w.Client, 2, 10*time.Second)
	if o := judge(); len(o.Findings) != 0 || !strings.Contains(o.Detail, "1 opened here at their expected subflow count") {
		t.Fatalf("healthy bond: %+v", o)
	}

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

	o := judge()
	if len(o.Findings) != 1 || o.Findings[0].ID != "mptcp.subflows_missing" {
		t.Fatalf("after the flap: %+v, want mptcp.subflows_missing", o)
	}
	f := o.Findings[0]
	wantConn := fmt.Sprintf("%s → %s (token %08x)", conn.Client.LocalAddr(), conn.Client.RemoteAddr(), token)
	if f.Subject != "endpoint 2 198.18.2.1 dev wan2" || !strings.Contains(f.Summary, wantConn) || !strings.Contains(f.Summary, "1 of 2 expected subflows") {
		t.Errorf("finding names %q / %q; want endpoint 2 198.18.2.1 dev wan2 and %s with 1 of 2", f.Subject, f.Summary, wantConn)
	}
	mptcpMustContain(t, mptcpJoined(f), "interface up")

	if n := mptcpApplyFix(t, w.Client, f); n != 2 {
		t.Fatalf("fix had %d commands, want delete and add: %q", n, f.Fix)
	}
	mptcpWaitSubflows(t, w.Client, 2, 10*time.Second)
	if o := judge(); len(o.Findings) != 0 {
		t.Errorf("after the fix: %+v", o.Findings)
	}
}

// TestMPTCPLabLimitZero checks mptcp.limit_zero on a real kernel and that
// its fix, limits then endpoint re-add, gives the existing connection its
// second subflow (raising the limit alone does not).
func TestMPTCPLabLimitZero(t *testing.T) {
	ctx := context.Background()
	w := mptcplab.NewTwoWAN(t)
	if err := w.ConfigureBonding(); err != nil {
		t.Fatal(err)
	}
	if err := mptcplab.SetLimits(w.Client, 0, 0); err != nil {
		t.Fatal(err)
	}
	conn, err := w.Connect(ctx, 8080)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	mptcpWaitSubflows(t, w.Client, 1, 10*time.Second)

	snap := mptcpCollectIn(t, w.Client)
	o := checkMPTCPConfig(&Input{Diag: collectors.NewWindow(nil, snap, 0)})
	if len(o.Findings) != 1 || o.Findings[0].ID != "mptcp.limit_zero" {
		t.Fatalf("limit 0: %+v, want mptcp.limit_zero", o)
	}
	if n := mptcpApplyFix(t, w.Client, o.Findings[0]); n != 3 {
		t.Fatalf("fix applied %d commands: %q", n, o.Findings[0].Fix)
	}
	mptcpWaitSubflows(t, w.Client, 2, 10*time.Second)
	o = checkMPTCPConfig(&Input{Diag: collectors.NewWindow(nil, mptcpCollectIn(t, w.Client), 0)})
	if len(o.Findings) != 0 {
		t.Errorf("after the fix: %+v", o.Findings)
	}
}
