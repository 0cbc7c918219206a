package render

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/netdx/netdx/report"
)

// connsReport is a diag report whose per-connection view holds a lossy
// connection, a reordering one also retransmitting, a stalled one and two
// only application-limited.
func connsReport(filter string) *report.Report {
	u := func(v uint64) *uint64 { return &v }
	f := func(v float64) *float64 { return &v }
	lossy := report.DiagConn{Local: "198.18.1.1:40000", Remote: "198.18.1.2:5001", State: "established", Cookie: 1,
		Process: &report.DiagProcess{PID: 4242, Comm: "uploader"}, Limits: []string{"retransmitting"},
		DataSegsOut: u(10200), RetransSegs: 350, RetransPct: f(3.43), RTOs: u(1), ReordSeen: u(0), RTTMs: 1.204, CAState: "recovery"}
	reorder := report.DiagConn{Local: "[2001:db8:0:1::1]:40002", Remote: "[2001:db8:0:1::2]:5003", State: "established", Cookie: 2,
		Limits: []string{"retransmitting", "reordering"}, DataSegsOut: u(9000), RetransSegs: 14, RetransPct: f(0.16), RTOs: u(0),
		ReordSeen: u(260), RTTMs: 0.4}
	stalled := report.DiagConn{Local: "198.18.1.1:40004", Remote: "198.18.1.2:5004", State: "established", Cookie: 3,
		Process: &report.DiagProcess{PID: 77, Comm: "rsync"}, Limits: []string{"rwnd_limited"}, RwndLimitedPct: f(97.5), RTTMs: 0.1}
	app := func(c uint64) report.DiagConn {
		return report.DiagConn{Local: "198.18.1.1:40010", Remote: "198.18.1.2:5002", State: "established", Cookie: c,
			Limits: []string{"app_limited"}, RTTMs: 0.1}
	}
	rep := report.New("diag", report.Tool{Name: "netdx"}, report.Host{Hostname: "web-7"}, time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC))
	rep.Diag = &report.Diag{IntervalSeconds: 2, Connections: &report.DiagConnections{WindowSeconds: 2, Conns: 6, Filter: filter,
		Limits: []report.DiagConnLimit{
			{Limit: "retransmitting", Count: 2, Conns: []report.DiagConn{lossy, reorder}},
			{Limit: "reordering", Count: 1, Conns: []report.DiagConn{reorder}},
			{Limit: "rwnd_limited", Count: 1, Conns: []report.DiagConn{stalled}},
			{Limit: "app_limited", Count: 3, Conns: []report.DiagConn{app(4), app(5)}, More: 1},
		}}}
	return rep
}

// TestConnectionsTable: each held-back connection once, worst first, with
// its process and what held it back; connections only their application
// limited are counted, listed only when --conn asked; the table fits the
// terminal.
func TestConnectionsTable(t *testing.T) {
	for _, filter := range []string{"", "5002"} {
		for _, width := range []int{0, 80, 120} {
			var b bytes.Buffer
			r := lipgloss.NewRenderer(&b)
			r.SetColorProfile(termenv.ANSI)
			rep := connsReport(filter)
			if err := (Text{R: r, Width: width}).Render(&b, rep); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			checkText(t, out, rep, false, width)
			i := strings.Index(out, "TCP CONNECTIONS")
			if i < 0 {
				t.Fatalf("no connections table:\n%s", out)
			}
			table := out[i:]
			flat := strings.Join(strings.Fields(table), " ")
			if !strings.Contains(flat, "6 carrying data in 2s") || !strings.Contains(flat, "held back: 2 retrans, 1 reorder, 1 rwnd, 3 app") {
				t.Errorf("width %d: header:\n%s", width, table)
			}
			var rows []string
			for _, l := range strings.Split(strings.TrimSpace(table), "\n")[1:] {
				if !strings.HasPrefix(l, " ") && !strings.HasPrefix(l, "PEER") && !strings.HasPrefix(l, "3 app") && !strings.HasPrefix(l, "reorder, 1 rwnd") {
					rows = append(rows, l)
				}
			}
			want := []string{"uploader[4242]", "reorder", "rsync[77]"}
			if filter != "" {
				want = append(want, "app", "app")
			}
			if len(rows) != len(want) {
				t.Fatalf("width %d filter %q: %d rows, want %d:\n%s", width, filter, len(rows), len(want), table)
			}
			for j, w := range want {
				if !strings.Contains(rows[j], w) {
					t.Errorf("width %d: row %d %q lacks %q", width, j, rows[j], w)
				}
			}
			if got := strings.Join(strings.Fields(rows[0]), " "); width == 0 && got != "198.18.1.2:5001 uploader[4242] retrans 1.2 resent 350 (3.4%), 1 RTO 198.18.1.1:40000" {
				t.Errorf("row %q", got)
			}
			if width == 80 && (!strings.HasPrefix(rows[0], "198.18.1.2:5001 ") || !strings.Contains(table, "  local: 198.18.1.1:40000") ||
				!strings.Contains(table, "  detail: resent 350 (3.4%), 1 RTO")) {
				t.Errorf("at 80 columns the peer is cut or the numbers lost:\n%s", table)
			}
		}
	}
}
