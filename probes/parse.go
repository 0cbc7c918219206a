package probes

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// IP protocol numbers.
const (
	protoICMP   = 1
	protoTCP    = 6
	protoUDP    = 17
	protoICMPv6 = 58
)

// Message is a parsed ICMP or ICMPv6 message: what kind of answer it is and
// what it quoted of the probe that caused it.
type Message struct {
	Type, Code int
	Kind       ReplyKind
	// Echo is set for echo replies.
	Echo *Echo
	// Quoted is set for error messages (time exceeded, unreachable...).
	Quoted *Quoted
	MPLS   []MPLSLabel
}

// Echo is the identifying part of an echo reply.
type Echo struct {
	ID, Seq uint16
	Data    []byte
}

// Quoted is what an ICMP error quoted of the packet that caused it.
type Quoted struct {
	Proto    int
	Src, Dst netip.Addr
	// TTL is the TTL the packet had when the router discarded it; 1 for
	// a time-exceeded from an honest router.
	TTL              int
	SrcPort, DstPort uint16
	// UDPChecksum or TCPSeq, depending on Proto.
	UDPChecksum uint16
	TCPSeq      uint32
	// EchoID and EchoSeq when the quoted packet is an echo request.
	EchoID, EchoSeq uint16
	// Payload is what follows the quoted transport header, often empty.
	Payload []byte
}

// ErrNotProbeReply is returned for ICMP messages that cannot answer a probe
// (echo requests, redirects, neighbour discovery...).
var ErrNotProbeReply = errors.New("not a reply to a probe")

// ParseMessage parses an ICMP (ipv6=false) or ICMPv6 message starting at
// its type byte. It understands RFC 4884 extensions and reports RFC 4950
// MPLS label stacks.
func ParseMessage(ipv6Msg bool, b []byte) (*Message, error) {
	proto := protoICMP
	if ipv6Msg {
		proto = protoICMPv6
	}
	if len(b) < 8 {
		return nil, fmt.Errorf("ICMP message of %d bytes is too short", len(b))
	}
	m, err := icmp.ParseMessage(proto, b)
	if err != nil {
		return nil, fmt.Errorf("parse ICMP: %w", err)
	}
	out := &Message{Type: int(b[0]), Code: int(b[1])}
	out.Kind = kindOf(ipv6Msg, out.Type, out.Code)
	if out.Kind == "" {
		return nil, ErrNotProbeReply
	}
	var (
		data []byte
		exts []icmp.Extension
	)
	switch body := m.Body.(type) {
	case *icmp.Echo:
		out.Echo = &Echo{ID: uint16(body.ID), Seq: uint16(body.Seq), Data: body.Data}
		return out, nil
	case *icmp.TimeExceeded:
		data, exts = body.Data, body.Extensions
	case *icmp.DstUnreach:
		data, exts = body.Data, body.Extensions
	case *icmp.ParamProb:
		data, exts = body.Data, body.Extensions
	case *icmp.PacketTooBig:
		data = body.Data
	case *icmp.RawBody:
		// x/net leaves bodies it cannot split as raw bytes; the quoted
		// packet starts after the 4 unused or pointer bytes.
		if len(body.Data) > 4 {
			data = body.Data[4:]
		}
	default:
		return nil, ErrNotProbeReply
	}
	for _, e := range exts {
		if ls, ok := e.(*icmp.MPLSLabelStack); ok {
			for _, l := range ls.Labels {
				out.MPLS = append(out.MPLS, MPLSLabel{Label: l.Label, TC: l.TC, S: l.S, TTL: l.TTL})
			}
		}
	}
	q, err := parseQuoted(data)
	if err != nil {
		return nil, err
	}
	out.Quoted = q
	return out, nil
}

