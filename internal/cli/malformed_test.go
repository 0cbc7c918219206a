package cli

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/netdx/netdx/capture/capturetest"
	"github.com/netdx/netdx/report"
)

// The malformed-input suites: captures and /proc files damaged in every
// way the field produces, run through the command as a user would. Each
// subtest asserts the exit status, the message (file and position) and the
// partial result, and logs one "reliability:" line for docs/reliability.md.

// goodRecords is the number of records malformedBase writes: a handshake
// (3) and four data segments each with its ACK (8).
const goodRecords = 11

// malformedBase is a clean TCP conversation of goodRecords records that
// every capture case starts from.
func malformedBase(t *testing.T) *capturetest.Gen {
	g := capturetest.NewGen(t, layers.LinkTypeEthernet)
	c := capturetest.NewConv(g, "198.18.0.1:40000", "198.18.1.1:443")
	c.Handshake(0, 10*time.Millisecond)
	c.Deliver(c.Receiver(1), 20*time.Millisecond, 100*time.Microsecond, c.SendData(0, 20*time.Millisecond, 100*time.Microsecond, 4, 500))
	if len(g.Recs) != goodRecords {
		t.Fatalf("base capture has %d records, want %d", len(g.Recs), goodRecords)
	}
	return g
}

// Hand-built headers for the packet-level cases. Checksums are left zero:
// netdx does not verify them (offloads make them wrong in captures).

var (
	malSrc4, malDst4 = [4]byte{198, 18, 0, 1}, [4]byte{198, 18, 1, 1}
	malSrc6          = netip.MustParseAddr("2001:db8::1").As16()
	malDst6          = netip.MustParseAddr("2001:db8::2").As16()
)

// ether wraps an IP packet in an Ethernet header.
func ether(ethertype uint16, payload []byte) []byte {
	b := append([]byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0, 0}, payload...)
	binary.BigEndian.PutUint16(b[12:], ethertype)
	return b
}

// ipv4 builds an IPv4 packet; opts are the options (padded by the
// caller to a multiple of 4), frag the flags and fragment offset field.
func ipv4(proto uint8, opts []byte, frag uint16, payload []byte) []byte {
	hl := 20 + len(opts)
	b := make([]byte, hl, hl+len(payload))
	b[0] = 0x40 | byte(hl/4)
	binary.BigEndian.PutUint16(b[2:], uint16(hl+len(payload)))
	binary.BigEndian.PutUint16(b[4:], 77)
	binary.BigEndian.PutUint16(b[6:], frag)
	b[8], b[9] = 64, proto
	copy(b[12:], malSrc4[:])
	copy(b[16:], malDst4[:])
	copy(b[20:], opts)
	return append(b, payload...)
}

// ipv6 builds an IPv6 packet whose first next header is next.
func ipv6(next uint8, payload []byte) []byte {
	b := make([]byte, 40, 40+len(payload))
	b[0] = 0x60
	binary.BigEndian.PutUint16(b[4:], uint16(len(payload)))
	b[6], b[7] = next, 64
	copy(b[8:], malSrc6[:])
	copy(b[24:], malDst6[:])
	return append(b, payload...)
}

// ext6 is an IPv6 extension header (hop-by-hop, routing, destination
// options) of 8*(1+units) bytes followed by rest.
func ext6(next uint8, units uint8, rest []byte) []byte {
	b := make([]byte, 8*(1+int(units)))
	b[0], b[1] = next, units
	b[2], b[3] = 1, byte(len(b)-4) // a PadN option filling the header
	return append(b, rest...)
}

// tcpSeg builds a TCP header with data offset doff (in 32-bit words),
// options opts (padded by the caller) and n bytes of payload.
func tcpSeg(doff uint8, opts []byte, n int) []byte {
	b := make([]byte, 20, 20+len(opts)+n)
	binary.BigEndian.PutUint16(b[0:], 41000)
	binary.BigEndian.PutUint16(b[2:], 80)
	binary.BigEndian.PutUint32(b[4:], 1)
	binary.BigEndian.PutUint32(b[8:], 1)
	b[12] = doff << 4
	b[13] = 0x18 // PSH ACK
	binary.BigEndian.PutUint16(b[14:], 1000)
	b = append(b, opts...)
	return append(b, make([]byte, n)...)
}

// udpDgram builds a UDP header to dport whose length field says ulen
// (0: the true length) and payload.
func udpDgram(dport uint16, ulen int, payload []byte) []byte {
	b := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(b[0:], 50000)
	binary.BigEndian.PutUint16(b[2:], dport)
	if ulen == 0 {
		ulen = 8 + len(payload)
	}
	binary.BigEndian.PutUint16(b[4:], uint16(ulen))
	return append(b, payload...)
}

// withFrames is the base capture with extra Ethernet frames appended.
func withFrames(t *testing.T, frames ...[]byte) []byte {
	g := malformedBase(t)
	for i, f := range frames {
		g.AddRaw(time.Second+time.Duration(i)*time.Millisecond, f, len(f))
	}
	return g.Pcap()
}

// pcapRun is one run of pcap analyze, in text and in JSON.
type pcapRun struct {
	code         int
	text, stderr string
	rep          report.Report
}

// analyzeBoth runs `pcap analyze --fail-on none FILE` in text and in JSON;
// the JSON must follow the schema.
func analyzeBoth(t *testing.T, file string, extra ...string) pcapRun {
	t.Helper()
	args := append([]string{"pcap", "analyze", "--fail-on", "none"}, extra...)
	code, text, stderr := runPcapArgs(t, nil, false, append(args, file)...)
	jcode, js, _ := runPcapArgs(t, nil, false, append(append(args, "--json"), file)...)
	if jcode != code {
		t.Errorf("exit %d with --json, %d without", jcode, code)
	}
	validReport(t, "pcap analyze "+filepath.Base(file), []byte(js))
	var r pcapRun
	r.code, r.text, r.stderr = code, text, stderr
	if err := json.Unmarshal([]byte(js), &r.rep); err != nil {
		t.Fatalf("JSON: %v", err)
	}
	return r
}

