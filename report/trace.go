package report

import (
	"time"

	"github.com/netdx/netdx/probes"
)

// Trace is the JSON form of one traced path: how it was probed, why it
// ended, and every hop with every address that answered for it.
type Trace struct {
	// Target is what was traced.
	Target TraceTarget `json:"target"`
	// Probe records how the probes were sent.
	Probe TraceProbe `json:"probe"`
	// StartedAt is when the first round was sent (RFC 3339).
	StartedAt time.Time `json:"started_at"`
	// EndedAt is when the trace ended (RFC 3339).
	EndedAt time.Time `json:"ended_at"`
	// Rounds is the number of completed rounds (probes per TTL).
	Rounds int `json:"rounds"`
	// EndReason is "reached", "max_ttl", "unreachable" or
	// "not_finished".
	EndReason string `json:"end_reason"`
	// DestinationTTL is the hop at which the destination answered.
	DestinationTTL *int `json:"destination_ttl,omitempty"`
	// Hops has one entry per TTL probed, from first_ttl up to the destination's
	// hop (or max_ttl).
	Hops []TraceHop `json:"hops"`
	// StrayReplies counts replies that matched no probe in flight: late
	// answers to probes already counted lost, and duplicates.
	StrayReplies int `json:"stray_replies"`
	// LossOnset says where the loss to the destination begins and how the
	// trace placed it; absent when the destination lost no probe within
	// its budget.
	LossOnset *TraceOnset `json:"loss_onset,omitempty"`
}

// TraceOnset is where forwarding loss begins, as the probes place it.
type TraceOnset struct {
	// Placed is true when the onset is one link: clean_ttl is the hop right
	// before ttl (or ttl is the first hop probed).
	Placed bool `json:"placed"`
	// TTL is the first hop from which a significant loss persists to the
	// destination; absent when the probes cannot place it.
	TTL *int `json:"ttl,omitempty"`
	// CleanTTL is the nearest earlier hop losing significantly less; absent
	// when the loss begins between the prober and the first hop, or is not
	// placed.
	CleanTTL *int `json:"clean_ttl,omitempty"`
	// ConfidencePct is the one-sided confidence, in percent, that the loss
	// from ttl on exceeds the clean hop's.
	ConfidencePct float64 `json:"confidence_pct"`
	// MoreProbes estimates how many more probes per hop would place the onset
	// at the loss rates measured; 0 when placed.
	MoreProbes int `json:"more_probes"`
	// Extended is true when the destination had lost probes after the planned
	// rounds and the trace went on probing to place the onset.
	Extended bool `json:"extended"`
	// TookMs is how long after the start the onset was placed while the trace
	// went on, in milliseconds; absent when it was not.
	TookMs *float64 `json:"took_ms,omitempty"`
	// LimitMs is how long the trace was allowed to go on for, from its start,
	// in milliseconds; absent when it did not go on.
	LimitMs *float64 `json:"limit_ms,omitempty"`
}

// TraceTarget is what was traced.
type TraceTarget struct {
	// Name is the name given on the command line; IP what it resolved to.
	Name string `json:"name"`
	// IP is the address traced.
	IP string `json:"ip"`
	// Family is the address family traced: "ipv4" or "ipv6".
	Family string `json:"family"`
}

