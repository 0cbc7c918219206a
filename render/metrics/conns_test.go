package metrics

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/netdx/netdx/report"
)

// TestConnectionCounts: the per-connection view is exported as counts per
// limit, every limit present (0 when none), and no connection is a label.
func TestConnectionCounts(t *testing.T) {
	rep := report.New("diag", report.Tool{Name: "netdx"}, report.Host{}, time.Unix(0, 0))
	rep.Diag = &report.Diag{Connections: &report.DiagConnections{Conns: 40, Limits: []report.DiagConnLimit{
		{Limit: "retransmitting", Count: 12, Conns: []report.DiagConn{{Local: "198.18.1.1:40000", Remote: "198.18.1.2:5001"}}, More: 11},
		{Limit: "rwnd_limited", Count: 1},
	}}}
	var b bytes.Buffer
	if err := Write(&b, rep); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"netdx_tcp_connections 40\n",
		`netdx_tcp_connections_limited{limit="retransmitting"} 12` + "\n", `netdx_tcp_connections_limited{limit="rwnd_limited"} 1` + "\n",
		`netdx_tcp_connections_limited{limit="reordering"} 0` + "\n", `netdx_tcp_connections_limited{limit="sndbuf_limited"} 0` + "\n",
		`netdx_tcp_connections_limited{limit="app_limited"} 0` + "\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "198.18.1.2") {
		t.Error("a connection's address became a label")
	}
}
