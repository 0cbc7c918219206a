package capture

import (
	"bytes"
	"context"
	"fmt"
	"io"
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

// synthBytes generates a capture of about n packets into memory (see
// capturetest.Bulk for its content and truth).
func synthBytes(tb testing.TB, flows, snap int, packets uint64) []byte {
	s := newSynth(tb, flows, snap)
	s.MaxPackets = packets
	data, err := io.ReadAll(s)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

func newSynth(tb testing.TB, flows, snap int) *ct.Bulk {
	s, err := ct.NewBulk(flows, snap)
	if err != nil {
		tb.Fatal(err)
	}
	return s
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
					s := newSynth(b, 1000, 1514)
					s.MaxBytes = size
					res, err := Analyze(context.Background(), s, Options{})
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
	f := c.Data(0, 0, 1448)
	frame := g.Build(&f, layers.LinkTypeEthernet)
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
