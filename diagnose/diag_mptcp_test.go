package diagnose

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/netdx/netdx/report"

	"github.com/netdx/netdx/collectors"
)

func TestNewDiagMPTCP(t *testing.T) {
	if report.NewDiag(collectors.NewWindow(nil, &collectors.Snapshot{}, 0)).MPTCP != nil {
		t.Error("JSON section for a snapshot without MPTCP")
	}
	short := mptcpClientConn(0x6fea9d9e, 2)
	full := mptcpClientConn(0x0000abcd, 2, 2)
	server := mptcpClientConn(0x11, 2)
	server.Side = collectors.MPTCPServer
	m := mptcpStateOf(mptcpBondedPM(2, 2), short, full, server)
	d := report.NewDiag(collectors.NewWindow(nil, mptcpSnap(m, nil), 0)).MPTCP
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{
		`"enabled":true`, `"path_manager":"kernel"`, `"net.mptcp.stale_loss_cnt":"4"`,
		`"limits":{"subflows":2,"add_addr_accepted":0}`,
		`{"id":2,"address":"198.18.2.1","flags":["subflow"],"interface":"wan2","interface_up":true,"address_present":true}`,
		`"subflow_detail":true`,
		`"local":"198.18.1.1:40000","remote":"198.18.0.1:8080","token":"6fea9d9e","side":"client","fallback":false,"uid":0,"inode":4242,"subflows":1,"expected_subflows":2,"missing_endpoint_ids":[2]`,
		`"token":"0000abcd","side":"client","fallback":false,"uid":0,"inode":4242,"subflows":2,"expected_subflows":2,"subflow_limit":2`,
		`"token":"00000011","side":"server","fallback":false,"uid":0,"inode":4242,"subflows":1,"not_judged":"accepted here: the peer opens its subflows"`,
		`"endpoints_used":1,"endpoints_max":2`,
		`"subflow_list":[{"local":"198.18.1.1:40000","remote":"198.18.0.1:8080","endpoint_id":0,"remote_id":0,"initial":true,"backup":false},{"local":"198.18.2.1:40002","remote":"198.18.0.1:8080","endpoint_id":2,"remote_id":0,"initial":false,"backup":false}]`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("JSON lacks %s\n%s", want, s)
		}
	}
	// Unread parts are absent, not empty.
	m.PM, m.Sockets = nil, nil
	b, _ = json.Marshal(report.NewDiag(collectors.NewWindow(nil, mptcpSnap(m, nil), 0)).MPTCP)
	if strings.Contains(string(b), `"pm"`) || strings.Contains(string(b), `"sockets"`) {
		t.Errorf("unread parts present: %s", b)
	}
}
