package probes_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/netdx/netdx/internal/netlab"
	"github.com/netdx/netdx/probes"
)

// traceIn runs a trace from inside ns.
func traceIn(t testing.TB, ns *netlab.NS, cfg probes.Config, o probes.OpenOptions) *probes.Trace {
	t.Helper()
	var nw probes.Network
	if err := ns.Do(func() (err error) {
		nw, err = probes.Open(cfg, o)
		return err
	}); err != nil {
		t.Fatalf("open probe sockets: %v", err)
	}
	defer nw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tr, err := (&probes.Tracer{Net: nw}).Run(ctx, cfg, nil)
	if err != nil {
		t.Fatalf("trace: %v", err)
	}
	return tr
}

// hopList renders each hop as "ttl addr[,addr] loss%" for messages.
func hopList(tr *probes.Trace) string {
	var b strings.Builder
	for _, h := range tr.Hops {
		var addrs []string
		for _, r := range h.Responders {
			addrs = append(addrs, fmt.Sprintf("%s×%d", r.Addr, r.Recv))
		}
		fmt.Fprintf(&b, "  %2d %-40s sent %d loss %.0f%%\n", h.TTL, strings.Join(addrs, ","), h.Sent, h.LossPct())
	}
	return b.String()
}

// wantHops checks the exact responder of every hop and the loss.
func wantHops(t *testing.T, tr *probes.Trace, want []netip.Addr) {
	t.Helper()
	if len(tr.Hops) != len(want) {
		t.Fatalf("got %d hops, want %d:\n%s", len(tr.Hops), len(want), hopList(tr))
	}
	for i, h := range tr.Hops {
		if len(h.Responders) != 1 || h.Responders[0].Addr != want[i] {
			t.Errorf("hop %d: responders %v, want only %s\n%s", h.TTL, h.Responders, want[i], hopList(tr))
		}
	}
}

func TestLabCleanPathICMP(t *testing.T) {
	p := netlab.NewPath(t, netlab.PathSpec{Routers: make([]netlab.RouterSpec, 3)})
	tr := traceIn(t, p.Prober, probes.Config{Target: p.TargetAddr.V4, Count: 5}, probes.OpenOptions{})
	want := []netip.Addr{p.Hops[0][0].In.V4, p.Hops[1][0].In.V4, p.Hops[2][0].In.V4, p.TargetAddr.V4}
	wantHops(t, tr, want)
	t.Logf("\n%s", hopList(tr))
}

func routerAddrs(p *netlab.Path, v6 bool) []netip.Addr {
	var out []netip.Addr
	for _, hop := range p.Hops {
		a := hop[0].In.V4
		if v6 {
			a = hop[0].In.V6
		}
		out = append(out, a)
	}
	t := p.TargetAddr.V4
	if v6 {
		t = p.TargetAddr.V6
	}
	return append(out, t)
}

func TestLabMethods(t *testing.T) {
	p := netlab.NewPath(t, netlab.PathSpec{Routers: make([]netlab.RouterSpec, 3)})
	alias := 0
	for _, v6 := range []bool{false, true} {
		for _, m := range []probes.Method{probes.ICMP, probes.UDP, probes.TCP} {
			for _, unpriv := range []bool{false, true} {
				for _, paris := range []bool{false, true} {
					name := fmt.Sprintf("%s/v6=%v/unpriv=%v/paris=%v", m, v6, unpriv, paris)
					t.Run(name, func(t *testing.T) {
						// Routers at kernel defaults keep one ICMP
						// budget per prober address, 1 s a token
						// for IPv4: each IPv4 run traces from an
						// address of its own. IPv6's budget
						// (100 ms) serves them all.
						target, source := p.TargetAddr.V6, netip.Addr{}
						if !v6 {
							alias++
							target, source = p.TargetAddr.V4, p.ProberAlias(t, alias)
						}
						if unpriv && m == probes.ICMP {
							// Root is in group 0, which the default
							// ping_group_range "1 0" leaves out.
							if err := p.Prober.SetSysctl("net/ipv4/ping_group_range", "0 0"); err != nil {
								t.Fatal(err)
							}
						}
						tr := traceIn(t, p.Prober, probes.Config{Target: target, Source: source, Method: m, Paris: paris, Count: 3},
							probes.OpenOptions{Unprivileged: unpriv})
						wantHops(t, tr, routerAddrs(p, v6))
						for _, h := range tr.Hops {
							if h.Recv != h.Sent || h.Sent != 3 {
								t.Errorf("hop %d: %d of %d answered, want 3 of 3\n%s", h.TTL, h.Recv, h.Sent, hopList(tr))
							}
						}
						wantKind := map[probes.Method]probes.ReplyKind{probes.ICMP: probes.KindEchoReply,
							probes.UDP: probes.KindPortUnreachable, probes.TCP: probes.KindTCPReset}[m]
						if last := tr.Hops[len(tr.Hops)-1]; len(last.Responders) > 0 && last.Responders[0].Kind != wantKind {
							t.Errorf("destination answered %s, want %s", last.Responders[0].Kind, wantKind)
						}
						if tr.End != probes.EndReached {
							t.Errorf("end %s, want reached", tr.End)
						}
					})
				}
			}
		}
	}
}

