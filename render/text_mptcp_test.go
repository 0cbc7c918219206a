package render

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/charmbracelet/lipgloss"

	"github.com/netdx/netdx/report"
)

func mptcpSample(conns int) *report.DiagMPTCP {
	on, up, down, present := true, true, false, true
	two := 2
	d := &report.DiagMPTCP{
		Enabled: &on, PathManager: "kernel",
		Sysctls: map[string]string{"net.mptcp.enabled": "1"},
		PM: &report.DiagMPTCPPM{
			Limits: report.DiagMPTCPLimits{Subflows: 2},
			Endpoints: []report.DiagMPTCPEndpoint{
				{ID: 1, Address: "198.18.1.1", Flags: []string{"subflow"}, Interface: "wan1", InterfaceUp: &up, AddressPresent: &present},
				{ID: 2, Address: "198.18.2.1", Flags: []string{"subflow", "backup"}, Interface: "wan2", InterfaceUp: &down, AddressPresent: &present},
				{ID: 3, Address: "2001:db8::1", Port: 8443, Flags: []string{"signal"}},
			},
		},
		Sockets: &report.DiagMPTCPSockets{SubflowDetail: true},
	}
	for i := 0; i < conns; i++ {
		c := report.DiagMPTCPConnection{
			Local: fmt.Sprintf("198.18.1.1:%d", 40000+i), Remote: "198.18.0.1:8080",
			Token: fmt.Sprintf("%08x", 0x6fea9d00+i), Side: "client", Subflows: 2, ExpectedSubflows: &two,
		}
		switch i {
		case 0:
			c.Subflows, c.MissingEndpointIDs = 1, []int{2}
		case 1:
			c.Side, c.ExpectedSubflows, c.NotJudged = "server", nil, "accepted here: the peer opens its subflows"
		}
		d.Sockets.Connections = append(d.Sockets.Connections, c)
	}
	return d
}

func TestMPTCPTextPlain(t *testing.T) {
	var b bytes.Buffer
	p := &printer{t: Text{}, w: &b}
	p.mptcp(mptcpSample(3))
	want := `
MPTCP  enabled · kernel path manager · limits subflows 2 add_addr_accepted 0 · 3 connection(s)
ENDPOINT  ADDRESS                INTERFACE  FLAGS           LINK
1         198.18.1.1             wan1       subflow         up
2         198.18.2.1             wan2       subflow,backup  down
3         2001:db8::1 port 8443  -          signal          -
CONNECTION                          TOKEN     SIDE    SUBFLOWS  NOTE
198.18.1.1:40000 → 198.18.0.1:8080  6fea9d00  client  1/2       missing endpoint 2
198.18.1.1:40001 → 198.18.0.1:8080  6fea9d01  server  2         accepted here: the peer opens its subflows
198.18.1.1:40002 → 198.18.0.1:8080  6fea9d02  client  2/2       ok
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestMPTCPTextCapsAndStyles(t *testing.T) {
	var b bytes.Buffer
	r := lipgloss.NewRenderer(&b)
	p := &printer{t: Text{R: r, Styled: true, Width: 100}, w: &b}
	d := mptcpSample(mptcpMaxConnRows + 5)
	d.Sockets.SubflowDetail = false
	p.mptcp(d)
	out := b.String()
	for _, want := range []string{"MPTCP", "… 5 more connection(s); --json lists them all", "only to CAP_NET_ADMIN", "6fea9d13"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "6fea9d14") {
		t.Errorf("row beyond the cap printed:\n%s", out)
	}
	b.Reset()
	(&printer{t: Text{}, w: &b}).mptcp(nil)
	if b.Len() != 0 {
		t.Errorf("output for no MPTCP section: %q", b.String())
	}
}
