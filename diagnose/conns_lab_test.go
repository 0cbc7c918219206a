package diagnose

import (
	"strings"
	"testing"
	"time"

	"github.com/netdx/netdx/collectors"
	"github.com/netdx/netdx/internal/netlab"
)

var connRules = []string{"tcp.conn_retransmits", "tcp.conn_reordering", "tcp.conn_rwnd_limited", "tcp.conn_sndbuf_limited", "tcp.conn_app_limited"}

// TestLabConnsLossyAndHealthy is the case: two connections from the
// client namespace at the same pace, one losing 3% of its segments at the
// server's input, one healthy. The lossy one is named with its process,
// its resends as its own socket counts them (tcpi_total_retrans read
// around the window); the healthy one is named nowhere. Asked about with
// --conn, the healthy one is said to be limited by its application.
func TestLabConnsLossyAndHealthy(t *testing.T) {
	netlab.RequireNFT(t)
	lab := netlab.NewConnLab(t)
	if err := lab.DropToPort(5001, 3); err != nil {
		t.Fatal(err)
	}
	lossy := lab.StartFlow(t, netlab.FlowSpec{Port: 5001, Rate: 8 << 20})
	healthy := lab.StartFlow(t, netlab.FlowSpec{Port: 5002, Rate: 8 << 20})
	time.Sleep(500 * time.Millisecond)

	before, err := lossy.Info()
	if err != nil {
		t.Fatal(err)
	}
	r := runDiagIn(t, lab.Client, 2*time.Second, collectors.TCPHealthOptions{}, nil)
	after, err := lossy.Info()
	if err != nil {
		t.Fatal(err)
	}
	truth := uint64(after.Total_retrans - before.Total_retrans)
	t.Logf("kernel: the lossy socket resent %d segments around the window (tcpi_total_retrans); the namespace's Tcp.RetransSegs +%d", truth, r.moved("Tcp.RetransSegs"))
	wantFindings(t, r.rep, connRules, "tcp.conn_retransmits warning")
	f := finding(t, r.rep, "tcp.conn_retransmits")
	logFinding(t, f)
	if want := lossy.Local.String() + " → " + lossy.Remote.String() + " (" + thisProcess() + ")"; f.Subject != want {
		t.Errorf("subject %q, want the lossy connection %q", f.Subject, want)
	}
	for _, x := range r.rep.Findings {
		mustNotMention(t, x.ID, findingText(x), healthy.Local.String())
	}
	var listed uint64
	for _, g := range r.rep.Diag.Connections.Limits {
		for _, c := range g.Conns {
			if c.Local == lossy.Local.String() && g.Limit == "retransmitting" {
				listed = c.RetransSegs
				if c.RetransPct == nil || *c.RetransPct < 1 || *c.RetransPct > 10 {
					t.Errorf("lossy connection resent %v%% of its segments, the server drops 3%%", c.RetransPct)
				}
			}
		}
	}
	if listed == 0 || listed > truth {
		t.Errorf("the report counts %d resends in its window, the socket %d around it", listed, truth)
	}
	mustMention(t, "fix", f.Fix, "netdx trace "+lossy.Remote.Addr().String())

	// --conn 5002: only the healthy connection is looked at.
	filter, err := collectors.ParseConnFilter("5002")
	if err != nil {
		t.Fatal(err)
	}
	r = runDiagIn(t, lab.Client, 2*time.Second, collectors.TCPHealthOptions{Filter: filter}, nil)
	wantFindings(t, r.rep, connRules, "tcp.conn_app_limited info")
	f = finding(t, r.rep, "tcp.conn_app_limited")
	logFinding(t, f)
	if !strings.HasPrefix(f.Subject, healthy.Local.String()+" → ") {
		t.Errorf("subject %q, want the healthy connection", f.Subject)
	}
	if c := r.rep.Diag.Connections; c.Conns != 1 || c.Filter != "5002" {
		t.Errorf("view of %d connections, filter %q", c.Conns, c.Filter)
	}
}