// TraceProbe records the probe parameters.
type TraceProbe struct {
	// Method is the probe protocol: "icmp" (echo requests), "udp" or
	// "tcp" (SYNs).
	Method string `json:"method"`
	// Paris is true when every probe kept one flow (ports, checksum
	// varied instead), so load balancers kept one path.
	Paris bool `json:"paris"`
	// Port is the destination port of UDP and TCP probes; absent for ICMP.
	Port *int `json:"port,omitempty"`
	// Sockets is "raw" (CAP_NET_RAW) or "datagram" (unprivileged).
	Sockets string `json:"sockets"`
	// Count is the number of rounds asked for; 0 when the live view ran until
	// stopped.
	Count int `json:"count"`
	// IntervalMs is the time between rounds, in milliseconds; 0 when probes
	// were paced within the hops' ICMP budgets.
	IntervalMs float64 `json:"interval_ms"`
	// Pacing is "icmp_budget" when each TTL's probes were paced within its
	// responder's ICMP rate limit, "fixed" with --interval.
	Pacing string `json:"pacing"`
	// TimeoutMs is how long a probe waited for its answer before it counted as
	// lost, in milliseconds.
	TimeoutMs float64 `json:"timeout_ms"`
	// FirstTTL is the first TTL probed.
	FirstTTL int `json:"first_ttl"`
	// MaxTTL is the largest TTL probed.
	MaxTTL int `json:"max_ttl"`
	// SizeBytes is the probe packet size in bytes, IP header included; absent for
	// the default (the smallest that carries netdx's identifiers).
	SizeBytes int `json:"size_bytes,omitempty"`
	// TOS is the IPv4 type of service or IPv6 traffic class byte of the probes.
	TOS int `json:"tos"`
	// Source is the source address asked for (--source); absent for the route's.
	Source string `json:"source,omitempty"`
	// Interface is the interface asked for (--interface); absent for the route's.
	Interface string `json:"interface,omitempty"`
}

// TraceHop is everything seen at one TTL.
type TraceHop struct {
	// TTL is the probes' time to live (hop limit): the hop's position on the
	// path.
	TTL int `json:"ttl"`
	// Sent counts the probes sent with this TTL.
	Sent int `json:"sent"`
	// Received counts the answers to them, from any responder.
	Received int `json:"received"`
	// LossPct is the share of the probes left unanswered, in percent (0-100), as
	// mtr's Loss%: rate-limited answers included. ForwardingLossPct leaves them
	// out.
	LossPct float64 `json:"loss_pct"`
	// RateLimited counts the unanswered probes the responder's fitted ICMP
	// budget explains: the router had no token to answer with.
	RateLimited int `json:"rate_limited"`
	// ForwardingLossPct is the share of the other probes (sent minus
	// rate_limited) left unanswered, in percent (0-100): the loss the path
	// shows at this hop. The live table's LOSS%.
	ForwardingLossPct float64 `json:"forwarding_loss_pct"`
	// EchoWitness counts the echo requests sent to the hop's own address
	// while the trace placed loss (ICMP traces): a second witness of the loss
	// up to the hop. Absent when none were sent.
	EchoWitness *EchoWitness `json:"echo_witness,omitempty"`
	// ForwardLost counts lost probes after which every deeper probe of
	// the same round was lost too; the other lost probes had a deeper
	// probe answer, so the packet went on and only the answer was missing.
	ForwardLost int `json:"forward_lost"`
	// Destination is true on the hop where the destination itself answered.
	Destination bool `json:"destination"`
	// RTT summarises every reply at this TTL, from any responder.
	RTT *RTTStats `json:"rtt,omitempty"`
	// Responders lists every address that answered at this TTL, most answers
	// first; empty when none did.
	Responders []TraceResponder `json:"responders"`
}

// RTTStats are round-trip statistics in milliseconds.
type RTTStats struct {
	// Samples counts the round trips measured.
	Samples int `json:"samples"`
	// LastMs is the last round trip, in milliseconds.
	LastMs float64 `json:"last_ms"`
	// AvgMs is the mean round trip, in milliseconds.
	AvgMs float64 `json:"avg_ms"`
	// BestMs is the shortest round trip, in milliseconds.
	BestMs float64 `json:"best_ms"`
	// WorstMs is the longest round trip, in milliseconds.
	WorstMs float64 `json:"worst_ms"`
	// StDevMs is the sample standard deviation of the round trips, in
	// milliseconds.
	StDevMs float64 `json:"stdev_ms"`
	// P50Ms is the median round trip (nearest rank), in milliseconds.
	P50Ms float64 `json:"p50_ms"`
	// P95Ms is the 95th percentile round trip (nearest rank), in milliseconds.
	P95Ms float64 `json:"p95_ms"`
	// JitterMs is the mean absolute difference between consecutive
	// replies; JitterMaxMs the largest.
	JitterMs float64 `json:"jitter_ms"`
	// JitterMaxMs is the largest difference between consecutive round trips, in
	// milliseconds.
	JitterMaxMs float64 `json:"jitter_max_ms"`
}

