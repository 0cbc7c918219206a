// Package probestest provides a scripted probes.Network for tests: a
// scenario file describes each hop (who answers, how fast, how often) and
// where packets are lost, and the network answers probes accordingly.
package probestest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/netdx/netdx/probes"
)

// Scenario is a scripted path.
type Scenario struct {
	Target netip.Addr `json:"target"`
	Seed   uint64     `json:"seed"`
	// Hops are TTL 1, 2, ...; the last one is the destination.
	Hops []Hop `json:"hops"`
}

// Hop is one router (or the destination, last).
type Hop struct {
	// Addrs answer in turn (ECMP); one address for most hops.
	Addrs []netip.Addr `json:"addrs"`
	// RTTMs is the round trip to this hop.
	RTTMs float64 `json:"rtt_ms"`
	// JitterMs adds a uniform random 0..JitterMs to every reply.
	JitterMs float64 `json:"jitter_ms"`
	// ICMPDelayMs delays only this hop's own answers (a slow control
	// plane), not packets it forwards.
	ICMPDelayMs float64 `json:"icmp_delay_ms"`
	// AnswerRate is the share of probes expiring here that get an answer
	// (rate limiting); 0 means 1.
	AnswerRate float64 `json:"answer_rate"`
	// Silent hops never answer.
	Silent bool `json:"silent"`
	// BudgetMs and BudgetBurst limit the hop's answers as a Linux
	// router's ICMP rate limit does: a bucket of BudgetBurst tokens,
	// one more every BudgetMs, one token per answer, starting full.
	// BudgetMs 0 sets no limit; BudgetBurst 0 means 6.
	BudgetMs    float64 `json:"budget_ms"`
	BudgetBurst int     `json:"budget_burst"`
	// ForwardLoss drops this share of packets passing through the hop,
	// in each direction.
	ForwardLoss float64 `json:"forward_loss"`
	// Kind overrides the answer ("admin_prohibited"); by default a
	// router answers time_exceeded and the destination echo_reply.
	Kind     probes.ReplyKind   `json:"kind"`
	Type     int                `json:"type"`
	Code     int                `json:"code"`
	ReplyTTL int                `json:"reply_ttl"`
	MPLS     []probes.MPLSLabel `json:"mpls"`
}

// Load reads a scenario from a JSON file.
func Load(path string) (*Scenario, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s Scenario
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if !s.Target.IsValid() || len(s.Hops) == 0 {
		return nil, fmt.Errorf("%s: a scenario needs a target and hops", path)
	}
	return &s, nil
}

// Network answers probes as the scenario says. Replies are delivered in
// real time after their round trip, so keep RTTs small in unit tests.
type Network struct {
	s       *Scenario
	mu      sync.Mutex
	replies chan probes.Reply
	done    chan struct{}
	once    sync.Once
	// Sent counts probes per TTL.
	Sent map[int]int
	// buckets holds each budgeted hop's tokens, in milliseconds.
	buckets map[int]*bucket
}

// bucket is one hop's ICMP budget state.
type bucket struct {
	tokens float64
	last   time.Time
}

// allow spends a token of hop i's budget at t, as inet_peer_xrlim_allow.
func (n *Network) allow(i int, t time.Time) bool {
	h := n.s.Hops[i]
	if h.BudgetMs <= 0 {
		return true
	}
	burst := h.BudgetBurst
	if burst == 0 {
		burst = 6
	}
	capMs := float64(burst) * h.BudgetMs
	b := n.buckets[i]
	if b == nil {
		b = &bucket{tokens: capMs, last: t}
		n.buckets[i] = b
	}
	b.tokens = min(capMs, b.tokens+float64(t.Sub(b.last))/float64(time.Millisecond))
	b.last = t
	if b.tokens >= h.BudgetMs {
		b.tokens -= h.BudgetMs
		return true
	}
	return false
}

// New makes a network for s.
func New(s *Scenario) *Network {
	return &Network{s: s, replies: make(chan probes.Reply, 4096),
		done: make(chan struct{}), Sent: map[int]int{}, buckets: map[int]*bucket{}}
}

