package capturetest

import (
	"encoding/binary"
	"io"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Bulk streams a large classic pcap (Ethernet, microsecond timestamps)
// without holding it: flows send bulk data in turn, each data segment of
// 1448 bytes (1514 on the wire) and an ACK for every second one. In each
// flow one segment in 100 swaps with the next and one in 300 is sent
// again, so an analysis does real work, and its truth is exact: for n
// original segments of a flow's client, n/100 are reordered and
// (n+150)/300 retransmitted, none lost or spurious.
//
// The same parameters give the same bytes, so benchmarks and other tools
// (netdx's `make bench` times tshark on it) can regenerate a file instead
// of keeping it.
type Bulk struct {
	// MaxBytes ends the stream after this many bytes (0: no limit).
	MaxBytes int64
	// MaxPackets ends the stream after exactly this many records (0: no
	// limit).
	MaxPackets uint64

	flows   []bulkFlow
	snap    int
	written int64
	packets uint64
	buf     []byte
	ts      time.Duration
	i       uint64
}

type bulkFlow struct {
	data, ack []byte // templates: Ethernet/IPv4/TCP with timestamps
	next      uint32
	id        uint16
	sent      uint64
	pending   []byte // a segment held back to swap with the next one
}

// Offsets into the templates, which carry no IP options and NOP, NOP,
// timestamps as their TCP options.
const (
	bulkIPID = 14 + 4
	bulkSeq  = 14 + 20 + 4
	bulkAck  = 14 + 20 + 8
	bulkTS   = 14 + 20 + 20 + 4
)

// NewBulk starts a stream of flows bulk transfers from 198.18.x.y to
// 198.19.0.1:5201, each record cut to snap bytes.
func NewBulk(flows, snap int) (*Bulk, error) {
	s := &Bulk{snap: snap}
	server := netip.MustParseAddr("198.19.0.1")
	for i := range flows {
		client := netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})
		port := uint16(40000 + i>>16)
		d, err := bulkTemplate(client, server, port, 5201, 1001, 5001, layers.TCP{PSH: true}, 1448)
		if err != nil {
			return nil, err
		}
		a, err := bulkTemplate(server, client, 5201, port, 5001, 1, layers.TCP{}, 0)
		if err != nil {
			return nil, err
		}
		s.flows = append(s.flows, bulkFlow{data: d, ack: a, next: 1001})
	}
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr, 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], uint32(snap))
	binary.LittleEndian.PutUint32(hdr[20:], uint32(layers.LinkTypeEthernet))
	s.buf = hdr
	return s, nil
}

// bulkTemplate serializes one Ethernet/IPv4/TCP frame with the ACK flag
// (plus the flags in tcp), a TCP timestamp option and n bytes of zeros.
func bulkTemplate(src, dst netip.Addr, sport, dport uint16, seq, ack uint32, tcp layers.TCP, n int) ([]byte, error) {
	ip := IPLayer(src, dst, layers.IPProtocolTCP, 0)
	tcp.SrcPort, tcp.DstPort, tcp.Seq, tcp.Ack, tcp.ACK, tcp.Window = layers.TCPPort(sport), layers.TCPPort(dport), seq, ack, true, 65535
	tcp.Options = []layers.TCPOption{{OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop},
		{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: binary.BigEndian.AppendUint64(nil, 7000<<32|6999)}}
	if err := tcp.SetNetworkLayerForChecksum(ip.(gopacket.NetworkLayer)); err != nil {
		return nil, err
	}
	buf := gopacket.NewSerializeBuffer()
	err := gopacket.SerializeLayers(buf, serializeOpts, &layers.Ethernet{SrcMAC: MacA, DstMAC: MacB, EthernetType: EtherType(src)},
		ip, &tcp, gopacket.Payload(make([]byte, n)))
	return append([]byte(nil), buf.Bytes()...), err
}

// Packets is how many records the stream has generated so far.
func (s *Bulk) Packets() uint64 { return s.packets }

func (s *Bulk) record(frame []byte, wire int) {
	if s.MaxPackets > 0 && s.packets == s.MaxPackets {
		return
	}
	ts := time.Unix(1767323045, 0).Add(s.ts)
	var h [16]byte
	binary.LittleEndian.PutUint32(h[0:], uint32(ts.Unix()))
	binary.LittleEndian.PutUint32(h[4:], uint32(ts.Nanosecond()/1000))
	n := min(len(frame), s.snap)
	binary.LittleEndian.PutUint32(h[8:], uint32(n))
	binary.LittleEndian.PutUint32(h[12:], uint32(wire))
	s.buf = append(s.buf, h[:]...)
	s.buf = append(s.buf, frame[:n]...)
	s.packets++
	s.ts += time.Microsecond
}

// segment writes flow f's data segment with sequence seq.
func (s *Bulk) segment(f *bulkFlow, seq uint32) []byte {
	binary.BigEndian.PutUint32(f.data[bulkSeq:], seq)
	binary.BigEndian.PutUint16(f.data[bulkIPID:], f.id)
	binary.BigEndian.PutUint32(f.data[bulkTS:], uint32(s.ts/time.Millisecond))
	f.id++
	return f.data
}

func (s *Bulk) step() {
	f := &s.flows[s.i%uint64(len(s.flows))]
	s.i++
	seq := f.next
	f.next += 1448
	f.sent++
	switch {
	case len(f.pending) > 0:
		s.record(s.segment(f, seq), 1514)
		s.record(f.pending, 1514)
		f.pending = f.pending[:0]
	case f.sent%100 == 0:
		f.pending = append(f.pending[:0], s.segment(f, seq)...)
		return
	case f.sent%300 == 150:
		s.record(s.segment(f, seq-1448), 1514)
		fallthrough
	default:
		s.record(s.segment(f, seq), 1514)
	}
	if f.sent%2 == 0 {
		binary.BigEndian.PutUint32(f.ack[bulkAck:], f.next)
		binary.BigEndian.PutUint16(f.ack[bulkIPID:], uint16(f.sent))
		s.record(f.ack, len(f.ack))
	}
}

func (s *Bulk) more() bool {
	return (s.MaxBytes == 0 || s.written+int64(len(s.buf)) < s.MaxBytes) && (s.MaxPackets == 0 || s.packets < s.MaxPackets)
}

// Read fills p with the next bytes of the capture.
func (s *Bulk) Read(p []byte) (int, error) {
	for len(s.buf) < len(p) && s.more() {
		s.step()
	}
	if len(s.buf) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.buf)
	s.buf = s.buf[:copy(s.buf, s.buf[n:])]
	s.written += int64(n)
	return n, nil
}
