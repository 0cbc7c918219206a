package capture

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/netdx/netdx/capture/decode"
)

// readBuffer is the pcapng reader's buffer: large enough that the blocks
// of any snap length are checked whole (checkBlock), small enough to stay
// out of the memory budget.
const readBuffer = 1 << 20

// source reads records from a pcap or pcapng stream, knowing each record's
// number and byte offset: pcapng through gopacket's pcapgo reader, classic
// pcap by itself (its format is a 24-byte file header and records of a
// 16-byte header and the frame).
type source struct {
	name   string
	format string
	gzip   bool
	nano   bool
	// in is the (decompressed) stream; raw the file under it when it is
	// gzip-compressed.
	in, raw *readAhead
	// br buffers in for pcapgo's pcapng reader, which reads through it.
	br *bufio.Reader
	// pcap is set for a classic pcap file, whose header netdx reads
	// itself; ng reads pcapng.
	pcap *pcapHeader
	ng   *pcapgo.NgReader
	// links caches each interface's link type, refreshed when the pcapng
	// reader reports a new interface.
	links []layers.LinkType
	// ngBig says the first pcapng section is big-endian.
	ngBig bool
	// bigPcap says the pcap file is big-endian.
	bigPcap bool
	record  uint64
	start   int64 // offset of the record being read
	// info is the header of the record next returned last.
	info recordInfo
}

var (
	pcapMagics = [][4]byte{
		{0xd4, 0xc3, 0xb2, 0xa1}, // microseconds, little-endian
		{0xa1, 0xb2, 0xc3, 0xd4}, // microseconds, big-endian
		{0x4d, 0x3c, 0xb2, 0xa1}, // nanoseconds, little-endian
		{0xa1, 0xb2, 0x3c, 0x4d}, // nanoseconds, big-endian
		{0x34, 0xcd, 0xb2, 0xa1}, // Kuznetzov's modified pcap (ss990915), little-endian
		{0xa1, 0xb2, 0xcd, 0x34}, // the same, big-endian
	}
	pcapngMagic = [4]byte{0x0a, 0x0d, 0x0d, 0x0a}
)

// openSource detects the format (gzip, pcap, pcapng) and reads the file
// header. whole says r is a regular file (see newReadAhead). The caller
// closes the source, which stops its reading goroutines.
func openSource(ctx context.Context, r io.Reader, name string, whole bool) (*source, error) {
	s := &source{name: name, in: newReadAhead(ctx, r, whole)}
	head, err := s.in.Peek(4)
	if len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b {
		gz, gerr := gzip.NewReader(s.in)
		if gerr != nil {
			s.close()
			return nil, s.headerError(ErrFormat, fmt.Errorf("gzip: %w", gerr))
		}
		s.gzip = true
		// Decompressed in a goroutine of its own: its chunks are filled
		// whole when the file is regular.
		s.raw, s.in = s.in, newReadAhead(ctx, gz, whole)
		head, err = s.in.Peek(4)
	}
	if len(head) < 4 {
		if err == nil || errors.Is(err, io.EOF) {
			err = fmt.Errorf("only %d bytes, too short for a file header", len(head))
		}
		s.close()
		return nil, s.headerError(ErrFormat, err)
	}
	magic := [4]byte(head)
	switch {
	case magic == pcapngMagic:
		s.format = "pcapng"
		h, _ := s.in.Peek(28)
		if len(h) < 28 {
			err = fmt.Errorf("the pcapng section header is cut short: %d of at least 28 bytes", len(h))
			break
		}
		s.ngBig = binary.BigEndian.Uint32(h[8:]) == 0x1a2b3c4d
		s.br = bufio.NewReaderSize(s.in, readBuffer)
		s.ng, err = pcapgo.NewNgReader(s.br, pcapgo.NgReaderOptions{WantMixedLinkType: true})
	case isPcap(magic):
		s.format = "pcap"
		s.nano = magic[0] == 0x4d || magic[3] == 0x4d
		s.bigPcap = magic[0] == 0xa1
		h, _ := s.in.Peek(24)
		if len(h) < 24 {
			err = fmt.Errorf("the pcap file header is cut short: %d of 24 bytes", len(h))
			break
		}
		s.pcap, err = s.readPcapHeader(h)
	default:
		err = fmt.Errorf("unknown magic number %x: not a pcap or pcapng file", magic)
	}
	if err != nil {
		s.close()
		return nil, s.headerError(ErrFormat, err)
	}
	if s.pcap != nil {
		if lt := s.pcap.link; !decode.Supported(lt) {
			name := ""
			if n := lt.String(); n != "UnknownLinkType" {
				name = " (" + n + ")"
			}
			s.close()
			return nil, s.headerError(ErrFormat, fmt.Errorf("link type %d%s is not supported; netdx reads %s",
				int(lt), name, supportedLinks))
		}
		s.links = []layers.LinkType{s.pcap.link}
	}
	return s, nil
}

