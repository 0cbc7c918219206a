package drops

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/netdx/netdx/internal/netlab"
)

// BenchmarkDropOverhead measures the programs' cost per kfree_skb event
// in the kernel: run_time_ns / run_cnt of the program's own statistics,
// while a namespace receives b.N datagrams to a closed port (each one
// drop). The "none" case sends the same datagrams with nothing attached:
// its ns/op against the others' is the whole-path ratio. Statistics are enabled through BPF_ENABLE_STATS, which lasts
// while its descriptor is open: kernel.bpf_stats_enabled is not touched.
//
//	go test ./drops -run '^$' -bench DropOverhead -benchtime 200000x
func BenchmarkDropOverhead(b *testing.B) {
	for _, kind := range []Kind{KindNone, KindBTF, KindTracepoint} {
		b.Run(string(kind), func(b *testing.B) {
			netlab.RequireRoot(b)
			if kind == KindNone {
				p := netlab.NewPath(b, netlab.PathSpec{})
				b.ResetTimer()
				if _, err := p.Prober.SendUDP(netip.Addr{}, netip.AddrPortFrom(p.TargetAddr.V4, 9), b.N, 64); err != nil {
					b.Fatal(err)
				}
				return
			}
			opts := Options{Kinds: []Kind{kind}}
			if kind == KindTracepoint {
				opts.TraceFS = benchTracefs(b)
			}
			s := New(opts)
			if err := s.Start(b.Context()); err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			if s.Kind() != kind {
				b.Skipf("skipped: %s cannot run here: %v", kind, s.Failures())
			}
			stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
			if err != nil {
				b.Skipf("skipped: BPF_ENABLE_STATS: %v", err)
			}
			defer stats.Close()
			p := netlab.NewPath(b, netlab.PathSpec{})
			dst := netip.AddrPortFrom(p.TargetAddr.V4, 9)
			before, err := s.prog.Stats()
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			if _, err := p.Prober.SendUDP(netip.Addr{}, dst, b.N, 64); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			after, err := s.prog.Stats()
			if err != nil {
				b.Fatal(err)
			}
			runs := after.RunCount - before.RunCount
			if runs == 0 {
				b.Fatal("the program never ran")
			}
			b.ReportMetric(float64(after.Runtime-before.Runtime)/float64(runs), "kernel-ns/drop")
			b.ReportMetric(float64(runs)/float64(b.N), "events/op")
		})
	}
}

// benchTracefs mounts tracefs for a benchmark (tracefsFor takes a
// *testing.T).
func benchTracefs(b *testing.B) string {
	dir := b.TempDir()
	if err := unix.Mount("nodev", dir, "tracefs", 0, ""); err != nil {
		b.Skipf("skipped: cannot mount tracefs: %v", err)
	}
	b.Cleanup(func() { unix.Unmount(dir, 0) })
	return dir
}

// BenchmarkReadMap measures one snapshot's read of the kernel map with
// rows rows (per-CPU counts summed, keys decoded), without names.
func BenchmarkReadMap(b *testing.B) {
	netlab.RequireRoot(b)
	for _, rows := range []int{100, 1000, DefaultMaxEntries} {
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			m, err := newMaps(DefaultMaxEntries)
			if err != nil {
				b.Skipf("skipped: %v", err)
			}
			defer m.Close()
			k := make([]byte, keySize)
			vals := make([]uint64, ebpfPossibleCPUs(b))
			for i := range rows {
				binary.NativeEndian.PutUint32(k[keyReason:], uint32(i%130))
				binary.NativeEndian.PutUint32(k[keyIfindex:], uint32(i/130))
				for c := range vals {
					vals[c] = uint64(i + c)
				}
				if err := m.counts.Put(k, vals); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for b.Loop() {
				got, _, err := m.read()
				if err != nil || len(got) != rows {
					b.Fatalf("%d rows, %v", len(got), err)
				}
			}
		})
	}
}

func ebpfPossibleCPUs(b *testing.B) int {
	n, err := ebpf.PossibleCPU()
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// BenchmarkPerfParse is the perf source's user-space cost per sample:
// walking the ring's records and decoding each raw record.
func BenchmarkPerfParse(b *testing.B) {
	var ring []byte
	for i := range 1000 {
		ring = append(ring, perfSample(uint32(i%130), 0x0800)...)
	}
	counts := map[key]uint64{}
	b.SetBytes(int64(len(ring)))
	for b.Loop() {
		if _, err := parsePerfRecords(ring, func(raw []byte) {
			if k, err := fixtureLayout.decodeRaw(raw); err == nil {
				counts[k]++
			}
		}, func(uint64) {}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/sample")
}
