package plot

import (
	"io"
	"strconv"
	"testing"
)

// countingWriter counts what is written.
type countingWriter struct{ n int }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

var _ io.Writer = (*countingWriter)(nil)

// BenchmarkTimeSequence draws graphs of 10k and 200k segments; svg-bytes
// is the document's size.
func BenchmarkTimeSequence(b *testing.B) {
	for _, n := range []int{10_000, 200_000} {
		g := bulkTransfer(n)
		b.Run(strconv.Itoa(n/1000)+"k", func(b *testing.B) {
			b.ReportAllocs()
			var w countingWriter
			for b.Loop() {
				w.n = 0
				if err := g.WriteSVG(&w); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(w.n), "svg-bytes")
			b.ReportMetric(float64(len(g.Segments)), "segments")
		})
	}
}

// BenchmarkHopRTT draws a 30-hop trace of 100 and 3000 rounds.
func BenchmarkHopRTT(b *testing.B) {
	for _, rounds := range []int{100, 3000} {
		h := longTraceRounds(rounds)
		b.Run(strconv.Itoa(rounds)+"-rounds", func(b *testing.B) {
			b.ReportAllocs()
			var w countingWriter
			for b.Loop() {
				w.n = 0
				if err := h.WriteSVG(&w); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(w.n), "svg-bytes")
		})
	}
}