// pcapHeader is what a classic pcap file header says.
type pcapHeader struct {
	major, minor uint16
	snaplen      uint32
	link         layers.LinkType
	// swapped says the record headers hold the original length before
	// the captured length: files of format 2.2 and older (and DG/UX's
	// 543.0) were written so; in 2.3 files either order occurs.
	swapped, maybeSwapped bool
	// hdr is the record header's length: 16, or 24 in Kuznetzov's
	// modified format (interface index, protocol and packet type after
	// the lengths).
	hdr int
}

// readPcapHeader reads a classic pcap file header (24 bytes: magic,
// version, time zone, accuracy, snap length, link type) in the byte order
// its magic number gave. Every 2.x version is read, as libpcap reads them:
// the record format is the same except for the order of the two lengths.
// The link type is the low 16 bits; the bits above carry the FCS length
// (frames may end with it, which lengths from the headers skip).
func (s *source) readPcapHeader(h []byte) (*pcapHeader, error) {
	u16 := binary.LittleEndian.Uint16
	if s.bigPcap {
		u16 = binary.BigEndian.Uint16
	}
	x := &pcapHeader{major: u16(h[4:]), minor: u16(h[6:]), snaplen: s.u32(h[16:]), link: layers.LinkType(s.u32(h[20:]) & 0xffff), hdr: 16}
	if h[0] == 0x34 || h[3] == 0x34 {
		x.hdr = 24
	}
	switch {
	case x.major == 543: // DG/UX tcpdump
		x.swapped = true
	case x.major != 2:
		return nil, fmt.Errorf("pcap format version %d.%d: netdx reads versions 2.x (and pcapng)", x.major, x.minor)
	case x.minor < 3:
		x.swapped = true
	case x.minor == 3:
		x.maybeSwapped = true
	}
	s.in.Discard(24)
	return x, nil
}

const supportedLinks = "Ethernet, Linux cooked (SLL, SLL2), raw IPv4/IPv6, BSD loopback, PPP and 802.11"

func isPcap(m [4]byte) bool {
	for _, p := range pcapMagics {
		if m == p {
			return true
		}
	}
	return false
}

func (s *source) headerError(kind, err error) error {
	return &InputError{Name: s.name, Kind: kind, Err: err}
}

// close stops the reading goroutines.
func (s *source) close() {
	s.in.close()
	if s.raw != nil {
		s.raw.close()
	}
}

// offset is the byte offset of the next unread byte.
func (s *source) offset() int64 {
	if s.br != nil {
		return s.in.n - int64(s.br.Buffered())
	}
	return s.in.n
}

// next returns the next record's frame, and says what its header says in
// s.info. The data and s.info are valid until the next call. At the end
// it returns io.EOF; any other error is an *InputError naming the record.
// (The header is not returned as a gopacket.CaptureInfo: copying that out
// of two calls per packet cost more than finding the record.)
func (s *source) next() ([]byte, error) {
	s.start = s.offset()
	s.record++
	var (
		data []byte
		err  error
	)
	if s.pcap != nil {
		data, err = s.readRecord()
	} else if err = s.checkBlock(); err == nil {
		var ci gopacket.CaptureInfo
		data, ci, err = s.ng.ZeroCopyReadPacketData()
		if err == nil {
			s.info = recordInfo{at: ci.Timestamp.UnixNano(), caplen: ci.CaptureLength, wire: ci.Length, ifIndex: ci.InterfaceIndex,
				lt: s.link(ci.InterfaceIndex)}
		}
	}
	if err != nil {
		s.record--
		return nil, s.readError(err)
	}
	return data, nil
}