// capture is the run's only capture section, nil when none.
func (r *pcapRun) capture() *report.Capture {
	if len(r.rep.Captures) != 1 {
		return nil
	}
	return &r.rep.Captures[0]
}

// undecodedFor counts the undecoded packets whose reason contains s.
func undecodedFor(c *report.Capture, s string) uint64 {
	var n uint64
	for _, u := range c.Undecoded {
		if strings.Contains(u.Reason, s) {
			n += u.Packets
		}
	}
	return n
}

// warningWith is the first report warning containing s, "" when none.
func (r *pcapRun) warningWith(s string) string {
	for _, w := range r.rep.Warnings {
		if strings.Contains(w, s) {
			return w
		}
	}
	return ""
}

// firstLine is the first line of s.
// firstLine is the first line of s, cut at 160 bytes, for outcome lines.
func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

// recordOffset is the byte offset of record n (1-based) in g.Pcap().
func recordOffset(g *capturetest.Gen, n int) int {
	off := 24
	for _, r := range g.Recs[:n-1] {
		off += 16 + len(r.Data)
	}
	return off
}

// ngBlock is one pcapng block: its offset and length.
type ngBlock struct{ off, n int }

// ngBlocks walks a little-endian pcapng file's blocks.
func ngBlocks(t *testing.T, b []byte) []ngBlock {
	var out []ngBlock
	for off := 0; off < len(b); {
		n := int(binary.LittleEndian.Uint32(b[off+4:]))
		if n < 12 || off+n > len(b) {
			t.Fatalf("generated pcapng has a bad block at %d", off)
		}
		out = append(out, ngBlock{off, n})
		off += n
	}
	return out
}

// pcapHeader returns data with its pcap file header's field at off set to v.
func pcapHeader(data []byte, off int, v uint32) []byte {
	b := append([]byte(nil), data...)
	binary.LittleEndian.PutUint32(b[off:], v)
	return b
}

// capCase is one malformed capture.
type capCase struct {
	name string
	// data builds the file; ext is its extension.
	data func(t *testing.T) []byte
	ext  string
	code int
	// stderr and text must appear in the error output and the text report.
	stderr, text []string
	// check asserts the JSON report and returns the outcome's details.
	check func(t *testing.T, r *pcapRun) string
}

// wantPackets asserts the records analysed and completeness; it returns
// "N records analysed".
func wantPackets(t *testing.T, r *pcapRun, n uint64, complete bool) string {
	t.Helper()
	c := r.capture()
	if c == nil {
		t.Fatalf("%d capture sections, want 1", len(r.rep.Captures))
	}
	if c.Packets != n || c.Complete != complete {
		t.Errorf("packets %d complete %v, want %d %v", c.Packets, c.Complete, n, complete)
	}
	return fmt.Sprintf("%d records analysed", c.Packets)
}

// wantUndecoded asserts that one extra packet was counted undecoded for
// reason, that the good records were all analysed, and that a warning
// names the reason and the record where it was first seen.
func wantUndecoded(reason string) func(t *testing.T, r *pcapRun) string {
	return func(t *testing.T, r *pcapRun) string {
		t.Helper()
		wantPackets(t, r, goodRecords+1, true)
		c := r.capture()
		if n := undecodedFor(c, reason); n != 1 {
			t.Errorf("undecoded %q = %d, want 1 (undecoded: %+v)", reason, n, c.Undecoded)
		}
		if c.TCPPackets < goodRecords {
			t.Errorf("%d TCP packets, want the %d good ones", c.TCPPackets, goodRecords)
		}
		w := r.warningWith(reason)
		if !strings.Contains(w, fmt.Sprintf("record %d", goodRecords+1)) {
			t.Errorf("no warning naming %q and record %d: %q", reason, goodRecords+1, r.rep.Warnings)
		}
		return fmt.Sprintf("undecoded 1 (%s); warning %q", reason, w)
	}
}

// wantDecoded asserts the extra packets were decoded as kind ("tcp",
// "fragment") with nothing undecoded.
func wantDecoded(kind string, extra uint64) func(t *testing.T, r *pcapRun) string {
	return func(t *testing.T, r *pcapRun) string {
		t.Helper()
		out := wantPackets(t, r, goodRecords+extra, true)
		c := r.capture()
		if len(c.Undecoded) != 0 {
			t.Errorf("undecoded %+v, want none", c.Undecoded)
		}
		var got uint64
		switch kind {
		case "tcp":
			got = c.TCPPackets - goodRecords
		case "fragment":
			got = c.FragmentPackets
		}
		if got != extra {
			t.Errorf("%d %s packets beyond the good ones, want %d", got, kind, extra)
		}
		return out + fmt.Sprintf("; %d decoded as %s, none undecoded", got, kind)
	}
}

