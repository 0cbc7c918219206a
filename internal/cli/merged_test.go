package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netdx/netdx/collectors"
	"github.com/netdx/netdx/probes"
	"github.com/netdx/netdx/probes/probestest"
	"github.com/netdx/netdx/render"
	"github.com/netdx/netdx/report"
)

// The merged report: one fixture host, one generated capture and one
// scripted trace that describe the same incident.
//
//   - The host is the busy host (retransmissions, local drops) with a VXLAN
//     interface whose GRO and GSO are on, and TCP counting reordering.
//   - The capture holds three flows to 198.18.5.2 inside VXLAN, each with
//     reordering, loss and retransmissions.
//   - The trace to 198.18.5.2 loses packets from hop 4 on.

// addVXLAN gives a recorded host a vxlan0 interface with GRO and GSO on.
func addVXLAN(t *testing.T, dir string) {
	t.Helper()
	path := filepath.Join(dir, "netlink", "links.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var links []collectors.Link
	if err := json.Unmarshal(b, &links); err != nil {
		t.Fatal(err)
	}
	links = append(links, collectors.Link{Name: "vxlan0", Index: 9, Kind: "vxlan", MTU: 1450, OperState: "unknown",
		NumTxQueues: 1, NumRxQueues: 1, StatsSource: "netlink",
		Stats: map[string]uint64{"rx_packets": 81234, "tx_packets": 80321, "rx_bytes": 98765432, "tx_bytes": 87654321}})
	if b, err = json.MarshalIndent(links, "", " "); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	eth := filepath.Join(dir, "ethtool", "vxlan0")
	if err := os.MkdirAll(eth, 0o755); err != nil {
		t.Fatal(err)
	}
	features := "Features for vxlan0:\ngeneric-segmentation-offload: on\ngeneric-receive-offload: on\nlarge-receive-offload: off [fixed]\n"
	if err := os.WriteFile(filepath.Join(eth, "features"), []byte(features), 0o644); err != nil {
		t.Fatal(err)
	}
}

// bumpNetstat adds by to one counter of a recorded /proc/net/netstat.
func bumpNetstat(t *testing.T, dir, section, name string, by uint64) {
	t.Helper()
	path := filepath.Join(dir, "proc", "net", "netstat")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	for i := 0; i+1 < len(lines); i++ {
		names, values := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if len(names) == 0 || names[0] != section+":" || len(values) != len(names) {
			continue
		}
		for j, n := range names {
			if n == name {
				v, _ := strconv.ParseUint(values[j], 10, 64)
				values[j] = strconv.FormatUint(v+by, 10)
				lines[i+1] = strings.Join(values, " ")
				if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
		}
	}
	t.Fatalf("no %s.%s in %s", section, name, path)
}

// mergedHost is the busy host with a batching tunnel and TCP reordering.
func mergedHost(t *testing.T) (before, after string) {
	before, after = t.TempDir(), t.TempDir()
	copyTree(t, filepath.Join(hostsDir, "linux-6.18"), before)
	copyTree(t, filepath.Join(hostsDir, "linux-6.18"), after)
	copyTree(t, "testdata/busy-after", after)
	addVXLAN(t, before)
	addVXLAN(t, after)
	bumpNetstat(t, after, "TcpExt", "TCPSACKReorder", 640)
	bumpNetstat(t, after, "TcpExt", "TCPDSACKRecv", 85)
	return before, after
}

// mergedCapture writes three reordered, lossy flows to 198.18.5.2 inside
// VXLAN.
func mergedCapture(t *testing.T, dir string) string {
	return vxlanScenarioFile(t, filepath.Join(dir, "tunnel.pcap"), "198.18.5.2:443")
}

// steadyClock is the trace's clock; it remembers the time it last told,
// which is a probe's send time when the network asks right after.
type steadyClock struct {
	mu   sync.Mutex
	last time.Time
}

func (c *steadyClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = time.Now()
	return c.last
}

func (c *steadyClock) told() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

// steadyNet is a scripted network whose answers are stamped exactly their
// hop's scripted round trip after their probe: the trace's numbers then
// do not depend on how busy the machine is.
type steadyNet struct {
	*probestest.Network
	s     *probestest.Scenario
	clock *steadyClock
	mu    sync.Mutex
	sent  map[uint16]probes.Probe
	at    map[uint16]time.Time
}

func (n *steadyNet) Send(ctx context.Context, p probes.Probe) error {
	n.mu.Lock()
	n.sent[p.Seq], n.at[p.Seq] = p, n.clock.told()
	n.mu.Unlock()
	return n.Network.Send(ctx, p)
}

func (n *steadyNet) Recv(ctx context.Context) (probes.Reply, error) {
	r, err := n.Network.Recv(ctx)
	if err != nil {
		return r, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	h := n.s.Hops[min(n.sent[r.Seq].TTL, len(n.s.Hops))-1]
	r.Received = n.at[r.Seq].Add(time.Duration((h.RTTMs + h.ICMPDelayMs) * float64(time.Millisecond)))
	return r, nil
}

// runMerged runs diag over the merged fixture with extra arguments and
// returns the exit status, stdout and stderr, the capture's directory
// taken out of them.
func runMerged(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	s, err := probestest.Load(filepath.Join("..", "..", "probes", "testdata", "scenarios", "forwarding_loss.json"))
	if err != nil {
		t.Fatal(err)
	}
	clock := &steadyClock{}
	saved := openNetwork
	openNetwork = func(probes.Config, probes.OpenOptions) (probes.Network, error) {
		return &steadyNet{Network: probestest.New(s), s: s, clock: clock, sent: map[uint16]probes.Probe{}, at: map[uint16]time.Time{}}, nil
	}
	defer func() { openNetwork = saved }()
	b, af := mergedHost(t)
	dir := t.TempDir()
	file := mergedCapture(t, dir)
	a, out, errb := testApp()
	prepare := func(o *diagOptions) {
		replay(t, b, af)(o)
		o.traceNow = clock.Now
		// Every round probes exactly the path's five hops, so the
		// scripted losses fall the same way on every run.
		o.trace.maxTTL = len(s.Hops)
	}
	// The capture is named as given: relative, so the text's columns line
	// up as users see them. (No test of this package runs in parallel
	// with this one.)
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	code := execute(t, a, prepare, append([]string{"diag", "--interval", "10s", "--trace", "198.18.5.2", "--trace-count", "100",
		"--trace-interval", "10ms", "--no-dns", "--pcap", filepath.Base(file)}, args...)...)
	if err := os.Chdir(wd); err != nil {
		t.Fatal(err)
	}
	clean := func(s string) string { return strings.ReplaceAll(s, dir+string(filepath.Separator), "") }
	return code, clean(out.String()), clean(errb.String())
}

func TestMergedText(t *testing.T) {
	code, out, errOut := runMerged(t)
	if code != exitFindings {
		t.Errorf("exit %d, want %d: the merged report has critical findings; stderr %s", code, exitFindings, errOut)
	}
	for _, want := range []string{
		"SOURCES", "host\tweb-7\tok\ttwo samples 10s apart", "path\t198.18.5.2\tok\t100 rounds, destination reached at hop 5",
		"capture\ttunnel.pcap\tok",
		"cross.tunnel_batching_reordering · vxlan0", "cross.retransmits_from_path_loss · path to 198.18.5.2",
		"cross.flow_loss_on_path · path to 198.18.5.2", "explains:", "more folded into cross-source findings",
		"DIAG  two samples 10s apart", "TRACE 198.18.5.2", "CAPTURE tunnel.pcap",
	} {
		if !hasAligned(out, want) {
			t.Errorf("merged report lacks %q", want)
		}
	}
	golden(t, "TestMergedText", []byte(out))
}

func TestMergedJSON(t *testing.T) {
	code, out, _ := runMerged(t, "--json", "--fail-on", "none")
	if code != exitOK {
		t.Errorf("exit %d with --fail-on none", code)
	}
	validReport(t, "diag --trace --pcap", []byte(out))
	var rep report.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Sources) != 3 || rep.Diag == nil || len(rep.Traces) != 1 || len(rep.Captures) != 1 {
		t.Fatalf("sources %+v, traces %d, captures %d", rep.Sources, len(rep.Traces), len(rep.Captures))
	}
	// Each cross-source finding names the findings it explains, and each
	// of those points back.
	byRef := map[report.FindingRef]report.Finding{}
	for _, f := range rep.Findings {
		byRef[f.Ref()] = f
	}
	cross := 0
	for _, f := range rep.Findings {
		if f.Source != report.SourceCross {
			continue
		}
		cross++
		if len(f.Related) == 0 {
			t.Errorf("%s relates to nothing", f.ID)
		}
		for _, r := range f.Related {
			g, ok := byRef[r]
			if !ok || g.SubsumedBy == nil || *g.SubsumedBy != f.Ref() {
				t.Errorf("%s relates to %v, which does not point back", f.ID, r)
			}
		}
	}
	if cross != 3 {
		t.Errorf("%d cross-source findings, want 3", cross)
	}
	// The trace ran alongside the host's interval; the times that come
	// from the clock are the machine's: pin them for the golden file.
	for i := range rep.Traces {
		rep.Traces[i].StartedAt, rep.Traces[i].EndedAt = testNow, testNow
	}
	var b bytes.Buffer
	if err := (render.JSON{}).Render(&b, &rep); err != nil {
		t.Fatal(err)
	}
	golden(t, "TestMergedJSON", b.Bytes())
}