// kindOf names an ICMP type and code, or returns "" for messages that
// never answer a probe.
func kindOf(v6 bool, typ, code int) ReplyKind {
	if v6 {
		switch ipv6.ICMPType(typ) {
		case ipv6.ICMPTypeEchoReply:
			return KindEchoReply
		case ipv6.ICMPTypeTimeExceeded:
			return KindTimeExceeded
		case ipv6.ICMPTypePacketTooBig:
			return KindFragNeeded
		case ipv6.ICMPTypeParameterProblem:
			return KindParamProblem
		case ipv6.ICMPTypeDestinationUnreachable:
			switch code {
			case 0:
				return KindNetUnreachable
			case 1, 5, 6:
				return KindAdminProhibited
			case 3:
				return KindHostUnreachable
			case 4:
				return KindPortUnreachable
			}
			return KindUnreachable
		}
		return ""
	}
	switch ipv4.ICMPType(typ) {
	case ipv4.ICMPTypeEchoReply:
		return KindEchoReply
	case ipv4.ICMPTypeTimeExceeded:
		return KindTimeExceeded
	case ipv4.ICMPTypeParameterProblem:
		return KindParamProblem
	case ipv4.ICMPTypeDestinationUnreachable:
		switch code {
		case 0, 6:
			return KindNetUnreachable
		case 1, 7:
			return KindHostUnreachable
		case 2:
			return KindProtoUnreachable
		case 3:
			return KindPortUnreachable
		case 4:
			return KindFragNeeded
		case 9, 10, 13:
			return KindAdminProhibited
		}
		return KindUnreachable
	}
	return ""
}

// parseQuoted reads the IP header and the first bytes of the transport
// header of a quoted packet.
func parseQuoted(b []byte) (*Quoted, error) {
	if len(b) < 1 {
		return nil, errors.New("ICMP error quotes nothing")
	}
	q := &Quoted{}
	var l4 []byte
	switch b[0] >> 4 {
	case 4:
		if len(b) < 20 {
			return nil, fmt.Errorf("quoted IPv4 header truncated at %d bytes", len(b))
		}
		ihl := int(b[0]&0x0f) * 4
		if ihl < 20 || len(b) < ihl {
			return nil, fmt.Errorf("quoted IPv4 header length %d invalid", ihl)
		}
		q.TTL = int(b[8])
		q.Proto = int(b[9])
		q.Src = netip.AddrFrom4([4]byte(b[12:16]))
		q.Dst = netip.AddrFrom4([4]byte(b[16:20]))
		l4 = b[ihl:]
	case 6:
		if len(b) < 40 {
			return nil, fmt.Errorf("quoted IPv6 header truncated at %d bytes", len(b))
		}
		q.TTL = int(b[7])
		q.Src = netip.AddrFrom16([16]byte(b[8:24]))
		q.Dst = netip.AddrFrom16([16]byte(b[24:40]))
		next, rest := int(b[6]), b[40:]
		// Skip the extension headers a probe might carry.
		for next == 0 || next == 43 || next == 60 {
			if len(rest) < 8 {
				return nil, errors.New("quoted IPv6 extension header truncated")
			}
			n := (int(rest[1]) + 1) * 8
			if len(rest) < n {
				return nil, errors.New("quoted IPv6 extension header truncated")
			}
			next, rest = int(rest[0]), rest[n:]
		}
		q.Proto, l4 = next, rest
	default:
		return nil, fmt.Errorf("quoted packet has IP version %d", b[0]>>4)
	}
	if len(l4) < 8 {
		// RFC 792 routers must quote 8 bytes; fewer cannot be matched.
		return nil, fmt.Errorf("quoted transport header truncated at %d bytes", len(l4))
	}
	switch q.Proto {
	case protoUDP:
		q.SrcPort = binary.BigEndian.Uint16(l4[0:2])
		q.DstPort = binary.BigEndian.Uint16(l4[2:4])
		q.UDPChecksum = binary.BigEndian.Uint16(l4[6:8])
	case protoTCP:
		q.SrcPort = binary.BigEndian.Uint16(l4[0:2])
		q.DstPort = binary.BigEndian.Uint16(l4[2:4])
		q.TCPSeq = binary.BigEndian.Uint32(l4[4:8])
	case protoICMP, protoICMPv6:
		q.EchoID = binary.BigEndian.Uint16(l4[4:6])
		q.EchoSeq = binary.BigEndian.Uint16(l4[6:8])
	}
	q.Payload = l4[8:]
	return q, nil
}
