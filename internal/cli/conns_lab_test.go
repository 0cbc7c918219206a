package cli

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netdx/netdx/internal/netlab"
	"github.com/netdx/netdx/report"
)

// TestDiagConnsInNetNS runs `netdx diag --netns` over a client namespace
// with one lossy and one healthy connection: the report's JSON follows the
// schema, lists the lossy connection with its process under
// retransmitting, names it in tcp.conn_retransmits, and its resends are
// within what the socket itself counted around the run; the healthy one
// is named by no finding. The text report shows the connections table.
func TestDiagConnsInNetNS(t *testing.T) {
	netlab.RequireNFT(t)
	lab := netlab.NewConnLab(t)
	if err := lab.DropToPort(5001, 3); err != nil {
		t.Fatal(err)
	}
	lossy := lab.StartFlow(t, netlab.FlowSpec{Port: 5001, Rate: 8 << 20})
	healthy := lab.StartFlow(t, netlab.FlowSpec{Port: 5002, Rate: 8 << 20})
	time.Sleep(300 * time.Millisecond)
	before, err := lossy.Info()
	if err != nil {
		t.Fatal(err)
	}
	a, out, errb := testApp()
	a.Now = time.Now
	code := execute(t, a, nil, "diag", "--netns", lab.Client.Name, "--interval", "2s", "--json", "--fail-on", "none")
	after, err := lossy.Info()
	if err != nil {
		t.Fatal(err)
	}
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errb)
	}
	validReport(t, "diag --netns with connections", out.Bytes())
	var rep report.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	self := filepath.Base(os.Args[0])[:min(15, len(filepath.Base(os.Args[0])))] + "[" + strconv.Itoa(os.Getpid()) + "]"
	want := lossy.Local.String() + " → " + lossy.Remote.String() + " (" + self + ")"
	var f *report.Finding
	for i := range rep.Findings {
		x := &rep.Findings[i]
		if x.ID == "tcp.conn_retransmits" {
			f = x
		}
		if strings.Contains(x.Subject+x.Summary, healthy.Local.String()) {
			t.Errorf("%s names the healthy connection: %s", x.ID, x.Summary)
		}
	}
	if f == nil || f.Subject != want || f.Object != report.ObjectConnection {
		t.Fatalf("tcp.conn_retransmits %+v, want subject %q", f, want)
	}
	c := rep.Diag.Connections
	if c == nil || len(c.Limits) == 0 || c.Limits[0].Limit != "retransmitting" || len(c.Limits[0].Conns) == 0 {
		t.Fatalf("connections %+v", c)
	}
	got := c.Limits[0].Conns[0]
	truth := uint64(after.Total_retrans - before.Total_retrans)
	if got.Local != lossy.Local.String() || got.Process == nil || got.Process.PID != os.Getpid() || got.RetransSegs == 0 || got.RetransSegs > truth {
		t.Errorf("listed %+v; the socket resent %d around the run", got, truth)
	}
	t.Logf("diag: %s resent %d segments in its window; the socket counted %d around the run", got.Local, got.RetransSegs, truth)

	// The text report lists it in the connections table.
	a, out, _ = testApp()
	a.Now = time.Now
	execute(t, a, nil, "diag", "--netns", lab.Client.Name, "--interval", "1s", "--fail-on", "none")
	text := out.String()
	i := strings.Index(text, "TCP CONNECTIONS")
	if i >= 0 {
		t.Logf("%s", text[i:])
	}
	if i < 0 || !strings.Contains(text[i:], lossy.Remote.String()) || !strings.Contains(text[i:], self) {
		t.Errorf("no connections table naming %s and %s:\n%s", lossy.Remote, self, text)
	}
}

// TestDiagConnsUnprivileged runs netdx diag as nobody, without
// capabilities, inside the client namespace (this test binary again,
// through setpriv): an ordinary user still gets the per-connection view
// and the lossy connection named; root's process cannot be named, and a
// NOT READ line says why.
func TestDiagConnsUnprivileged(t *testing.T) {
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("skipped: setpriv (util-linux) is not installed")
	}
	netlab.RequireNFT(t)
	lab := netlab.NewConnLab(t)
	if err := lab.DropToPort(5001, 3); err != nil {
		t.Fatal(err)
	}
	lossy := lab.StartFlow(t, netlab.FlowSpec{Port: 5001, Rate: 8 << 20})
	time.Sleep(300 * time.Millisecond)
	dir := searchableTempDir(t)
	bin := filepath.Join(dir, "netdx")
	b, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
		bin, "diag", "--interval", "2s", "--json", "--fail-on", "none")
	cmd.Env = []string{"NETDX_TEST_MAIN=1", "PATH=/usr/bin:/bin"}
	cmd.Dir = dir
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := lab.Client.Start(cmd); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("netdx as nobody: %v\n%s", err, stderr.String())
	}
	var rep report.Report
	if err := json.Unmarshal([]byte(stdout.String()), &rep); err != nil {
		t.Fatalf("%v: %s", err, stdout.String())
	}
	if rep.Privileges == nil || rep.Privileges.UID != 65534 {
		t.Errorf("privileges %+v", rep.Privileges)
	}
	var f *report.Finding
	for i := range rep.Findings {
		if rep.Findings[i].ID == "tcp.conn_retransmits" {
			f = &rep.Findings[i]
		}
	}
	if want := lossy.Local.String() + " → " + lossy.Remote.String(); f == nil || f.Subject != want {
		t.Fatalf("as nobody: tcp.conn_retransmits %+v, want subject %q (root's process cannot be named)", f, want)
	}
	named := false
	for _, s := range rep.Skipped {
		if s.Source == "/proc/*/fd" && s.Reason == report.ReasonPermission {
			named = true
		}
	}
	if !named {
		t.Errorf("no NOT READ line says why the owner is not named: %+v", rep.Skipped)
	}
}
