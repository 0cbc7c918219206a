package capture

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	ct "github.com/netdx/netdx/capture/capturetest"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/netdx/netdx/capture/decode"
)

// synth streams a large generated pcap without holding it: flows send
// bulk data in turn, each data segment of 1448 bytes (1514 on the wire)
// and an ACK for every second one. In each flow one segment in 100 swaps
// with the next and one in 300 is sent again, so the analysis does real
// work.
type synth struct {
	flows   []synthFlow
	snap    int   // captured bytes per data frame
	limit   int64 // stop after this many bytes
	written int64
	packets uint64
	buf     []byte
	ts      time.Duration
	i       uint64
}

type synthFlow struct {
	data, ack []byte // templates: Ethernet/IPv4/TCP with timestamps
	next      uint32
	id        uint16
	sent      uint64
	pending   []byte // a segment held back to swap with the next one
}

const (
	offIPID = 14 + 4
	offSeq  = 14 + 20 + 4
	offAck  = 14 + 20 + 8
	offTS   = 14 + 20 + 20 + 4
)

func newSynth(tb testing.TB, flows, snap int, limit int64) *synth {
	s := &synth{snap: snap, limit: limit}
	g := ct.NewGen(tb, layers.LinkTypeEthernet)
	for i := range flows {
		c := ct.NewConv(g, netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), uint16(40000+i>>16)).String(),
			"198.19.0.1:5201")
		d := g.Build(ptr(c.Data(0, 0, 1448)), layers.LinkTypeEthernet)
		a := g.Build(ptr(c.AckFrame(1, 0, 1)), layers.LinkTypeEthernet)
		s.flows = append(s.flows, synthFlow{data: d, ack: a, next: 1001})
	}
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr, 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], uint32(snap))
	binary.LittleEndian.PutUint32(hdr[20:], 1)
	s.buf = hdr
	return s
}

func ptr(f ct.Frame) *ct.Frame { return &f }

func (s *synth) record(frame []byte, wire int) {
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
func (s *synth) segment(f *synthFlow, seq uint32) []byte {
	binary.BigEndian.PutUint32(f.data[offSeq:], seq)
	binary.BigEndian.PutUint16(f.data[offIPID:], f.id)
	binary.BigEndian.PutUint32(f.data[offTS:], uint32(s.ts/time.Millisecond))
	f.id++
	return f.data
}

func (s *synth) step() {
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
		binary.BigEndian.PutUint32(f.ack[offAck:], f.next)
		binary.BigEndian.PutUint16(f.ack[offIPID:], uint16(f.sent))
		s.record(f.ack, len(f.ack))
	}
}