// recordInfo is what a record's header says: when the frame was
// captured (ns since the Unix epoch), its captured and original lengths,
// the interface (pcapng) and that interface's link type. The time is
// kept as a number, not a time.Time: filling in a time.Time per record
// (its location pointer and all) was most of the cost of reading one.
type recordInfo struct {
	at           int64
	caplen, wire int
	ifIndex      int
	lt           layers.LinkType
}

// maxRecord is the longest pcap record read whatever the file's snap
// length says: libpcap's largest snap length, which tcpdump and Wireshark
// also read records up to.
const maxRecord = 262144

// readRecord reads the next pcap record straight out of the read-ahead
// chunk: a record is a 16-byte header (24 in Kuznetzov's format) and the
// frame, so the frame is handed out without a copy unless it straddles
// two chunks. It stays valid until the next call.
func (s *source) readRecord() ([]byte, error) {
	hdr := s.pcap.hdr
	h, err := s.in.Peek(hdr)
	if len(h) < hdr {
		return nil, cutShort(err, len(h))
	}
	caplen, wire := s.u32(h[8:]), s.u32(h[12:])
	if s.pcap.swapped || s.pcap.maybeSwapped && caplen > wire {
		caplen, wire = wire, caplen
	}
	limit := max(s.pcap.snaplen, maxRecord)
	switch {
	case caplen > limit:
		return nil, fmt.Errorf("capture length %d is above the file's snap length (%d) and %d bytes, the most any capture tool stores",
			caplen, s.pcap.snaplen, maxRecord)
	case caplen > wire:
		return nil, fmt.Errorf("capture length %d is above its original length %d", caplen, wire)
	}
	frac := int64(s.u32(h[4:]))
	if !s.nano {
		frac *= 1000
	}
	// What time.Unix(sec, frac).UnixNano() gives: 32-bit seconds and
	// fractions cannot overflow it.
	s.info = recordInfo{at: int64(s.u32(h))*1e9 + frac, caplen: int(caplen), wire: int(wire), lt: s.links[0]}
	n := hdr + int(caplen)
	rec, err := s.in.Peek(n)
	if len(rec) < n {
		return nil, cutShort(err, 1)
	}
	s.in.Discard(n)
	return rec[hdr:], nil
}