func TestLabImpairments(t *testing.T) {
	t.Run("rate_limited_middle_router", func(t *testing.T) {
		p := netlab.NewPath(t, netlab.PathSpec{Routers: []netlab.RouterSpec{{}, {RateLimit: time.Second}, {}}})
		tr := traceIn(t, p.Prober, probes.Config{Target: p.TargetAddr.V4, Count: 10}, probes.OpenOptions{})
		wantHops(t, tr, routerAddrs(p, false))
		if h := tr.Hops[1]; h.Recv == h.Sent {
			t.Errorf("rate-limited hop answered every probe:\n%s", hopList(tr))
		}
		if h := tr.Hops[3]; h.Recv != h.Sent {
			t.Errorf("destination lost probes:\n%s", hopList(tr))
		}
		if h := tr.Hops[1]; h.ForwardLost != 0 {
			t.Errorf("rate-limited hop's losses classified as forward loss: %d", h.ForwardLost)
		}
	})
	t.Run("forwarding_loss", func(t *testing.T) {
		p := netlab.NewPath(t, netlab.PathSpec{Routers: []netlab.RouterSpec{{}, {Impair: netlab.Impairment{Loss: 0.3, Seed: 7}}, {}}})
		tr := traceIn(t, p.Prober, probes.Config{Target: p.TargetAddr.V4, Count: 20}, probes.OpenOptions{})
		t.Logf("\n%s", hopList(tr))
		for i, h := range tr.Hops {
			// Beyond router 2; the routers' rate-limited answers
			// (Limited) are not loss.
			lossy := i >= 2
			if lossy != (h.Lost() > 0) {
				t.Errorf("hop %d: %d of %d answered, %d rate-limited; want loss only beyond router 2", h.TTL, h.Recv, h.Sent, h.Limited)
			}
		}
		if st := p.Hops[1][0].Relay.Settled(time.Second); st.Dropped == 0 {
			t.Errorf("relay dropped nothing: %+v", st)
		}
	})
	t.Run("silent_router", func(t *testing.T) {
		p := netlab.NewPath(t, netlab.PathSpec{Routers: []netlab.RouterSpec{{}, {Silent: true}, {}}})
		for _, v6 := range []bool{false, true} {
			target := p.TargetAddr.V4
			if v6 {
				target = p.TargetAddr.V6
			}
			tr := traceIn(t, p.Prober, probes.Config{Target: target, Count: 3}, probes.OpenOptions{})
			if len(tr.Hops) != 4 || tr.Hops[1].Recv != 0 || tr.Hops[2].Recv != 3 || tr.Hops[3].Recv != 3 {
				t.Errorf("v6=%v: want hop 2 silent and the rest answering:\n%s", v6, hopList(tr))
			}
		}
	})
	t.Run("prohibit", func(t *testing.T) {
		p := netlab.NewPath(t, netlab.PathSpec{Routers: []netlab.RouterSpec{{}, {Prohibit: true}, {}}})
		tr := traceIn(t, p.Prober, probes.Config{Target: p.TargetAddr.V4, Count: 2}, probes.OpenOptions{})
		if tr.End != probes.EndUnreachable || len(tr.Hops) != 2 || tr.Hops[1].Responders[0].Kind != probes.KindAdminProhibited {
			t.Errorf("end %s, want unreachable with admin-prohibited at hop 2:\n%s", tr.End, hopList(tr))
		}
	})
	t.Run("ecmp", func(t *testing.T) {
		p := netlab.NewPath(t, netlab.PathSpec{Routers: []netlab.RouterSpec{{}, {ECMP: true}, {}}})
		both := []netip.Addr{p.Hops[1][0].In.V4, p.Hops[1][1].In.V4}
		// A fixed interval: this is about which router answers, not
		// how often.
		classic := traceIn(t, p.Prober, probes.Config{Target: p.TargetAddr.V4, Method: probes.UDP, Count: 16, Interval: 50 * time.Millisecond}, probes.OpenOptions{})
		if got := len(classic.Hops[1].Responders); got != 2 {
			t.Errorf("classic UDP saw %d responders at the ECMP hop, want both %v:\n%s", got, both, hopList(classic))
		}
		for i := 0; i < 3; i++ {
			paris := traceIn(t, p.Prober, probes.Config{Target: p.TargetAddr.V4, Method: probes.UDP, Paris: true, Count: 8, Interval: 50 * time.Millisecond}, probes.OpenOptions{})
			if got := len(paris.Hops[1].Responders); got != 1 {
				t.Errorf("Paris UDP saw %d responders at the ECMP hop, want one per flow:\n%s", got, hopList(paris))
			}
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		p := netlab.NewPath(t, netlab.PathSpec{Routers: make([]netlab.RouterSpec, 3)})
		methods := []probes.Config{
			{Target: p.TargetAddr.V4, Count: 5},
			{Target: p.TargetAddr.V4, Count: 5},
			{Target: p.TargetAddr.V4, Method: probes.UDP, Count: 5},
			{Target: p.TargetAddr.V4, Method: probes.UDP, Paris: true, Count: 5},
			{Target: p.TargetAddr.V4, Method: probes.TCP, Count: 5},
		}
		// Routers keep one ICMP budget per prober address: traces
		// from one address share it (see docs/trace.md). Each trace
		// here has its own address, so the counts below are exact.
		for i := range methods {
			methods[i].Source = p.ProberAlias(t, i+1)
		}
		res := make([]*probes.Trace, len(methods))
		done := make(chan int)
		for i, cfg := range methods {
			go func() {
				res[i] = traceIn(t, p.Prober, cfg, probes.OpenOptions{})
				done <- i
			}()
		}
		for range methods {
			<-done
		}
		for i, tr := range res {
			if tr == nil {
				continue
			}
			wantHops(t, tr, routerAddrs(p, false))
			for _, h := range tr.Hops {
				if h.Sent != 5 || h.Recv != 5 {
					t.Errorf("trace %d (%s): hop %d %d of %d answered, want 5 of 5", i, tr.Config.Method, h.TTL, h.Recv, h.Sent)
				}
			}
			if tr.Stray != 0 {
				t.Logf("trace %d: %d stray replies", i, tr.Stray)
			}
		}
	})
}
