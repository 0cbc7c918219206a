package diagnose

import (
	"fmt"
	"math"
	"net/netip"

	"github.com/netdx/netdx/probes"
)

// Helpers the path rules share: how to name a hop, how sure a loss rate
// is, and which hops answered.

// wilson is the 95% Wilson score interval of a proportion k/n, in percent.
// It stays honest for the small samples a trace has (10 probes): 0 of 10
// lost still allows up to 28% loss.
func wilson(k, n int) (lo, hi float64) {
	if n == 0 {
		return 0, 100
	}
	const z = 1.96
	p, nf := float64(k)/float64(n), float64(n)
	den := 1 + z*z/nf
	mid := (p + z*z/(2*nf)) / den
	half := z * math.Sqrt(p*(1-p)/nf+z*z/(4*nf*nf)) / den
	return 100 * math.Max(0, mid-half), 100 * math.Min(1, mid+half)
}

// lossMargin is how far apart two loss fractions, p1 over n1 probes and
// p2 over n2, may lie by chance alone: two standard errors of their
// difference. The variance has a floor so that 0% and 100% do not claim
// certainty from a handful of probes.
func lossMargin(p1 float64, n1 int, p2 float64, n2 int) float64 {
	if n1 == 0 || n2 == 0 {
		return 1
	}
	v := func(p float64, n int) float64 { return math.Max(p*(1-p), 0.05) / float64(n) }
	return 2 * math.Sqrt(v(p1, n1)+v(p2, n2))
}

func lossFrac(h probes.Hop) float64 { return h.LossPct() / 100 }

// hopName is "hop 3 (198.18.3.2)", with every responder of an ECMP hop.
func hopName(h probes.Hop) string {
	switch len(h.Responders) {
	case 0:
		return fmt.Sprintf("hop %d (no answer)", h.TTL)
	case 1:
		return fmt.Sprintf("hop %d (%s)", h.TTL, addrName(h.Responders[0]))
	}
	return fmt.Sprintf("hop %d (%s and %d more)", h.TTL, addrName(h.Responders[0]), len(h.Responders)-1)
}

func addrName(r probes.Responder) string {
	if r.Name != "" {
		return r.Name + " " + r.Addr.String()
	}
	return r.Addr.String()
}

// traceSubject names the traced path for findings.
func traceSubject(tr *probes.Trace) string {
	c := tr.Config
	if c.TargetName != "" && c.TargetName != c.Target.String() {
		return fmt.Sprintf("path to %s (%s)", c.TargetName, c.Target)
	}
	return "path to " + c.Target.String()
}

// answering returns the indexes of hops that answered at least once.
func answering(tr *probes.Trace) []int {
	var out []int
	for i, h := range tr.Hops {
		if h.Recv > 0 {
			out = append(out, i)
		}
	}
	return out
}

// sampleNote warns when n probes are too few to trust a rate.
func sampleNote(n int) string {
	if n >= 50 {
		return ""
	}
	return fmt.Sprintf("Only %d samples per hop: figures are rough. Run with -c 100 (or longer) to narrow the confidence interval before acting on a small difference.", n)
}

// sameNetwork reports whether a and b share a /24 (IPv4) or /64 (IPv6).
func sameNetwork(a, b netip.Addr) bool {
	if !a.IsValid() || !b.IsValid() || a.Is4() != b.Is4() {
		return false
	}
	bits := 64
	if a.Is4() {
		bits = 24
	}
	pa, _ := a.Prefix(bits)
	return pa.Contains(b)
}