// u32 reads a number of a pcap record header in the file's byte order.
func (s *source) u32(b []byte) uint32 {
	if s.bigPcap {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

// cutShort is the error for a read that got got bytes of a record and
// then err: the clean end of the stream when it got none, a cut-short
// record otherwise.
func cutShort(err error, got int) error {
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if got == 0 {
		return io.EOF
	}
	return io.ErrUnexpectedEOF
}

// checkBlock looks at the next pcapng block before pcapgo reads it: its
// length must be a multiple of 4, at least 12, and repeated at its end.
// pcapgo reads several blocks per packet, section headers among them, so
// the byte order of a block here is known only when it is a section
// header. Any other block is read in the first section's byte order, and
// when its lengths are wrong in that order, in the other one: a later
// section may be of the other order, and the block is good when its
// lengths agree that way.
func (s *source) checkBlock() error {
	peek, _ := s.br.Peek(12)
	if len(peek) < 8 {
		return nil
	}
	var head [12]byte // checkBlockIn's Peek may move the buffer under peek
	h := head[:copy(head[:], peek)]
	big := s.ngBig
	if [4]byte(h[:4]) == pcapngMagic && len(h) == 12 {
		big = binary.BigEndian.Uint32(h[8:]) == 0x1a2b3c4d
		_, err := s.checkBlockIn(big, h)
		return err
	}
	if _, err := s.checkBlockIn(big, h); err == nil {
		return nil
	} else if verified, _ := s.checkBlockIn(!big, h); !verified {
		return err
	}
	return nil
}

// checkBlockIn checks the lengths of the block whose head is h, read in
// big-endian order or not. verified says both lengths were read and
// agree; a block longer than the pcapng reader's buffer, or one the
// stream ends inside, passes unverified.
func (s *source) checkBlockIn(big bool, h []byte) (verified bool, err error) {
	u32 := func(b []byte) uint32 {
		if big {
			return binary.BigEndian.Uint32(b)
		}
		return binary.LittleEndian.Uint32(b)
	}
	n := u32(h[4:])
	if n < 12 || n%4 != 0 {
		return false, fmt.Errorf("pcapng block of type 0x%08x has length %d: a block is at least 12 bytes and a multiple of 4", u32(h), n)
	}
	if n > readBuffer {
		return false, nil
	}
	b, _ := s.br.Peek(int(n))
	if len(b) < int(n) {
		return false, nil // the stream ends inside the block: pcapgo reports the cut
	}
	if tail := u32(b[n-4:]); tail != n {
		return false, fmt.Errorf("pcapng block of type 0x%08x has length %d at its start but %d at its end", u32(h), n, tail)
	}
	return true, nil
}

func (s *source) link(i int) layers.LinkType {
	if s.pcap != nil {
		return s.links[0]
	}
	if i >= len(s.links) || s.ng.NInterfaces() != len(s.links) {
		s.links = s.links[:0]
		for j := range s.ng.NInterfaces() {
			intf, _ := s.ng.Interface(j)
			s.links = append(s.links, intf.LinkType)
		}
	}
	if i < 0 || i >= len(s.links) {
		return layers.LinkType(0xffff)
	}
	return s.links[i]
}

func (s *source) readError(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err // stopped, not damaged: the caller says so
	}
	if errors.Is(err, io.EOF) && s.offset() == s.start {
		return io.EOF
	}
	ie := &InputError{Name: s.name, Record: s.record + 1, Offset: s.start, Kind: ErrDamaged, Err: err}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		ie.Kind, ie.Err = ErrCutShort, nil
	}
	if errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) {
		ie.Kind = ErrDamaged
	}
	return ie
}

// interfaces describes the capture's interfaces with their statistics.
func (s *source) interfaces(counts []uint64) []Interface {
	if s.pcap != nil {
		lt := s.pcap.link
		res := "us"
		if s.nano {
			res = "ns"
		}
		return []Interface{{LinkType: linkName(lt), Snaplen: s.pcap.snaplen, Resolution: res, Packets: at(counts, 0),
			Supported: decode.Supported(lt)}}
	}
	var out []Interface
	for i := range s.ng.NInterfaces() {
		intf, err := s.ng.Interface(i)
		if err != nil {
			continue
		}
		x := Interface{Index: i, Name: intf.Name, LinkType: linkName(intf.LinkType), Snaplen: intf.SnapLength,
			Resolution: resolution(intf.TimestampResolution), Packets: at(counts, i), Supported: decode.Supported(intf.LinkType)}
		if d := intf.Statistics.PacketsDropped; d != pcapgo.NgNoValue64 && !intf.Statistics.LastUpdate.IsZero() {
			x.Dropped = &d
		}
		out = append(out, x)
	}
	return out
}

// resolution names a pcapng timestamp resolution.
func resolution(r pcapgo.NgResolution) string {
	if r.Binary() {
		return "2^-" + strconv.FormatUint(uint64(r.Exponent()), 10)
	}
	switch r.Exponent() {
	case 0:
		return "s"
	case 3:
		return "ms"
	case 6:
		return "us"
	case 9:
		return "ns"
	}
	return "10^-" + strconv.FormatUint(uint64(r.Exponent()), 10)
}

func at(c []uint64, i int) uint64 {
	if i < len(c) {
		return c[i]
	}
	return 0
}

// linkName is gopacket's name for a link type, or its number.
func linkName(lt layers.LinkType) string {
	switch lt {
	case 12, 14:
		return "Raw"
	}
	if name := lt.String(); name != "UnknownLinkType" {
		return name
	}
	return "linktype " + strconv.FormatUint(uint64(lt), 10)
}