// TraceResponder is one address that answered at a hop.
type TraceResponder struct {
	// IP is the address that answered.
	IP string `json:"ip"`
	// Name is its reverse DNS name; absent with --no-dns or when it has none.
	Name string `json:"name,omitempty"`
	// Received counts the answers from this address.
	Received int `json:"received"`
	// RTT summarises this address's own answers.
	RTT *RTTStats `json:"rtt,omitempty"`
	// ICMP describes the last answer.
	Reply ReplyInfo `json:"reply"`
	// ReplyTTL is the remaining TTL of the last answer; absent when the
	// sockets cannot read it.
	ReplyTTL *int `json:"reply_ttl,omitempty"`
	// ReturnHops is the return path's length estimated from ReplyTTL, counted
	// like a TTL; absent when the reply TTL is unknown.
	ReturnHops *int `json:"return_hops,omitempty"`
	// Asymmetric is set when ReturnHops differs from the TTL by two or
	// more: the answer came back another way.
	Asymmetric bool `json:"asymmetric"`
	// MPLS lists each label stack the router reported (RFC 4950).
	MPLS [][]MPLSLabel `json:"mpls,omitempty"`
	// ICMPBudget is the ICMP rate limit fitted to its answers; absent when it
	// answered freely.
	ICMPBudget *ICMPBudget `json:"icmp_budget,omitempty"`
}

// EchoWitness counts echo requests to a hop's own address.
type EchoWitness struct {
	// Sent counts the echo requests sent to the hop's address.
	Sent int `json:"sent"`
	// Received counts the echo replies.
	Received int `json:"received"`
	// RateLimited counts the unanswered ones a rate limit fitted to the
	// replies explains.
	RateLimited int `json:"rate_limited"`
}

// ICMPBudget is a responder's ICMP rate limit as a token bucket.
type ICMPBudget struct {
	// Burst is how many answers it sends at once.
	Burst int `json:"burst"`
	// IntervalMs is the time per further answer, in milliseconds.
	IntervalMs float64 `json:"interval_ms"`
	// AnswersPerS is the sustained answer rate, per second.
	AnswersPerS float64 `json:"answers_per_s"`
}

// ReplyInfo names what answered: "time_exceeded", "echo_reply",
// "port_unreachable", "admin_prohibited", "tcp_syn_ack", "tcp_reset"...
type ReplyInfo struct {
	// Kind names the answer: time_exceeded, echo_reply, port_unreachable,
	// protocol_unreachable, net_unreachable, host_unreachable, admin_prohibited,
	// unreachable (another code), packet_too_big, parameter_problem, tcp_syn_ack
	// or tcp_reset.
	Kind string `json:"kind"`
	// ICMPType and ICMPCode are absent for TCP answers.
	ICMPType *int `json:"icmp_type,omitempty"`
	// ICMPCode is the ICMP code of the last answer; absent for TCP answers.
	ICMPCode *int `json:"icmp_code,omitempty"`
}

// MPLSLabel is one label stack entry.
type MPLSLabel struct {
	// Label is the 20-bit MPLS label.
	Label int `json:"label"`
	// TC is the traffic class (3 bits).
	TC int `json:"tc"`
	// BottomOfStack is the S bit: the last entry of the stack.
	BottomOfStack bool `json:"s"`
	// TTL is the label entry's time to live.
	TTL int `json:"ttl"`
}