// Kind implements probes.Network.
func (n *Network) Kind() string { return "scripted" }

// Send implements probes.Network.
func (n *Network) Send(_ context.Context, p probes.Probe) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.Sent[p.TTL]++
	// Each probe draws from a generator of its own, keyed by its TTL and
	// its number among that TTL's probes, so what happens to it does not
	// depend on the order in which the tracer sent the round.
	rng := rand.New(rand.NewPCG(n.s.Seed, uint64(p.TTL)<<32|uint64(n.Sent[p.TTL])))
	last := len(n.s.Hops) - 1
	at := min(p.TTL-1, last)
	echo := p.To.IsValid()
	if echo {
		// An echo request to a hop's own address: it crosses the
		// hops before that one, and the hop answers it freely.
		at = slices.IndexFunc(n.s.Hops, func(h Hop) bool { return slices.Contains(h.Addrs, p.To) })
		if at < 0 {
			return nil
		}
	}
	// Forward: every hop before the one where the probe ends may drop it.
	for i := 0; i < at; i++ {
		if rng.Float64() < n.s.Hops[i].ForwardLoss {
			return nil
		}
	}
	h := n.s.Hops[at]
	rate := h.AnswerRate
	if rate == 0 {
		rate = 1
	}
	if !echo && (h.Silent || rng.Float64() >= rate || !n.allow(at, time.Now())) {
		return nil
	}
	// Return: the answer passes the same hops back.
	for i := at - 1; i >= 0; i-- {
		if rng.Float64() < n.s.Hops[i].ForwardLoss {
			return nil
		}
	}
	kind := h.Kind
	typ := h.Type
	if echo {
		kind, typ = probes.KindEchoReply, 0
	}
	if kind == "" {
		kind, typ = probes.KindTimeExceeded, 11
		if at == last {
			kind, typ = probes.KindEchoReply, 0
		}
	}
	rtt := h.RTTMs + h.ICMPDelayMs + rng.Float64()*h.JitterMs
	from := h.Addrs[int(p.Seq)%len(h.Addrs)]
	if echo {
		from = p.To
	}
	// Received is when the reply arrives, as the kernel would stamp it,
	// even when this process runs the delivery late.
	d := time.Duration(rtt * float64(time.Millisecond))
	rep := probes.Reply{Seq: p.Seq, From: from, Kind: kind, Type: typ, Code: h.Code,
		TTL: h.ReplyTTL, MPLS: h.MPLS, Received: time.Now().Add(d)}
	time.AfterFunc(d, func() {
		select {
		case n.replies <- rep:
		case <-n.done:
		}
	})
	return nil
}

// Recv implements probes.Network.
func (n *Network) Recv(ctx context.Context) (probes.Reply, error) {
	select {
	case r := <-n.replies:
		return r, nil
	case <-ctx.Done():
		return probes.Reply{}, ctx.Err()
	case <-n.done:
		return probes.Reply{}, probes.ErrClosed
	}
}

// Close implements probes.Network.
func (n *Network) Close() error {
	n.once.Do(func() { close(n.done) })
	return nil
}

// Run traces the scenario with fast defaults (a fixed 1 ms interval) and
// count rounds. The timeout leaves the slowest hop a quarter of a second
// more, so a test on a loaded machine does not see late deliveries as
// loss; only lost probes wait for it.
func Run(s *Scenario, count int, method probes.Method) (*probes.Trace, error) {
	slowest := 0.0
	for _, h := range s.Hops {
		slowest = max(slowest, h.RTTMs+h.ICMPDelayMs+h.JitterMs)
	}
	nw := New(s)
	defer nw.Close()
	cfg := probes.Config{Target: s.Target, Method: method, Count: count, Interval: time.Millisecond,
		Timeout: time.Duration((slowest + 250) * float64(time.Millisecond)), MaxTTL: len(s.Hops) + 3}
	return (&probes.Tracer{Net: nw}).Run(context.Background(), cfg, nil)
}