func (s *synth) Read(p []byte) (int, error) {
	for len(s.buf) < len(p) && s.written+int64(len(s.buf)) < s.limit {
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

// synthBytes generates a capture of about n packets into memory.
func synthBytes(tb testing.TB, flows, snap int, packets uint64) []byte {
	s := newSynth(tb, flows, snap, 1<<62)
	var b bytes.Buffer
	chunk := make([]byte, 1<<20)
	for s.packets < packets {
		n, _ := s.Read(chunk)
		b.Write(chunk[:n])
	}
	b.Write(s.buf)
	return b.Bytes()
}

var benchData = map[string][]byte{}

// BenchmarkAnalyze measures packets per second on one core over a
// capture held in memory, with reordering and retransmissions in every
// flow: headers only (snap length 128) and whole frames over 1000 flows,
// and headers only over 10,000 flows (more flow state than the CPU caches
// hold).
func BenchmarkAnalyze(b *testing.B) {
	for _, tc := range []struct {
		name    string
		snap    int
		flows   int
		packets uint64
	}{{"snap128", 128, 1000, 1_500_000}, {"fullframes", 1514, 1000, 300_000}, {"snap128-10kflows", 128, 10_000, 3_000_000}} {
		b.Run(tc.name, func(b *testing.B) {
			data := benchData[tc.name]
			if data == nil {
				data = synthBytes(b, tc.flows, tc.snap, tc.packets)
				benchData[tc.name] = data
				if dir := os.Getenv("NETDX_BENCH_PCAP_DIR"); dir != "" {
					// The same capture for other tools: docs/pcap.md times tshark on it.
					if err := os.WriteFile(filepath.Join(dir, "bench-"+tc.name+".pcap"), data, 0o644); err != nil {
						b.Fatal(err)
					}
				}
			}
			runtime.GC()
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			b.ResetTimer()
			var pkts uint64
			for range b.N {
				res, err := Analyze(context.Background(), bytes.NewReader(data), Options{})
				if err != nil {
					b.Fatal(err)
				}
				pkts += res.Packets
			}
			b.ReportMetric(float64(pkts)/b.Elapsed().Seconds(), "packets/s")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(pkts), "ns/packet")
		})
		delete(benchData, tc.name)
	}
}

// BenchmarkAnalyzeMemory streams generated captures of growing size
// through Analyze and reports the peak heap and the peak memory taken
// from the OS: they must stay flat as the file grows. 1,000 flows reach
// their steady state (reordering and retransmission state allocated)
// within the smallest size, so what grows would be a leak.
func BenchmarkAnalyzeMemory(b *testing.B) {
	for _, size := range []int64{256 << 20, 1 << 30, 4 << 30} {
		b.Run(fmt.Sprintf("size=%dMiB", size>>20), func(b *testing.B) {
			for range b.N {
				runtime.GC()
				peakHeap, peakTotal := samplePeak(func() {
					res, err := Analyze(context.Background(), newSynth(b, 1000, 1514, size), Options{})
					if err != nil || res.Packets == 0 {
						b.Fatal(err)
					}
				})
				b.ReportMetric(float64(peakHeap)/(1<<20), "peak-heap-MiB")
				b.ReportMetric(float64(peakTotal)/(1<<20), "peak-runtime-MiB")
			}
		})
	}
}

// samplePeak runs fn and samples the Go runtime's heap and total mapped
// memory (less what it returned to the OS) every 5 ms.
func samplePeak(fn func()) (heap, total uint64) {
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/released:bytes"}}
	var mu sync.Mutex
	read := func() {
		metrics.Read(samples)
		mu.Lock()
		heap = max(heap, samples[0].Value.Uint64())
		total = max(total, samples[1].Value.Uint64()-samples[2].Value.Uint64())
		mu.Unlock()
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				read()
			}
		}
	}()
	fn()
	read()
	close(done)
	wg.Wait()
	return heap, total
}

// BenchmarkDecode compares netdx's decoder with gopacket's
// DecodingLayerParser on the same Ethernet/IPv4/TCP frame.
func BenchmarkDecode(b *testing.B) {
	g := ct.NewGen(b, layers.LinkTypeEthernet)
	c := ct.NewConv(g, "198.18.0.1:40000", "198.18.1.1:5201")
	frame := g.Build(ptr(c.Data(0, 0, 1448)), layers.LinkTypeEthernet)
	b.Run("netdx", func(b *testing.B) {
		d := decode.New(decode.Config{})
		b.ReportAllocs()
		for range b.N {
			if p := d.Decode(layers.LinkTypeEthernet, frame, len(frame)); p.Top != decode.TopTCP {
				b.Fatal("not TCP")
			}
		}
	})
	b.Run("gopacket-DecodingLayerParser", func(b *testing.B) {
		var (
			eth layers.Ethernet
			ip4 layers.IPv4
			tcp layers.TCP
			pl  gopacket.Payload
		)
		parser := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &eth, &ip4, &tcp, &pl)
		decoded := make([]gopacket.LayerType, 0, 4)
		b.ReportAllocs()
		for range b.N {
			if err := parser.DecodeLayers(frame, &decoded); err != nil || len(decoded) < 3 {
				b.Fatal(err)
			}
		}
	})
}

// The benchmark's generated load has an exact truth too: in each flow one
// segment in 100 swapped with the next, one in 300 sent again.
func TestSynthTruth(t *testing.T) {
	data := synthBytes(t, 10, 128, 20000)
	res, err := Analyze(context.Background(), bytes.NewReader(data), Options{})
	if err != nil {
		t.Fatal(err)
	}
	tt := &res.Totals.TCP
	var sent, wantRe, wantRtx uint64
	for _, f := range res.Flows {
		n := f.Dir[0].DataPackets - f.Dir[0].Retransmission.Frames
		sent += n
		wantRe += n / 100
		wantRtx += (n + 150) / 300
	}
	if tt.Retransmission.Packets != wantRtx || res.Totals.Reorder.Reordered != wantRe || tt.LostSegments != 0 || tt.Retransmission.Spurious != 0 {
		t.Errorf("%d segments: retransmitted %d (want %d), reordered %d (want %d), lost %d, spurious %d",
			sent, tt.Retransmission.Packets, wantRtx, res.Totals.Reorder.Reordered, wantRe, tt.LostSegments, tt.Retransmission.Spurious)
	}
}