func TestMalformedCapture(t *testing.T) {
	hugeRecord := func(t *testing.T) []byte {
		b := malformedBase(t).Pcap()
		h := make([]byte, 16)
		binary.LittleEndian.PutUint32(h[0:], 1767323045)
		binary.LittleEndian.PutUint32(h[8:], 300000)
		binary.LittleEndian.PutUint32(h[12:], 300000)
		return append(append(b, h...), make([]byte, 100)...)
	}
	twelfth := func(t *testing.T) int {
		return recordOffset(malformedBase(t), goodRecords) + 16 + len(malformedBase(t).Recs[goodRecords-1].Data)
	}
	cases := []capCase{
		{name: "wrong magic", data: func(*testing.T) []byte { return []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n") }, code: exitError,
			stderr: []string{"case.pcap: file header at byte offset 0: not a readable capture: unknown magic number 47455420"},
			text:   []string{"NOT READ", "case.pcap"},
			check: func(t *testing.T, r *pcapRun) string {
				if len(r.rep.Captures) != 0 || len(r.rep.Skipped) != 1 || r.rep.Skipped[0].Source != "case.pcap" && !strings.HasSuffix(r.rep.Skipped[0].Source, "case.pcap") {
					t.Errorf("captures %d skipped %+v", len(r.rep.Captures), r.rep.Skipped)
				}
				return "skipped entry for the file, no capture section"
			}},
		{name: "global header cut short", data: func(t *testing.T) []byte { return malformedBase(t).Pcap()[:10] }, code: exitError,
			stderr: []string{"case.pcap: file header at byte offset 0: not a readable capture: the pcap file header is cut short: 10 of 24 bytes"},
			text:   []string{"NOT READ"},
			check: func(t *testing.T, r *pcapRun) string {
				if len(r.rep.Skipped) != 1 {
					t.Errorf("skipped %+v", r.rep.Skipped)
				}
				return "skipped entry for the file"
			}},
		{name: "last record data cut short", data: func(t *testing.T) []byte { b := malformedBase(t).Pcap(); return b[:len(b)-5] }, code: exitOK,
			text: []string{"INCOMPLETE", fmt.Sprintf("record %d at byte offset", goodRecords)},
			check: func(t *testing.T, r *pcapRun) string {
				off := recordOffset(malformedBase(t), goodRecords)
				w := r.warningWith(fmt.Sprintf("record %d at byte offset %d: capture ends in the middle of a record", goodRecords, off))
				if w == "" {
					t.Errorf("no cut-short warning naming record %d at %d: %q", goodRecords, off, r.rep.Warnings)
				}
				return wantPackets(t, r, goodRecords-1, false) + fmt.Sprintf("; warning %q", firstLine(w))
			}},
		{name: "last record header cut short", data: func(t *testing.T) []byte { return append(malformedBase(t).Pcap(), make([]byte, 7)...) }, code: exitOK,
			text: []string{"INCOMPLETE"},
			check: func(t *testing.T, r *pcapRun) string {
				w := r.warningWith(fmt.Sprintf("record %d at byte offset %d: capture ends in the middle of a record", goodRecords+1, twelfth(t)))
				if w == "" {
					t.Errorf("no cut-short warning naming record %d: %q", goodRecords+1, r.rep.Warnings)
				}
				return wantPackets(t, r, goodRecords, false) + fmt.Sprintf("; warning %q", firstLine(w))
			}},
		{name: "snap length 0", data: func(t *testing.T) []byte { return pcapHeader(malformedBase(t).Pcap(), 16, 0) }, code: exitOK,
			check: func(t *testing.T, r *pcapRun) string {
				return wantPackets(t, r, goodRecords, true) + "; read as tcpdump does"
			}},
		{name: "snap length 4 GiB", data: func(t *testing.T) []byte { return pcapHeader(malformedBase(t).Pcap(), 16, 0xffffffff) }, code: exitOK,
			check: func(t *testing.T, r *pcapRun) string { return wantPackets(t, r, goodRecords, true) }},
		{name: "caplen greater than snaplen", data: func(t *testing.T) []byte { return pcapHeader(malformedBase(t).Pcap(), 16, 64) }, code: exitOK,
			check: func(t *testing.T, r *pcapRun) string {
				return wantPackets(t, r, goodRecords, true) + "; records up to 256 KiB read whatever the snap length, as tcpdump and Wireshark do"
			}},
		{name: "caplen above 256 KiB", data: hugeRecord, code: exitError,
			stderr: []string{fmt.Sprintf("case.pcap: record %d at byte offset ", goodRecords+1), "damaged record: capture length 300000 is above the file's snap length (262144) and 262144 bytes"},
			text:   []string{"INCOMPLETE"},
			check: func(t *testing.T, r *pcapRun) string {
				if !strings.Contains(r.stderr, fmt.Sprintf("byte offset %d:", twelfth(t))) {
					t.Errorf("stderr %q lacks byte offset %d", r.stderr, twelfth(t))
				}
				return wantPackets(t, r, goodRecords, false)
			}},
		{name: "caplen greater than original length", data: func(t *testing.T) []byte {
			g := malformedBase(t)
			b := g.Pcap()
			off := recordOffset(g, 5)
			binary.LittleEndian.PutUint32(b[off+12:], 10) // original length 10
			return b
		}, code: exitError,
			stderr: []string{"case.pcap: record 5 at byte offset ", "damaged record: capture length", "above its original length 10"},
			text:   []string{"INCOMPLETE"},
			check:  func(t *testing.T, r *pcapRun) string { return wantPackets(t, r, 4, false) }},
		{name: "zero-length frame", data: func(t *testing.T) []byte { return withFrames(t, []byte{}) }, code: exitOK,
			check: wantUndecoded("empty record")},
		{name: "unknown link type in the file header", data: func(t *testing.T) []byte { return pcapHeader(malformedBase(t).Pcap(), 20, 147) }, code: exitError,
			stderr: []string{"case.pcap: file header at byte offset 0: not a readable capture: link type 147 is not supported; netdx reads Ethernet"},
			text:   []string{"NOT READ"},
			check:  func(t *testing.T, r *pcapRun) string { return "skipped entry for the file" }},
		{name: "pcapng block length below 12", ext: "pcapng", data: func(t *testing.T) []byte {
			b := malformedBase(t).Pcapng()
			bl := ngBlocks(t, b)
			binary.LittleEndian.PutUint32(b[bl[6].off+4:], 8) // the 5th packet's block (after SHB and IDB)
			return b
		}, code: exitError,
			stderr: []string{"case.pcapng: record 5 at byte offset ", "damaged record"},
			text:   []string{"INCOMPLETE"},
			check:  func(t *testing.T, r *pcapRun) string { return wantPackets(t, r, 4, false) }},
		{name: "pcapng block length past the end", ext: "pcapng", data: func(t *testing.T) []byte {
			b := malformedBase(t).Pcapng()
			bl := ngBlocks(t, b)
			binary.LittleEndian.PutUint32(b[bl[len(bl)-1].off+4:], 1<<30)
			return b
		}, code: exitOK,
			text: []string{"INCOMPLETE"},
			check: func(t *testing.T, r *pcapRun) string {
				w := r.warningWith(fmt.Sprintf("record %d at byte offset", goodRecords))
				if w == "" {
					t.Errorf("no warning naming record %d: %q", goodRecords, r.rep.Warnings)
				}
				return wantPackets(t, r, goodRecords-1, false) + fmt.Sprintf("; warning %q", firstLine(w))
			}},
		{name: "pcapng unknown block types", ext: "pcapng", data: func(t *testing.T) []byte {
			b := malformedBase(t).Pcapng()
			bl := ngBlocks(t, b)
			unknown := make([]byte, 20)
			binary.LittleEndian.PutUint32(unknown[0:], 0x0bad0bad)
			binary.LittleEndian.PutUint32(unknown[4:], 20)
			binary.LittleEndian.PutUint32(unknown[16:], 20)
			at := bl[4].off
			return append(append(append([]byte(nil), b[:at]...), unknown...), b[at:]...)
		}, code: exitOK,
			check: func(t *testing.T, r *pcapRun) string {
				return wantPackets(t, r, goodRecords, true) + "; unknown block skipped"
			}},
		{name: "pcapng interfaces with different link types", ext: "pcapng", data: func(t *testing.T) []byte {
			g := malformedBase(t)
			ip := ipv4(6, nil, 0, tcpSeg(5, nil, 10))
			g.AddRaw(time.Second, ip, len(ip))
			g.Recs[len(g.Recs)-1].CI.InterfaceIndex = 1
			g.AddRaw(time.Second+time.Millisecond, []byte{1, 2, 3, 4}, 4)
			g.Recs[len(g.Recs)-1].CI.InterfaceIndex = 2
			return g.Pcapng(layers.LinkTypeEthernet, layers.LinkTypeRaw, layers.LinkType(147))
		}, code: exitOK,
			check: func(t *testing.T, r *pcapRun) string {
				out := wantPackets(t, r, goodRecords+2, true)
				c := r.capture()
				if c.TCPPackets != goodRecords+1 || undecodedFor(c, "unsupported link type") != 1 || len(c.Interfaces) != 3 {
					t.Errorf("tcp %d undecoded %+v interfaces %d", c.TCPPackets, c.Undecoded, len(c.Interfaces))
				}
				w := r.warningWith("linktype 147")
				if w == "" {
					t.Errorf("no warning about link type 147: %q", r.rep.Warnings)
				}
				return out + fmt.Sprintf("; Ethernet and raw IP decoded, linktype 147 counted undecoded; warning %q", w)
			}},
		{name: "gzip cut short", ext: "pcap.gz", data: func(t *testing.T) []byte {
			g := malformedBase(t)
			for i := range 200 { // enough records that half the stream holds some
				f := ipv4(6, nil, 0, tcpSeg(5, nil, 10+i))
				g.AddRaw(time.Second+time.Duration(i)*time.Millisecond, ether(0x0800, f), 14+len(f))
			}
			z := capturetest.Gzip(t, g.Pcap())
			return z[:len(z)/2]
		}, code: exitOK,
			text: []string{"INCOMPLETE"},
			check: func(t *testing.T, r *pcapRun) string {
				c := r.capture()
				if c == nil || c.Complete || c.Packets < goodRecords || c.Packets >= goodRecords+200 || !c.Compressed {
					t.Fatalf("capture %+v", c)
				}
				w := r.warningWith("capture ends in the middle of a record")
				if w == "" {
					t.Errorf("no cut-short warning: %q", r.rep.Warnings)
				}
				return fmt.Sprintf("%d records analysed; warning %q", c.Packets, firstLine(w))
			}},
		{name: "gzip stream corrupted", ext: "pcap.gz", data: func(t *testing.T) []byte {
			z := capturetest.Gzip(t, malformedBase(t).Pcap())
			binary.LittleEndian.PutUint32(z[len(z)-8:], 0xdeadbeef) // the CRC-32
			return z
		}, code: exitError,
			stderr: []string{"case.pcap.gz: record", "damaged record: gzip: invalid checksum"},
			text:   []string{"INCOMPLETE"},
			check: func(t *testing.T, r *pcapRun) string {
				return wantPackets(t, r, goodRecords, false) + "; every record before the bad checksum analysed"
			}},

		{name: "IPv4 options", data: func(t *testing.T) []byte {
			opts := []byte{0x94, 4, 0, 0, 1, 1, 1, 0} // router alert, NOPs, end of list
			return withFrames(t, ether(0x0800, ipv4(6, opts, 0, tcpSeg(5, nil, 10))))
		}, check: wantDecoded("tcp", 1)},
		{name: "IPv4 header length below 20", data: func(t *testing.T) []byte {
			p := ipv4(6, nil, 0, tcpSeg(5, nil, 10))
			p[0] = 0x43
			return withFrames(t, ether(0x0800, p))
		}, check: wantUndecoded("ipv4: invalid header length")},
		{name: "IPv4 header length past the packet", data: func(t *testing.T) []byte {
			p := ipv4(6, nil, 0, nil)
			p[0] = 0x4f // 60 bytes of header in a 20-byte packet
			return withFrames(t, ether(0x0800, p))
		}, check: wantUndecoded("ipv4: header longer than the packet")},
		{name: "IPv4 total length past the frame", data: func(t *testing.T) []byte {
			p := ipv4(6, nil, 0, tcpSeg(5, nil, 10))
			binary.BigEndian.PutUint16(p[2:], 1500)
			return withFrames(t, ether(0x0800, p))
		}, check: func(t *testing.T, r *pcapRun) string {
			out := wantPackets(t, r, goodRecords+1, true)
			c := r.capture()
			w := r.warningWith("trimmed")
			if c.OverlongPackets != 1 || w == "" {
				t.Errorf("overlong %d warnings %q", c.OverlongPackets, r.rep.Warnings)
			}
			return out + fmt.Sprintf("; counted overlong (1), the IP length used; warning %q", w)
		}},
		{name: "IPv4 total length below its header", data: func(t *testing.T) []byte {
			p := ipv4(6, nil, 0, tcpSeg(5, nil, 10))
			binary.BigEndian.PutUint16(p[2:], 12)
			return withFrames(t, ether(0x0800, p))
		}, check: wantUndecoded("ipv4: invalid header length")},
		{name: "IPv4 first and later fragments", data: func(t *testing.T) []byte {
			return withFrames(t,
				ether(0x0800, ipv4(6, nil, 0x2000, tcpSeg(5, nil, 64))), // MF, offset 0
				ether(0x0800, ipv4(6, nil, 11, make([]byte, 40))))       // offset 88, last
		}, check: wantDecoded("fragment", 2)},
		{name: "IPv6 extension header chain", data: func(t *testing.T) []byte {
			return withFrames(t, ether(0x86dd, ipv6(0, ext6(43, 0, ext6(60, 1, ext6(6, 0, tcpSeg(5, nil, 10)))))))
		}, check: wantDecoded("tcp", 1)},
		{name: "IPv6 extension header past the packet", data: func(t *testing.T) []byte {
			return withFrames(t, ether(0x86dd, ipv6(60, append([]byte{6, 200}, make([]byte, 6)...))))
		}, check: wantUndecoded("ipv6: length field exceeds the frame")},
		{name: "IPv6 first and later fragments", data: func(t *testing.T) []byte {
			frag := func(off uint16, more bool, rest []byte) []byte {
				h := []byte{6, 0, 0, 0, 0, 0, 0, 9}
				v := off << 3
				if more {
					v |= 1
				}
				binary.BigEndian.PutUint16(h[2:], v)
				return append(h, rest...)
			}
			return withFrames(t,
				ether(0x86dd, ipv6(44, frag(0, true, tcpSeg(5, nil, 64)))),
				ether(0x86dd, ipv6(0, ext6(44, 0, frag(11, false, make([]byte, 40))))))
		}, check: wantDecoded("fragment", 2)},
		{name: "TCP option length 0", data: func(t *testing.T) []byte {
			return withFrames(t, ether(0x0800, ipv4(6, nil, 0, tcpSeg(6, []byte{2, 0, 5, 0}, 10))))
		}, check: wantBadOptions},
		{name: "TCP option length 1", data: func(t *testing.T) []byte {
			return withFrames(t, ether(0x0800, ipv4(6, nil, 0, tcpSeg(6, []byte{8, 1, 0, 0}, 10))))
		}, check: wantBadOptions},
		{name: "TCP option running past the header", data: func(t *testing.T) []byte {
			return withFrames(t, ether(0x0800, ipv4(6, nil, 0, tcpSeg(6, []byte{1, 8, 10, 0}, 10))))
		}, check: wantBadOptions},
		{name: "TCP data offset below 5", data: func(t *testing.T) []byte {
			return withFrames(t, ether(0x0800, ipv4(6, nil, 0, tcpSeg(3, nil, 10))))
		}, check: wantUndecoded("tcp: invalid header length")},
		{name: "TCP data offset past the segment", data: func(t *testing.T) []byte {
			return withFrames(t, ether(0x0800, ipv4(6, nil, 0, tcpSeg(15, nil, 0))))
		}, check: wantUndecoded("tcp: invalid header length")},
		{name: "VXLAN header past the end", data: func(t *testing.T) []byte {
			return withFrames(t, ether(0x0800, ipv4(17, nil, 0, udpDgram(4789, 0, []byte{8, 0, 0, 0}))))
		}, check: wantUndecoded("vxlan: header longer than the packet")},
		{name: "VXLAN inner frame cut inside its Ethernet header", data: func(t *testing.T) []byte {
			return withFrames(t, ether(0x0800, ipv4(17, nil, 0, udpDgram(4789, 0, []byte{8, 0, 0, 0, 0, 0, 42, 0, 2, 0, 0, 0, 0, 1}))))
		}, check: wantUndecoded("ethernet: header longer than the packet")},
		{name: "GRE key and sequence past the end", data: func(t *testing.T) []byte {
			return withFrames(t, ether(0x0800, ipv4(47, nil, 0, []byte{0x30, 0, 0x08, 0})))
		}, check: wantUndecoded("gre: header longer than the packet")},
		{name: "GENEVE options past the end", data: func(t *testing.T) []byte {
			return withFrames(t, ether(0x0800, ipv4(17, nil, 0, udpDgram(6081, 0, []byte{0x3f, 0, 0x65, 0x58, 0, 0, 1, 0}))))
		}, check: wantUndecoded("geneve: header longer than the packet")},
		{name: "UDP length past the packet", data: func(t *testing.T) []byte {
			return withFrames(t, ether(0x0800, ipv4(17, nil, 0, udpDgram(53, 500, make([]byte, 10)))))
		}, check: wantUndecoded("udp: length field exceeds the frame")},
		{name: "UDP length below its header", data: func(t *testing.T) []byte {
			return withFrames(t, ether(0x0800, ipv4(17, nil, 0, udpDgram(53, 4, make([]byte, 10)))))
		}, check: wantUndecoded("udp: invalid header length")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ext := tc.ext
			if ext == "" {
				ext = "pcap"
			}
			file := filepath.Join(t.TempDir(), "case."+ext)
			if err := os.WriteFile(file, tc.data(t), 0o644); err != nil {
				t.Fatal(err)
			}
			r := analyzeBoth(t, file)
			if r.code != tc.code {
				t.Errorf("exit %d, want %d\nstderr: %s", r.code, tc.code, r.stderr)
			}
			for _, s := range tc.stderr {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, r.stderr)
				}
			}
			if tc.code == exitOK && r.stderr != "" {
				t.Errorf("stderr of a run that exits 0: %q", r.stderr)
			}
			for _, s := range tc.text {
				if !strings.Contains(r.text, s) {
					t.Errorf("text report lacks %q:\n%.1500s", s, r.text)
				}
			}
			detail := tc.check(t, &r)
			msg := firstLine(r.stderr)
			if msg == "" {
				msg = "no error"
			}
			outcome := fmt.Sprintf("exit %d; %q; %s", r.code, strings.TrimPrefix(msg, "netdx: "), detail)
			t.Logf("reliability: %s", strings.ReplaceAll(outcome, filepath.Dir(file)+string(filepath.Separator), ""))
		})
	}
}

