package cli

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netdx/netdx/internal/netlab"
	"github.com/netdx/netdx/probes"
)

// TestServeLabTraceLoss serves the prober's namespace of a lab path whose
// second router loses a quarter of what it forwards, tracing the target:
// the hop metrics show no loss up to that router and loss after it that
// the router's relay accounts for (every probe lost beyond it is one the
// relay dropped, or whose answer it dropped), and the path finding is
// exported.
func TestServeLabTraceLoss(t *testing.T) {
	p := netlab.NewPath(t, netlab.PathSpec{Routers: []netlab.RouterSpec{{}, {Impair: netlab.Impairment{Loss: 0.25, Seed: 3}}, {}}})
	saved := openNetwork
	openNetwork = func(cfg probes.Config, o probes.OpenOptions) (probes.Network, error) {
		var nw probes.Network
		var err error
		if derr := p.Prober.Do(func() error { nw, err = probes.Open(cfg, o); return nil }); derr != nil {
			return nil, derr
		}
		return nw, err
	}
	t.Cleanup(func() { openNetwork = saved })
	target := p.TargetAddr.V4.String()
	addr, stop := serveTest(t, nil, "--netns", p.Prober.Path(), "--interval", "1s",
		"--trace", target, "--trace-count", "30", "--trace-interval", "1h")
	m := waitFor(t, addr, 60*time.Second, "a completed trace", func(m map[string]float64) bool {
		return m[`netdx_trace_runs_total{target="`+target+`"}`] >= 1
	})
	if code := stop(); code != exitOK {
		t.Errorf("serve exit %d", code)
	}
	if f := m[`netdx_trace_failures_total{target="`+target+`"}`]; f != 0 {
		t.Fatalf("the trace failed: %v", m)
	}
	if m[`netdx_trace_destination_reached{target="`+target+`"}`] != 1 {
		t.Errorf("destination not reached")
	}
	hopRe := regexp.MustCompile(`^netdx_trace_hop_(sent|received|rate_limited)_probes\{address="[^"]*",hop="(\d+)",target="` + regexp.QuoteMeta(target) + `"\}$`)
	sent, recv, limited := map[int]float64{}, map[int]float64{}, map[int]float64{}
	for k, v := range m {
		if h := hopRe.FindStringSubmatch(k); h != nil {
			ttl, _ := strconv.Atoi(h[2])
			map[string]map[int]float64{"sent": sent, "received": recv, "rate_limited": limited}[h[1]][ttl] += v
		}
	}
	if len(sent) != 4 {
		t.Fatalf("want 4 hops, got sent %v", sent)
	}
	var lostBeyond float64
	for ttl, s := range sent {
		// Probes the routers' ICMP rate limit explains are not loss.
		s -= limited[ttl]
		lost := s - recv[ttl]
		switch {
		case ttl <= 2 && lost != 0:
			t.Errorf("hop %d lost %v probes before the lossy router", ttl, lost)
		case ttl > 2:
			lostBeyond += lost
		}
		loss := -1.0
		for k, v := range m {
			if strings.HasPrefix(k, "netdx_trace_hop_loss_ratio{") && strings.Contains(k, `hop="`+strconv.Itoa(ttl)+`"`) {
				loss = v
			}
		}
		if want := lost / s; loss != want {
			t.Errorf("hop %d loss ratio %v, want %v", ttl, loss, want)
		}
	}
	dropped := float64(p.Hops[1][0].Relay.Settled(time.Second).Dropped)
	t.Logf("probes lost beyond router 2: %v; packets its relay dropped: %v", lostBeyond, dropped)
	if lostBeyond == 0 || lostBeyond > dropped {
		t.Errorf("probes lost beyond router 2: %v; its relay dropped %v", lostBeyond, dropped)
	}
	found := false
	for k := range m {
		found = found || strings.HasPrefix(k, `netdx_finding{id="path.forwarding_loss",severity="critical"`)
	}
	if !found {
		t.Errorf("no path.forwarding_loss finding: %v", findingSeries(m))
	}
}
