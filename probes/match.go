package probes

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"time"
)

// classicPorts is how many destination ports classic UDP probes cycle
// through, starting at BasePort. It is far more than can be in flight.
const classicPorts = 2048

// matcher builds the identifying parts of one trace's probes and decides
// whether a reply belongs to one of them. Everything a reply must match is
// specific to this trace: the ICMP echo identifier and a random token in
// the payload, the UDP or TCP source port bound for this trace, the TCP
// initial sequence number. Replies to other traces fail these checks.
type matcher struct {
	method   Method
	paris    bool
	v6       bool
	src, dst netip.Addr
	echoID   uint16
	token    uint32
	srcPort  uint16
	dstPort  uint16
	isn      uint32

	mu sync.Mutex
	// portSeq maps a classic UDP probe's destination port to its
	// sequence; chkSeq maps a Paris UDP probe's checksum to its sequence.
	portSeq [classicPorts]int32
	chkSeq  map[uint16]uint16
}

func newMatcher(cfg Config, src netip.Addr, echoID uint16, token uint32, srcPort uint16, isn uint32) *matcher {
	m := &matcher{method: cfg.Method, paris: cfg.Paris, v6: cfg.Target.Is6() && !cfg.Target.Is4In6(),
		src: src, dst: cfg.Target, echoID: echoID, token: token, srcPort: srcPort,
		dstPort: uint16(cfg.Port), isn: isn, chkSeq: map[uint16]uint16{}}
	for i := range m.portSeq {
		m.portSeq[i] = -1
	}
	return m
}

// payload is a probe's data: the trace token, the sequence, then zeros up
// to n bytes (at least 6).
func (m *matcher) payload(seq uint16, n int) []byte {
	b := make([]byte, max(n, 6))
	binary.BigEndian.PutUint32(b[0:4], m.token)
	binary.BigEndian.PutUint16(b[4:6], seq)
	return b
}

// payloadSeq reads the sequence from a quoted or echoed payload when it
// carries this trace's token.
func (m *matcher) payloadSeq(b []byte) (uint16, bool) {
	if len(b) < 6 || binary.BigEndian.Uint32(b[0:4]) != m.token {
		return 0, false
	}
	return binary.BigEndian.Uint16(b[4:6]), true
}

// tokenMismatch reports whether b is long enough to carry the token and
// carries another one.
func (m *matcher) tokenMismatch(b []byte) bool {
	return len(b) >= 4 && binary.BigEndian.Uint32(b[0:4]) != m.token
}

// udpDstPort is the destination port of the UDP probe seq, and remembers
// it for matching.
func (m *matcher) udpDstPort(seq uint16) uint16 {
	if m.paris {
		return m.dstPort
	}
	i := int(seq) % classicPorts
	m.mu.Lock()
	m.portSeq[i] = int32(seq)
	m.mu.Unlock()
	return BasePort + uint16(i)
}

// rememberChecksum records the checksum of a Paris UDP probe.
func (m *matcher) rememberChecksum(sum, seq uint16) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.chkSeq) > 4096 {
		clear(m.chkSeq)
	}
	m.chkSeq[sum] = seq
}

// matchMessage decides whether an ICMP message from `from`, arriving with
// remaining TTL ttl, answers one of this trace's probes.
func (m *matcher) matchMessage(msg *Message, from netip.Addr, ttl int, at time.Time) (Reply, bool) {
	rep := Reply{From: from, Kind: msg.Kind, Type: msg.Type, Code: msg.Code, Received: at, TTL: ttl, MPLS: msg.MPLS}
	if msg.Echo != nil {
		if m.method != ICMP || msg.Echo.ID != m.echoID || m.tokenMismatch(msg.Echo.Data) {
			return rep, false
		}
		rep.Seq = msg.Echo.Seq
		return rep, true
	}
	q := msg.Quoted
	if q == nil || q.Dst != m.dst {
		return rep, false
	}
	seq, ok := m.matchQuoted(q)
	rep.Seq = seq
	return rep, ok
}

