// Package probes traces network paths hop by hop, the way mtr and Trippy
// do: every round sends one probe per TTL, all at once; replies are matched
// to their probe by the headers the router quoted; each hop keeps the
// statistics of every address that answered for it.
//
// The engine (Tracer) talks to the network through the Network interface;
// the Linux implementation opens raw sockets when it may and falls back to
// the unprivileged ICMP, UDP and TCP sockets the kernel allows otherwise.
package probes

import (
	"fmt"
	"net/netip"
	"time"
)

// Method is the kind of probe sent.
type Method string

// Probe methods.
const (
	ICMP Method = "icmp" // ICMP or ICMPv6 echo request
	UDP  Method = "udp"  // UDP datagram to a closed port
	TCP  Method = "tcp"  // TCP SYN to Config.Port
)

// Config is what to trace and how.
type Config struct {
	Target netip.Addr
	// TargetName is the name the user gave, kept for the report.
	TargetName string
	Method     Method
	// Paris keeps every probe's flow identifiers (addresses, protocol,
	// ports) the same, so routers that balance flows over equal-cost paths
	// send them all one way. UDP varies the checksum instead of the port;
	// TCP varies the sequence number. ICMP probes always are one flow.
	Paris bool
	// Port is the destination port of TCP probes, and of UDP probes in
	// Paris mode; classic UDP uses BasePort plus the probe's sequence.
	Port int
	// Count is the number of rounds; 0 runs until the context ends.
	Count int
	// Interval, when set, sends a round of probes, one per TTL, every
	// Interval whatever the hops' ICMP budgets. 0 paces each TTL's probes
	// within its responder's budget instead (Budget), no faster than one
	// per PaceInterval.
	Interval time.Duration
	// Localise, when set, lets a paced trace whose destination lost
	// probes go on after Count rounds until the onset of the loss is
	// placed on one link (LocateOnset) or Localise has passed since the
	// start; when the context has a deadline, until just before it
	// instead.
	Localise time.Duration
	// Timeout is how long a probe may wait for its reply before it counts
	// as lost.
	Timeout  time.Duration
	FirstTTL int
	MaxTTL   int
	// Size is the size of each probe's IP packet in bytes, headers
	// included; 0 uses the smallest that carries our identifiers.
	Size int
	// TOS is the IPv4 type of service or IPv6 traffic class byte.
	TOS       int
	Source    netip.Addr
	Interface string
}

// Defaults used when a Config field is zero. PaceInterval, the shortest
// time between two probes to one TTL, is shorter than mtr's one second so
// that a ten-round report over hops that answer freely takes about two
// seconds; the budgets slow down only the TTLs whose responders need it.
// The timeout is long enough for an intercontinental round trip.
// DefaultLocalise is how long a trace may spend placing loss: about what
// mtr -r -c 20 takes, which leaves the placing to the reader.
const (
	PaceInterval    = 200 * time.Millisecond
	DefaultTimeout  = time.Second
	DefaultLocalise = 20 * time.Second
	DefaultMaxTTL   = 30
	DefaultTCPPort  = 80
	DefaultUDPPort  = 33434
	// BasePort is the first destination port of classic UDP probes, as in
	// traceroute(8).
	BasePort = 33434
)

