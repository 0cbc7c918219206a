package probes_test

import (
	"context"
	"net/netip"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/netdx/netdx/probes"
	"github.com/netdx/netdx/probes/probestest"
)

func scenario(t *testing.T, name string) *probestest.Scenario {
	t.Helper()
	s, err := probestest.Load(filepath.Join("testdata", "scenarios", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func run(t *testing.T, name string, count int) (*probes.Trace, *probestest.Scenario) {
	t.Helper()
	s := scenario(t, name)
	var tr *probes.Trace
	synctest.Test(t, func(t *testing.T) {
		var err error
		if tr, err = probestest.Run(s, count, probes.ICMP); err != nil {
			t.Fatal(err)
		}
	})
	return tr, s
}

func TestEngineClean(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scenario(t, "clean")
		nw := probestest.New(s)
		cfg := probes.Config{Target: s.Target, Count: 5, Interval: 10 * time.Millisecond, Timeout: 50 * time.Millisecond}
		var rounds []int
		tr, err := (&probes.Tracer{Net: nw}).Run(context.Background(), cfg, func(tr *probes.Trace) { rounds = append(rounds, tr.Rounds) })
		if err != nil {
			t.Fatal(err)
		}
		if tr.End != probes.EndReached || tr.DestTTL != 4 || tr.Rounds != 5 || len(tr.Hops) != 4 {
			t.Fatalf("end %s dest %d rounds %d hops %d, want reached at 4 after 5 rounds\n%s", tr.End, tr.DestTTL, tr.Rounds, len(tr.Hops), hopList(tr))
		}
		if len(rounds) != 5 || rounds[4] != 5 {
			t.Errorf("onRound saw %v, want five snapshots ending at 5", rounds)
		}
		for i, h := range tr.Hops {
			if h.Sent != 5 || h.Recv != 5 || h.LossPct() != 0 || len(h.Responders) != 1 {
				t.Errorf("hop %d: %+v", h.TTL, h)
			}
			r := h.Responders[0]
			if r.ReturnHops != h.TTL || r.Asymmetric(h.TTL) {
				t.Errorf("hop %d: return hops %d from reply TTL %d, want %d", h.TTL, r.ReturnHops, r.ReplyTTL, h.TTL)
			}
			want := time.Duration(i+1) * time.Millisecond
			if h.Stats.Best < want || h.Stats.P50 > want+20*time.Millisecond {
				t.Errorf("hop %d: best %s p50 %s, want about %s", h.TTL, h.Stats.Best, h.Stats.P50, want)
			}
		}
		// Once the destination answered, nothing beyond it is probed again:
		// TTLs past 4 were sent in the first round only.
		for ttl := 5; ttl <= 30; ttl++ {
			if nw.Sent[ttl] > 1 {
				t.Errorf("TTL %d probed %d times after the destination answered at 4", ttl, nw.Sent[ttl])
			}
		}
		if tr.Hops[3].Responders[0].Kind != probes.KindEchoReply || !tr.Hops[3].Dest {
			t.Errorf("destination hop %+v", tr.Hops[3])
		}
	})
}

func TestEngineRateLimitIsNotForwardLoss(t *testing.T) {
	tr, _ := run(t, "rate_limited", 40)
	h := tr.Hops[1]
	if h.Recv == h.Sent || h.Recv == 0 {
		t.Fatalf("hop 2 answered %d of %d, want some", h.Recv, h.Sent)
	}
	if h.ForwardLost != 0 {
		t.Errorf("hop 2: %d losses classified forward, want 0 (deeper hops always answered)", h.ForwardLost)
	}
	if d := tr.Hops[3]; d.Recv != d.Sent {
		t.Errorf("destination lost %d", d.Sent-d.Recv)
	}
}

func TestEngineForwardLossClassification(t *testing.T) {
	tr, _ := run(t, "forwarding_loss", 60)
	for _, p := range tr.Probes {
		if p.Reply != nil && p.ForwardLoss {
			t.Fatalf("answered probe marked forward loss: %+v", p)
		}
	}
	// Every lost destination probe is forward loss by definition.
	d := tr.Hops[len(tr.Hops)-1]
	if d.ForwardLost != d.Sent-d.Recv || d.ForwardLost == 0 {
		t.Errorf("destination: forward lost %d, lost %d", d.ForwardLost, d.Sent-d.Recv)
	}
	// Beyond the lossy hop (TTL 3) loss is frequent; before it only the
	// rate-limited hop loses.
	if tr.Hops[0].Recv != tr.Hops[0].Sent {
		t.Errorf("hop 1 lost probes:\n%s", hopList(tr))
	}
}

func TestEngineECMPAndSilentAndMPLS(t *testing.T) {
	tr, _ := run(t, "ecmp", 10)
	if n := len(tr.Hops[1].Responders); n != 2 {
		t.Errorf("ECMP hop has %d responders, want 2\n%s", n, hopList(tr))
	}
	if got := tr.Hops[1].Responders[0].Recv + tr.Hops[1].Responders[1].Recv; got != tr.Hops[1].Recv {
		t.Errorf("responder counts %d do not add up to the hop's %d", got, tr.Hops[1].Recv)
	}
	tr, _ = run(t, "silent", 3)
	if tr.Hops[1].Recv != 0 || tr.Hops[1].Sent != 3 || tr.Hops[2].Recv != 3 {
		t.Errorf("silent hop:\n%s", hopList(tr))
	}
	tr, _ = run(t, "mpls", 2)
	r := tr.Hops[1].Responders[0]
	if len(r.MPLS) != 1 || r.MPLS[0][0].Label != 16005 || r.ReturnHops != 6 || !r.Asymmetric(2) {
		t.Errorf("MPLS hop: %+v", r)
	}
}

func TestEngineEndReasons(t *testing.T) {
	tr, _ := run(t, "prohibited", 2)
	if tr.End != probes.EndUnreachable || len(tr.Hops) != 2 || !tr.Hops[1].Responders[0].Kind.Filtering() {
		t.Errorf("prohibited: end %s\n%s", tr.End, hopList(tr))
	}
	tr, s := run(t, "unanswered", 2)
	if tr.End != probes.EndMaxTTL || tr.DestTTL != 0 {
		t.Errorf("unanswered: end %s", tr.End)
	}
	// Hops end one past the deepest answer.
	if len(tr.Hops) != 3 || tr.Hops[2].Recv != 0 || tr.Hops[1].Primary() != s.Hops[1].Addrs[0] {
		t.Errorf("unanswered hops:\n%s", hopList(tr))
	}
}

func TestEngineStopsOnContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scenario(t, "clean")
		nw := probestest.New(s)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Millisecond)
		defer cancel()
		tr, err := (&probes.Tracer{Net: nw}).Run(ctx, probes.Config{Target: s.Target, Interval: 10 * time.Millisecond}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if tr.Rounds < 2 || tr.End != probes.EndReached || tr.Ended.IsZero() {
			t.Errorf("after ctx end: rounds %d end %s", tr.Rounds, tr.End)
		}
	})
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []probes.Config{
		{},
		{Target: netip.MustParseAddr("198.18.0.1"), Method: "sctp"},
		{Target: netip.MustParseAddr("198.18.0.1"), FirstTTL: 5, MaxTTL: 3},
		{Target: netip.MustParseAddr("198.18.0.1"), Port: 70000},
	} {
		if _, err := (&probes.Tracer{Net: probestest.New(&probestest.Scenario{})}).Run(context.Background(), cfg, nil); err == nil {
			t.Errorf("config %+v accepted", cfg)
		}
	}
}