// wantBadOptions asserts a segment with garbage TCP options is analysed as
// TCP (its options ignored) and counted in a warning.
func wantBadOptions(t *testing.T, r *pcapRun) string {
	t.Helper()
	out := wantPackets(t, r, goodRecords+1, true)
	c := r.capture()
	if c.TCPPackets != goodRecords+1 || len(c.Undecoded) != 0 {
		t.Errorf("tcp %d undecoded %+v", c.TCPPackets, c.Undecoded)
	}
	w := r.warningWith("1 TCP segment(s) had malformed options")
	if !strings.Contains(w, fmt.Sprintf("record %d", goodRecords+1)) {
		t.Errorf("no warning counting the malformed options at record %d: %q", goodRecords+1, r.rep.Warnings)
	}
	return out + fmt.Sprintf("; analysed as TCP, options ignored; warning %q", w)
}

// lineEdit rewrites line n (1-based) of s with edit applied to its fields.
func lineEdit(s string, n int, edit func(f []string) []string) string {
	lines := strings.Split(s, "\n")
	lines[n-1] = strings.Join(edit(strings.Fields(lines[n-1])), " ")
	return strings.Join(lines, "\n")
}

// setField sets field i of line n.
func setField(s string, n, i int, v string) string {
	return lineEdit(s, n, func(f []string) []string { f[i] = v; return f })
}