// withDefaults fills zero fields and checks the rest.
func (c Config) withDefaults() (Config, error) {
	if !c.Target.IsValid() {
		return c, fmt.Errorf("no target address")
	}
	if c.Method == "" {
		c.Method = ICMP
	}
	switch c.Method {
	case ICMP, UDP, TCP:
	default:
		return c, fmt.Errorf("unknown probe method %q (want icmp, udp or tcp)", c.Method)
	}
	if c.Interval < 0 {
		return c, fmt.Errorf("negative interval %s", c.Interval)
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.FirstTTL <= 0 {
		c.FirstTTL = 1
	}
	if c.MaxTTL <= 0 {
		c.MaxTTL = DefaultMaxTTL
	}
	if c.MaxTTL > 255 || c.FirstTTL > c.MaxTTL {
		return c, fmt.Errorf("first TTL %d and max TTL %d: want 1 <= first <= max <= 255", c.FirstTTL, c.MaxTTL)
	}
	if c.Port == 0 {
		switch c.Method {
		case TCP:
			c.Port = DefaultTCPPort
		case UDP:
			c.Port = DefaultUDPPort
		}
	}
	if c.Port < 0 || c.Port > 65535 {
		return c, fmt.Errorf("port %d out of range", c.Port)
	}
	if c.TOS < 0 || c.TOS > 255 {
		return c, fmt.Errorf("TOS %d out of range 0-255", c.TOS)
	}
	if c.Size < 0 || c.Size > 65000 {
		return c, fmt.Errorf("packet size %d out of range", c.Size)
	}
	return c, nil
}

// EndReason says why a trace stopped growing deeper.
type EndReason string

// End reasons.
const (
	EndReached     EndReason = "reached"      // the destination answered
	EndMaxTTL      EndReason = "max_ttl"      // nothing answered from the destination up to MaxTTL
	EndUnreachable EndReason = "unreachable"  // a hop said the destination is unreachable
	EndNoRounds    EndReason = "not_finished" // stopped before one round completed
)

// Trace is the result of tracing one path: the raw probe records and the
// per-hop statistics computed from them.
type Trace struct {
	Config Config
	// Network names how probes were sent: "raw", "datagram".
	Network string
	Started time.Time
	Ended   time.Time
	// Rounds is the number of completed rounds.
	Rounds int
	End    EndReason
	// DestTTL is the smallest TTL whose probe reached the destination, 0
	// when none did.
	DestTTL int
	// Probes holds every completed probe in send order.
	Probes []ProbeRecord
	// Hops are indexed by TTL-FirstTTL.
	Hops []Hop
	// Stray counts replies that matched no probe in flight: late replies
	// to probes already counted lost, or duplicates.
	Stray int
	// Paced is set when probes were paced within the responders' ICMP
	// budgets (Config.Interval 0).
	Paced bool
	// Onset is where the loss to the destination begins (LocateOnset).
	Onset Onset
	// Localised says how the trace went on to place the onset.
	Localised Localisation
}

// Localisation records a paced trace going on past its rounds to place
// where the destination's loss begins.
type Localisation struct {
	// Extended is set when, after Count rounds, the trace had loss it
	// could not account for (the destination lost probes and the onset
	// was not one link, or a hop lost probes the destination did not) and
	// went on probing.
	Extended bool
	// Took is how long after the start the onset was placed; 0 when it
	// was not.
	Took time.Duration
	// Limit is the time the trace was allowed (Config.Localise, or less
	// when the context ended first).
	Limit time.Duration
}

// ProbeRecord is one probe and its fate.
type ProbeRecord struct {
	Seq   uint16
	Round int
	TTL   int
	Sent  time.Time
	// Reply is nil when the probe was lost.
	Reply *Reply
	// ForwardLoss is set on a lost probe when every deeper probe of the
	// same round was lost too: the loss is consistent with the packet not
	// getting past this hop, rather than the hop not answering.
	ForwardLoss bool
	// OverBudget is set on a probe sent when its responder's estimated
	// ICMP budget had no token left: sent to learn whether the budget is
	// larger than estimated.
	OverBudget bool
	// Limited is set on a lost probe that its responder's fitted budget
	// explains: the router had no token to answer with. It is no
	// evidence of loss.
	Limited bool
}

// RTT is the probe's round-trip time, 0 when lost.
func (p ProbeRecord) RTT() time.Duration {
	if p.Reply == nil {
		return 0
	}
	return p.Reply.Received.Sub(p.Sent)
}

// Hop is everything seen at one TTL.
type Hop struct {
	TTL  int
	Sent int
	Recv int
	// ForwardLost counts lost probes classified as forward loss; the rest
	// of the lost ones had a deeper probe of their round answer.
	ForwardLost int
	// Limited counts unanswered probes the responder's ICMP budget
	// explains (ProbeRecord.Limited).
	Limited int
	// Echo counts the echo witnesses sent to the hop's own address while
	// the trace placed loss (ICMP traces).
	Echo  EchoWitness
	Stats RTTStats
	// Responders are the addresses that answered, most replies first.
	Responders []Responder
	// Dest is set on the hop at which the destination answered.
	Dest bool
}

// EchoWitness counts echo requests sent to a hop's own address, a second witness
// of the loss between the prober and that hop: the request and its reply
// cross the same links as the hop's time-exceeded probes, and routers
// answer echo from their data plane, without the time-exceeded budget.
type EchoWitness struct {
	Sent, Recv int
	// Limited counts the unanswered ones a budget fitted to the echo
	// replies explains (a router that limits them).
	Limited int
}

// Measured counts the probes that are evidence of loss: all but those the
// responder's ICMP budget explains.
func (h Hop) Measured() int { return h.Sent - h.Limited }

// Lost counts the measured probes left unanswered.
func (h Hop) Lost() int { return h.Sent - h.Recv - h.Limited }

// LossPct is the share of measured probes at this TTL that got no reply,
// 0-100: the loss, with rate-limited answers left out.
func (h Hop) LossPct() float64 {
	if h.Measured() <= 0 {
		return 0
	}
	return 100 * float64(h.Lost()) / float64(h.Measured())
}

func (h Hop) lossFrac() float64 {
	if h.Measured() <= 0 {
		return 0
	}
	return float64(h.Lost()) / float64(h.Measured())
}

// UnansweredPct is the share of all probes at this TTL that got no reply,
// 0-100, as mtr's Loss%.
func (h Hop) UnansweredPct() float64 {
	if h.Sent == 0 {
		return 0
	}
	return 100 * float64(h.Sent-h.Recv) / float64(h.Sent)
}

// Primary is the address that answered most often, invalid when none did.
func (h Hop) Primary() netip.Addr {
	if len(h.Responders) == 0 {
		return netip.Addr{}
	}
	return h.Responders[0].Addr
}

// Responder is one address that answered at a hop, with its own counts.
type Responder struct {
	Addr  netip.Addr
	Name  string
	Recv  int
	Stats RTTStats
	// Kind, Type and Code describe the last reply: "time_exceeded",
	// "echo_reply", "port_unreachable"...
	Kind ReplyKind
	Type int
	Code int
	// ReplyTTL is the remaining TTL (hop limit) of its last reply, 0 when
	// the socket could not tell.
	ReplyTTL int
	// ReturnHops estimates the return path's length from ReplyTTL,
	// counting the responder like a TTL does: with a symmetric path it
	// equals the hop's TTL. 0 when unknown.
	ReturnHops int
	// MPLS holds each distinct label stack the responder reported.
	MPLS [][]MPLSLabel
	// Budget is the ICMP budget fitted to its answers; zero when it
	// answered freely.
	Budget Budget
}

// Asymmetric reports whether the return path looks at least two hops
// longer or shorter than the forward one.
func (r Responder) Asymmetric(ttl int) bool {
	if r.ReturnHops == 0 {
		return false
	}
	d := r.ReturnHops - ttl
	return d >= 2 || d <= -2
}

// returnHops guesses the initial TTL the responder used (the smallest of
// 64, 128 and 255 at or above what arrived) and turns the remaining TTL
// into a hop count.
func returnHops(remaining int) int {
	if remaining <= 0 {
		return 0
	}
	for _, init := range []int{64, 128, 255} {
		if remaining <= init {
			return init - remaining + 1
		}
	}
	return 0
}