// matchQuoted finds the probe a quoted packet was.
func (m *matcher) matchQuoted(q *Quoted) (uint16, bool) {
	switch m.method {
	case ICMP:
		if (q.Proto != protoICMP && q.Proto != protoICMPv6) || q.EchoID != m.echoID || m.tokenMismatch(q.Payload) {
			return 0, false
		}
		return q.EchoSeq, true
	case UDP:
		if q.Proto != protoUDP || q.SrcPort != m.srcPort {
			return 0, false
		}
		if seq, ok := m.payloadSeq(q.Payload); ok {
			return seq, true
		}
		if m.tokenMismatch(q.Payload) {
			return 0, false
		}
		return m.udpSeq(q.DstPort, q.UDPChecksum)
	case TCP:
		if q.Proto != protoTCP || q.SrcPort != m.srcPort || q.DstPort != m.dstPort {
			return 0, false
		}
		d := q.TCPSeq - m.isn
		if d > 0xffff {
			return 0, false
		}
		return uint16(d), true
	}
	return 0, false
}

// udpSeq recovers a UDP probe's sequence from its destination port
// (classic) or checksum (Paris) when the router quoted no payload.
func (m *matcher) udpSeq(dport, sum uint16) (uint16, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.paris {
		if dport != m.dstPort {
			return 0, false
		}
		seq, ok := m.chkSeq[sum]
		return seq, ok
	}
	i := int(dport) - BasePort
	if i < 0 || i >= classicPorts || m.portSeq[i] < 0 {
		return 0, false
	}
	return uint16(m.portSeq[i]), true
}

// matchTCP decides whether a TCP segment from the destination answers one
// of this trace's SYNs: a SYN-ACK or a reset acknowledging its sequence.
func (m *matcher) matchTCP(seg []byte, from netip.Addr, ttl int, at time.Time) (Reply, bool) {
	if m.method != TCP || len(seg) < 20 || from != m.dst {
		return Reply{}, false
	}
	sport := binary.BigEndian.Uint16(seg[0:2])
	dport := binary.BigEndian.Uint16(seg[2:4])
	ack := binary.BigEndian.Uint32(seg[8:12])
	flags := seg[13]
	if sport != m.dstPort || dport != m.srcPort || flags&tcpACK == 0 {
		return Reply{}, false
	}
	d := ack - 1 - m.isn
	if d > 0xffff {
		return Reply{}, false
	}
	rep := Reply{Seq: uint16(d), From: from, Type: -1, Received: at, TTL: ttl}
	switch {
	case flags&tcpRST != 0:
		rep.Kind = KindTCPReset
	case flags&tcpSYN != 0:
		rep.Kind = KindTCPSynAck
	default:
		return Reply{}, false
	}
	return rep, true
}

// TCP flags.
const (
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpACK = 0x10
)

// tcpSYN builds a SYN segment for probe seq with a valid checksum.
func (m *matcher) tcpSYN(seq uint16) []byte {
	b := make([]byte, 24)
	binary.BigEndian.PutUint16(b[0:2], m.srcPort)
	binary.BigEndian.PutUint16(b[2:4], m.dstPort)
	binary.BigEndian.PutUint32(b[4:8], m.isn+uint32(seq))
	b[12] = 6 << 4 // data offset: 24 bytes, with one option
	b[13] = tcpSYN
	binary.BigEndian.PutUint16(b[14:16], 65535)
	// MSS option: some stacks drop SYNs without it.
	b[20], b[21] = 2, 4
	binary.BigEndian.PutUint16(b[22:24], 1220)
	binary.BigEndian.PutUint16(b[16:18], transportChecksum(m.src, m.dst, protoTCP, b))
	return b
}

// udpDatagram builds a UDP header and payload with a valid checksum, as
// the kernel would send it from src.
func (m *matcher) udpDatagram(dport uint16, payload []byte) []byte {
	b := make([]byte, 8+len(payload))
	binary.BigEndian.PutUint16(b[0:2], m.srcPort)
	binary.BigEndian.PutUint16(b[2:4], dport)
	binary.BigEndian.PutUint16(b[4:6], uint16(len(b)))
	copy(b[8:], payload)
	sum := transportChecksum(m.src, m.dst, protoUDP, b)
	if sum == 0 {
		sum = 0xffff
	}
	binary.BigEndian.PutUint16(b[6:8], sum)
	return b
}

// transportChecksum is the Internet checksum of a TCP or UDP segment with
// its IPv4 or IPv6 pseudo-header; the checksum field must be zero.
func transportChecksum(src, dst netip.Addr, proto int, seg []byte) uint16 {
	var sum uint32
	add := func(b []byte) {
		for len(b) >= 2 {
			sum += uint32(binary.BigEndian.Uint16(b))
			b = b[2:]
		}
		if len(b) == 1 {
			sum += uint32(b[0]) << 8
		}
	}
	s, d := src.AsSlice(), dst.AsSlice()
	add(s)
	add(d)
	sum += uint32(proto) + uint32(len(seg))
	add(seg)
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}