// keepLines keeps lines [from, to) (1-based from).
func keepLines(s string, from, to int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[from-1:to-1], "\n") + "\n"
}

// procGarbage is binary noise with a few line breaks.
var procGarbage = "\x7fELF\x02\x01\x01\x00\x00\x00\xff\xfe\n\x00\x00\x01\x00\x3e\x00\x01\x00\xde\xad\xbe\xef\n\xc3\x28\xa0\xa1\n"

// procDamage is one way a /proc file can be wrong. edit returns the new
// content; remove deletes the file instead. want is "malformed" (exit 3,
// a NOT READ entry naming the file), "accepted" (read, exit 0) or
// "absent" (exit 0, a NOT READ entry saying the kernel does not offer it).
type procDamage struct {
	name   string
	edit   func(s string) string
	remove bool
	want   string
	// msg must appear in the NOT READ message (line and field).
	msg string
	// note says why an accepted oddity is fine.
	note string
}

// procFile is one kernel file and the damage cases that apply to its format.
type procFile struct {
	name, rel string
	// netstatFamily files are read by the netstat collector; the other
	// sources are checked through softnet, the rest through netstat.
	netstatFamily bool
	cases         []procDamage
}

func procFiles() []procFile {
	empty := procDamage{name: "empty file", edit: func(string) string { return "" }, want: "malformed", msg: "empty file"}
	garbage := procDamage{name: "binary garbage", edit: func(string) string { return procGarbage }, want: "malformed", msg: "line 1"}
	paired := func(missing string) []procDamage {
		return []procDamage{
			{name: "missing columns", edit: func(s string) string {
				return lineEdit(s, 2, func(f []string) []string { return f[:len(f)-1] })
			}, want: "malformed", msg: "line 2: " + missing},
			{name: "extra columns", edit: func(s string) string {
				s = lineEdit(s, 1, func(f []string) []string { return append(f, "NetdxNewCounter") })
				return lineEdit(s, 2, func(f []string) []string { return append(f, "7") })
			}, want: "accepted", note: "a new kernel's counter, read by name"},
			{name: "non-numeric value", edit: func(s string) string { return setField(s, 2, 2, "12x") }, want: "malformed", msg: `line 2: `},
			{name: "header without values line", edit: func(s string) string { return keepLines(s, 1, 2) }, want: "malformed", msg: "line 1: header line without a value line"},
			{name: "values without header", edit: func(s string) string { return keepLines(s, 2, 3) }, want: "malformed", msg: "line 1: value line without a header line"},
			empty,
			{name: "file missing", remove: true, want: "absent"},
			garbage,
			{name: "number above 64 bits", edit: func(s string) string { return setField(s, 2, 2, "99999999999999999999999") }, want: "malformed", msg: "does not fit in 64 bits"},
			{name: "negative number", edit: func(s string) string { return setField(s, 2, 2, "-5") }, want: "accepted",
				note: "negative values are constants such as Tcp MaxConn -1 and are left out"},
		}
	}
	return []procFile{
		{name: "netstat", rel: "proc/net/netstat", netstatFamily: true, cases: paired("TcpExt has")},
		{name: "snmp", rel: "proc/net/snmp", netstatFamily: true, cases: paired("Ip has")},
		{name: "snmp6", rel: "proc/net/snmp6", netstatFamily: true, cases: []procDamage{
			{name: "missing columns", edit: func(s string) string { return lineEdit(s, 2, func(f []string) []string { return f[:1] }) }, want: "malformed", msg: "line 2: want \"name value\", got 1 fields"},
			{name: "extra columns", edit: func(s string) string { return lineEdit(s, 2, func(f []string) []string { return append(f, "9") }) }, want: "malformed", msg: "line 2: want \"name value\", got 3 fields"},
			{name: "non-numeric value", edit: func(s string) string { return setField(s, 2, 1, "zero") }, want: "malformed", msg: `line 2: Ip6InHdrErrors: "zero" is not a number`},
			{name: "values without names", edit: func(s string) string { return lineEdit(s, 2, func(f []string) []string { return []string{"5", "6"} }) }, want: "malformed", msg: "line 2: counter \"5\" has no section prefix"},
			empty,
			{name: "file missing", remove: true, want: "accepted", note: "IPv6 is disabled: nothing to judge"},
			garbage,
			{name: "number above 64 bits", edit: func(s string) string { return setField(s, 2, 1, "18446744073709551616") }, want: "malformed", msg: "line 2: Ip6InHdrErrors: \"18446744073709551616\" does not fit in 64 bits"},
			{name: "negative number", edit: func(s string) string { return setField(s, 2, 1, "-1") }, want: "malformed", msg: `line 2: Ip6InHdrErrors: "-1" is negative`},
		}},
		{name: "softnet_stat", rel: "proc/net/softnet_stat", cases: []procDamage{
			{name: "missing columns", edit: func(s string) string { return lineEdit(s, 2, func(f []string) []string { return f[:5] }) }, want: "malformed", msg: "line 2: 5 columns, want at least 9"},
			{name: "extra columns", edit: func(s string) string {
				s = lineEdit(s, 1, func(f []string) []string { return append(f, "00000003") })
				return lineEdit(s, 2, func(f []string) []string { return append(f, "00000003") })
			}, want: "accepted", note: "a new kernel's columns"},
			{name: "non-numeric value", edit: func(s string) string { return setField(s, 2, 1, "0000zz00") }, want: "malformed", msg: `line 2: column 2: "0000zz00" is not hexadecimal`},
			empty,
			{name: "file missing", remove: true, want: "absent"},
			garbage,
			{name: "number above 32 bits", edit: func(s string) string { return setField(s, 2, 1, "1ffffffff") }, want: "malformed", msg: `line 2: column 2: "1ffffffff" does not fit in 32 bits`},
			{name: "negative number", edit: func(s string) string { return setField(s, 2, 1, "-1") }, want: "malformed", msg: `line 2: column 2: "-1" is negative`},
		}},
		{name: "net/dev", rel: "proc/net/dev", cases: []procDamage{
			{name: "missing columns", edit: func(s string) string { return lineEdit(s, 4, func(f []string) []string { return f[:len(f)-1] }) }, want: "malformed", msg: "line 4: 15 values for 16 columns"},
			{name: "extra columns", edit: func(s string) string {
				s = strings.Replace(s, "multicast|", "multicast nohandler|", 1)
				for i := 3; i < strings.Count(s, "\n")+1; i++ {
					s = lineEdit(s, i, func(f []string) []string { return append(f[:9], append([]string{"4"}, f[9:]...)...) })
				}
				return s
			}, want: "accepted", note: "a new kernel's column, read by name"},
			{name: "non-numeric value", edit: func(s string) string { return setField(s, 4, 4, "n/a") }, want: "malformed", msg: `line 4: rx_dropped: "n/a" is not a number`},
			{name: "header without values", edit: func(s string) string { return keepLines(s, 1, 3) }, want: "malformed", msg: "a header without interface rows"},
			{name: "values without header", edit: func(s string) string { return keepLines(s, 3, 5) }, want: "malformed", msg: "line 2: header does not have receive and transmit parts"},
			empty,
			{name: "file missing", remove: true, want: "absent"},
			garbage,
			{name: "number above 64 bits", edit: func(s string) string { return setField(s, 4, 1, "99999999999999999999") }, want: "malformed", msg: `line 4: rx_bytes: "99999999999999999999" does not fit in 64 bits`},
			{name: "negative number", edit: func(s string) string { return setField(s, 4, 1, "-1") }, want: "malformed", msg: `line 4: rx_bytes: "-1" is negative`},
		}},
		{name: "nf_conntrack stat", rel: "proc/net/stat/nf_conntrack", cases: []procDamage{
			{name: "missing columns", edit: func(s string) string { return lineEdit(s, 3, func(f []string) []string { return f[:3] }) }, want: "malformed", msg: "line 3: 3 values for 17 columns"},
			{name: "extra columns", edit: func(s string) string {
				s = lineEdit(s, 1, func(f []string) []string { return append(f, "netdx_new") })
				for i := 2; i <= 5; i++ {
					s = lineEdit(s, i, func(f []string) []string { return append(f, "00000001") })
				}
				return s
			}, want: "accepted", note: "a new kernel's column, read by name"},
			{name: "non-numeric value", edit: func(s string) string { return setField(s, 3, 2, "found!") }, want: "malformed", msg: `line 3: found: "found!" is not hexadecimal`},
			{name: "header without values", edit: func(s string) string { return keepLines(s, 1, 2) }, want: "malformed", msg: "a header without per-CPU rows"},
			{name: "values without header", edit: func(s string) string { return keepLines(s, 2, 6) }, want: "malformed", msg: "line 1: a row of numbers where the column names should be"},
			empty,
			{name: "file missing", remove: true, want: "absent"},
			garbage,
			{name: "number above 64 bits", edit: func(s string) string { return setField(s, 3, 2, "1ffffffffffffffff") }, want: "malformed", msg: `line 3: found: "1ffffffffffffffff" does not fit in 64 bits`},
			{name: "negative number", edit: func(s string) string { return setField(s, 3, 2, "-1") }, want: "malformed", msg: `line 3: found: "-1" is negative`},
		}},
		{name: "sockstat", rel: "proc/net/sockstat", cases: []procDamage{
			{name: "missing columns", edit: func(s string) string { return lineEdit(s, 2, func(f []string) []string { return f[:len(f)-1] }) }, want: "malformed", msg: "line 2: TCP: keys and values do not pair up"},
			{name: "extra columns", edit: func(s string) string {
				return lineEdit(s, 2, func(f []string) []string { return append(f, "netdxnew", "3") })
			}, want: "accepted", note: "a new key, read by name"},
			{name: "non-numeric value", edit: func(s string) string { return setField(s, 2, 2, "lots") }, want: "malformed", msg: `line 2: TCP inuse: "lots" is not a number`},
			empty,
			{name: "file missing", remove: true, want: "absent"},
			garbage,
			{name: "number above 64 bits", edit: func(s string) string { return setField(s, 2, 2, "99999999999999999999") }, want: "malformed", msg: `line 2: TCP inuse: "99999999999999999999" does not fit in 64 bits`},
			{name: "negative number", edit: func(s string) string { return setField(s, 2, 2, "-3") }, want: "malformed", msg: `line 2: TCP inuse: "-3" is negative`},
		}},
		{name: "sysctl somaxconn", rel: "proc/sys/net/core/somaxconn", cases: []procDamage{
			{name: "extra columns", edit: func(string) string { return "4096 5\n" }, want: "malformed", msg: "want one integer, got 2 fields"},
			{name: "non-numeric value", edit: func(string) string { return "lots\n" }, want: "malformed", msg: `line 1: "lots" is not an integer`},
			{name: "empty file", edit: func(string) string { return "" }, want: "malformed", msg: "empty file"},
			{name: "file missing", remove: true, want: "accepted", note: "older kernels lack some settings; the rules that need it say not read"},
			garbage,
			{name: "number above 64 bits", edit: func(string) string { return "99999999999999999999\n" }, want: "malformed", msg: `line 1: "99999999999999999999" does not fit in 64 bits`},
			{name: "negative number", edit: func(string) string { return "-1\n" }, want: "accepted", note: "settings are signed integers"},
		}},
		{name: "sysctl tcp_rmem", rel: "proc/sys/net/ipv4/tcp_rmem", cases: []procDamage{
			{name: "missing columns", edit: func(string) string { return "4096 87380\n" }, want: "malformed", msg: "want 3 integers, got 2 fields"},
		}},
	}
}