// NewTrace converts an engine trace into its JSON form.
func NewTrace(tr *probes.Trace) Trace {
	c := tr.Config
	out := Trace{
		Target: TraceTarget{Name: c.TargetName, IP: c.Target.String(), Family: "ipv4"},
		Probe: TraceProbe{Method: string(c.Method), Paris: c.Paris, Sockets: tr.Network, Count: c.Count,
			IntervalMs: Millis(c.Interval), Pacing: "fixed", TimeoutMs: Millis(c.Timeout), FirstTTL: c.FirstTTL, MaxTTL: c.MaxTTL,
			SizeBytes: c.Size, TOS: c.TOS, Interface: c.Interface},
		StartedAt:    tr.Started,
		EndedAt:      tr.Ended,
		Rounds:       tr.Rounds,
		EndReason:    string(tr.End),
		Hops:         []TraceHop{},
		StrayReplies: tr.Stray,
	}
	if out.Target.Name == "" {
		out.Target.Name = out.Target.IP
	}
	if tr.Paced {
		out.Probe.Pacing = "icmp_budget"
	}
	out.LossOnset = traceOnset(tr)
	if c.Target.Is6() && !c.Target.Is4In6() {
		out.Target.Family = "ipv6"
	}
	if c.Method != probes.ICMP {
		p := c.Port
		out.Probe.Port = &p
	}
	if c.Source.IsValid() {
		out.Probe.Source = c.Source.String()
	}
	if tr.DestTTL > 0 {
		d := tr.DestTTL
		out.DestinationTTL = &d
	}
	for _, h := range tr.Hops {
		th := TraceHop{TTL: h.TTL, Sent: h.Sent, Received: h.Recv, LossPct: Round(h.UnansweredPct(), 3),
			RateLimited: h.Limited, ForwardingLossPct: Round(h.LossPct(), 3),
			ForwardLost: h.ForwardLost, Destination: h.Dest, RTT: rttStats(h.Stats), Responders: []TraceResponder{}}
		if e := h.Echo; e.Sent > 0 {
			th.EchoWitness = &EchoWitness{Sent: e.Sent, Received: e.Recv, RateLimited: e.Limited}
		}
		for _, r := range h.Responders {
			tr := TraceResponder{IP: r.Addr.String(), Name: r.Name, Received: r.Recv, RTT: rttStats(r.Stats),
				Reply: ReplyInfo{Kind: string(r.Kind)}, Asymmetric: r.Asymmetric(h.TTL)}
			if r.Type >= 0 {
				t, code := r.Type, r.Code
				tr.Reply.ICMPType, tr.Reply.ICMPCode = &t, &code
			}
			if r.ReplyTTL > 0 {
				v, rh := r.ReplyTTL, r.ReturnHops
				tr.ReplyTTL, tr.ReturnHops = &v, &rh
			}
			if b := r.Budget; !b.Free() {
				tr.ICMPBudget = &ICMPBudget{Burst: b.Burst, IntervalMs: Millis(b.Interval), AnswersPerS: Round(b.PerSecond(), 3)}
			}
			for _, stack := range r.MPLS {
				var s []MPLSLabel
				for _, l := range stack {
					s = append(s, MPLSLabel{Label: l.Label, TC: l.TC, BottomOfStack: l.S, TTL: l.TTL})
				}
				tr.MPLS = append(tr.MPLS, s)
			}
			th.Responders = append(th.Responders, tr)
		}
		out.Hops = append(out.Hops, th)
	}
	return out
}

// traceOnset is the JSON form of where the trace's loss begins, nil when
// the destination lost nothing.
func traceOnset(tr *probes.Trace) *TraceOnset {
	o, l := tr.Onset, tr.Localised
	if len(tr.Hops) == 0 || tr.End != probes.EndReached || tr.Hops[len(tr.Hops)-1].Lost() == 0 {
		return nil
	}
	out := &TraceOnset{Placed: o.Placed, ConfidencePct: Round(100*o.Confidence, 3), MoreProbes: o.MoreProbes, Extended: l.Extended}
	if o.TTL > 0 {
		v := o.TTL
		out.TTL = &v
	}
	if o.CleanTTL > 0 {
		v := o.CleanTTL
		out.CleanTTL = &v
	}
	if l.Took > 0 {
		v := Millis(l.Took)
		out.TookMs = &v
	}
	if l.Extended {
		v := Millis(l.Limit)
		out.LimitMs = &v
	}
	return out
}

func rttStats(s probes.RTTStats) *RTTStats {
	if s.N == 0 {
		return nil
	}
	return &RTTStats{Samples: s.N, LastMs: Millis(s.Last), AvgMs: Millis(s.Avg), BestMs: Millis(s.Best), WorstMs: Millis(s.Worst),
		StDevMs: Millis(s.StDev), P50Ms: Millis(s.P50), P95Ms: Millis(s.P95), JitterMs: Millis(s.JitterMean), JitterMaxMs: Millis(s.JitterMax)}
}
