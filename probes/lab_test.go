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
	for _, v6 := range []bool{false, true} {
		for _, m := range []probes.Method{probes.ICMP, probes.UDP, probes.TCP} {
			for _, unpriv := range []bool{false, true} {
				for _, paris := range []bool{false, true} {
					name := fmt.Sprintf("%s/v6=%v/unpriv=%v/paris=%v", m, v6, unpriv, paris)
					t.Run(name, func(t *testing.T) {
						target := p.TargetAddr.V4
						if v6 {
							target = p.TargetAddr.V6
						}
						if unpriv && m == probes.ICMP {
							// Root is in group 0, which the default
							// ping_group_range "1 0" leaves out.
							if err := p.Prober.SetSysctl("net/ipv4/ping_group_range", "0 0"); err != nil {
								t.Fatal(err)
							}
						}
						tr := traceIn(t, p.Prober, probes.Config{Target: target, Method: m, Paris: paris, Count: 3},
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
