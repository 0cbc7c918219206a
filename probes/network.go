package probes

import (
	"context"
	"errors"
	"net/netip"
	"time"
)

// Network sends probes and returns the replies that belong to them. An
// implementation matches each reply to the probe it answers by the
// identifiers it put in the probe (ICMP id and sequence, ports, checksum,
// TCP sequence number) and drops everything else, so several traces can run
// side by side in one network namespace.
type Network interface {
	// Send transmits one probe with the given TTL.
	Send(ctx context.Context, p Probe) error
	// Recv blocks until a reply to one of this network's probes arrives or
	// ctx ends. It returns ErrClosed after Close.
	Recv(ctx context.Context) (Reply, error)
	// Close releases the sockets.
	Close() error
	// Kind names how the network sends probes ("raw", "datagram").
	Kind() string
}

// Network kinds: raw sockets (CAP_NET_RAW), or the unprivileged datagram
// sockets the kernel allows.
const (
	KindRaw      = "raw"
	KindDatagram = "datagram"
)

// ErrClosed is returned by Recv after Close.
var ErrClosed = errors.New("probe network closed")

// Probe is one packet to send.
type Probe struct {
	// Seq identifies the probe within the trace; it wraps at 65536.
	Seq uint16
	TTL int
	// To, when valid, sends an ICMP echo request to this address instead
	// of the trace's probe to its target: the echo witness, to a hop's own
	// address (ICMP traces only).
	To netip.Addr
}

// ReplyKind classifies what answered a probe.
type ReplyKind string

// Reply kinds.
const (
	KindTimeExceeded     ReplyKind = "time_exceeded"
	KindEchoReply        ReplyKind = "echo_reply"
	KindPortUnreachable  ReplyKind = "port_unreachable"
	KindProtoUnreachable ReplyKind = "protocol_unreachable"
	KindNetUnreachable   ReplyKind = "net_unreachable"
	KindHostUnreachable  ReplyKind = "host_unreachable"
	KindAdminProhibited  ReplyKind = "admin_prohibited"
	KindUnreachable      ReplyKind = "unreachable" // any other destination-unreachable code
	KindFragNeeded       ReplyKind = "packet_too_big"
	KindParamProblem     ReplyKind = "parameter_problem"
	KindTCPSynAck        ReplyKind = "tcp_syn_ack"
	KindTCPReset         ReplyKind = "tcp_reset"
)

// FromDestination reports whether a reply of this kind is the destination
// itself answering the probe (as opposed to a router on the way).
func (k ReplyKind) FromDestination() bool {
	switch k {
	case KindEchoReply, KindPortUnreachable, KindProtoUnreachable, KindTCPSynAck, KindTCPReset:
		return true
	}
	return false
}

// Filtering reports whether the reply says a hop refused to forward.
func (k ReplyKind) Filtering() bool {
	switch k {
	case KindNetUnreachable, KindHostUnreachable, KindAdminProhibited, KindUnreachable:
		return true
	}
	return false
}

// Reply is an answer matched to a probe.
type Reply struct {
	Seq      uint16
	From     netip.Addr
	Kind     ReplyKind
	Type     int // ICMP type, -1 for TCP replies
	Code     int
	Received time.Time
	// TTL is the reply's remaining TTL or hop limit, 0 when unknown.
	TTL int
	// MPLS is the label stack the router reported (RFC 4950), if any.
	MPLS []MPLSLabel
}

// MPLSLabel is one entry of an MPLS label stack.
type MPLSLabel struct {
	Label int
	TC    int
	S     bool // bottom of stack
	TTL   int
}