// TestEnginePacedDefaultRouters: routers that answer like Linux at its
// defaults (six, then one a second). Paced, every probe they leave
// unanswered is explained by their fitted budget and none is loss.
func TestEnginePacedDefaultRouters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scenario(t, "default_routers")
		nw := probestest.New(s)
		cfg := probes.Config{Target: s.Target, Count: 10, Timeout: 200 * time.Millisecond, MaxTTL: 8}
		tr, err := (&probes.Tracer{Net: nw}).Run(context.Background(), cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !tr.Paced || tr.Rounds != 10 || len(tr.Hops) != 4 {
			t.Fatalf("paced %v rounds %d hops %d\n%s", tr.Paced, tr.Rounds, len(tr.Hops), hopList(tr))
		}
		for _, h := range tr.Hops {
			if h.Lost() != 0 || h.Sent != 10 {
				t.Errorf("hop %d: %d lost of %d, %d rate-limited\n%s", h.TTL, h.Lost(), h.Sent, h.Limited, hopList(tr))
			}
			if !h.Dest && h.Responders[0].Budget != probes.LinuxBudget {
				t.Errorf("hop %d: fitted %+v, want Linux's", h.TTL, h.Responders[0].Budget)
			}
		}
		// Within the budget, the routers answer at least the burst and one a
		// second after it: no more than one probe each goes unanswered (the
		// one that confirms the limit).
		for _, h := range tr.Hops[:3] {
			if h.Limited > 1 {
				t.Errorf("hop %d: %d probes over budget, want at most 1", h.TTL, h.Limited)
			}
		}
	})
}

// TestEngineLocalises: 25% of what hop 2 forwards is lost, every router
// limits its answers like Linux. After its ten rounds the trace goes on,
// with echo witnesses to the hops' addresses, until the onset is one link.
func TestEngineLocalises(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scenario(t, "default_routers_loss")
		cfg := probes.Config{Target: s.Target, Count: 10, Timeout: 200 * time.Millisecond, MaxTTL: 8, Localise: 20 * time.Second}
		tr, err := (&probes.Tracer{Net: probestest.New(s)}).Run(context.Background(), cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		o := tr.Onset
		if !o.Placed || o.TTL != 3 || o.CleanTTL != 2 || o.Confidence < 0.95 {
			t.Errorf("onset %+v, want placed between hop 2 and hop 3\n%s", o, hopList(tr))
		}
		if !tr.Localised.Extended || tr.Localised.Took == 0 {
			t.Errorf("localisation %+v, want extended and placed", tr.Localised)
		}
		for _, h := range tr.Hops[:3] {
			if h.Echo.Sent == 0 {
				t.Errorf("hop %d: no echo witness", h.TTL)
			}
		}
		if e := tr.Hops[1].Echo; e.Recv != e.Sent {
			t.Errorf("hop 2, before the lossy link: echo %d of %d answered", e.Recv, e.Sent)
		}
	})
}