func TestMalformedProc(t *testing.T) {
	fixture := filepath.Join(hostsDir, "linux-6.18")
	for _, pf := range procFiles() {
		good, err := os.ReadFile(filepath.Join(fixture, pf.rel))
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range pf.cases {
			t.Run(pf.name+" "+d.name, func(t *testing.T) {
				dir := t.TempDir()
				copyTree(t, fixture, dir)
				path := filepath.Join(dir, pf.rel)
				if d.remove {
					if err := os.Remove(path); err != nil {
						t.Fatal(err)
					}
				} else if err := os.WriteFile(path, []byte(d.edit(string(good))), 0o644); err != nil {
					t.Fatal(err)
				}
				a, out, errb := testApp()
				code := execute(t, a, replay(t, dir, ""), "diag", "--interval", "0", "--fail-on", "none")
				ja, jout, _ := testApp()
				jcode := execute(t, ja, replay(t, dir, ""), "diag", "--interval", "0", "--fail-on", "none", "--json")
				validReport(t, "diag "+pf.name+" "+d.name, jout.Bytes())
				var rep report.Report
				if err := json.Unmarshal(jout.Bytes(), &rep); err != nil {
					t.Fatal(err)
				}
				if jcode != code {
					t.Errorf("exit %d with --json, %d without", jcode, code)
				}
				// The other sources are still read.
				if rep.Diag == nil || pf.netstatFamily && len(rep.Diag.Softnet) == 0 || !pf.netstatFamily && len(rep.Diag.Netstat) == 0 {
					t.Errorf("the other sources were not read: %+v", rep.Diag)
				}
				var skip *report.Skip
				for i, s := range rep.Skipped {
					if s.Source == path {
						skip = &rep.Skipped[i]
					}
				}
				var outcome string
				switch d.want {
				case "malformed":
					if code != exitError || !strings.Contains(errb.String(), "1 source(s) could not be read; see NOT READ") {
						t.Errorf("exit %d, want %d; stderr %q", code, exitError, errb)
					}
					if skip == nil || skip.Reason != report.ReasonError || !strings.Contains(skip.Message, "malformed "+path) ||
						!strings.Contains(skip.Message, d.msg) || skip.Fix == "" {
						t.Errorf("NOT READ entry %+v, want an error naming %s with %q and a fix (all: %+v)", skip, path, d.msg, rep.Skipped)
					}
					if !strings.Contains(out.String(), "NOT READ") || skip != nil && !strings.Contains(out.String(), skip.Message) {
						t.Errorf("text report lacks the NOT READ line")
					}
					if skip != nil {
						outcome = fmt.Sprintf("exit %d; %q; other sources read", code, strings.ReplaceAll(skip.Message, dir+"/", ""))
					}
				case "absent":
					if code != exitOK || skip == nil || skip.Reason != report.ReasonAbsent {
						t.Errorf("exit %d, NOT READ entry %+v; want exit 0 and an absent entry (all: %+v)", code, skip, rep.Skipped)
					}
					if skip != nil {
						outcome = fmt.Sprintf("exit %d; NOT READ %s: %s; other sources read", code, skip.Reason, strings.ReplaceAll(skip.Message, dir+"/", ""))
					}
				case "accepted":
					if code != exitOK || skip != nil {
						t.Errorf("exit %d, NOT READ entry %+v; want it read with exit 0 (stderr %q)", code, skip, errb)
					}
					outcome = fmt.Sprintf("exit %d; read without complaint: %s", code, d.note)
					if d.name == "extra columns" && pf.rel == "proc/net/netstat" && rep.Diag.Netstat["TcpExt"]["NetdxNewCounter"].Total != 7 {
						t.Errorf("the new counter was not read: %+v", rep.Diag.Netstat["TcpExt"]["NetdxNewCounter"])
					}
				}
				t.Logf("reliability: %s", outcome)
			})
		}
	}
}
