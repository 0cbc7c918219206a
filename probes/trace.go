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
	Count    int
	Interval time.Duration
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

// Defaults used when a Config field is zero. The interval is shorter than
// mtr's one second so a ten-round report takes about three seconds; the
// timeout is long enough for an intercontinental round trip.
const (
	DefaultInterval = 200 * time.Millisecond
	DefaultTimeout  = time.Second
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
	if c.Interval <= 0 {
		c.Interval = DefaultInterval
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
	Stats       RTTStats
	// Responders are the addresses that answered, most replies first.
	Responders []Responder
	// Dest is set on the hop at which the destination answered.
	Dest bool
}

// LossPct is the share of probes at this TTL that got no reply, 0-100.
func (h Hop) LossPct() float64 {
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
