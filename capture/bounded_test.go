package capture

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"
)

// flowStream is a pcap file of n short TCP flows, generated as it is
// read: each flow is a SYN from a distinct client (address and port) and
// the server's SYN/ACK 5 µs later, flows 10 µs apart. Nothing closes, so
// a full flow table must evict by idleness. It holds a few kilobytes of
// records at a time, so a heap measured around Analyze is the analyser's.
type flowStream struct {
	n, next int
	buf     []byte
	off     int
	tmpl    [70]byte // record header (16) and frame (54)
}

const flowStreamBase = 1767323045 // 2026-01-02 03:04:05 UTC

func newFlowStream(n int) *flowStream {
	s := &flowStream{n: n}
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 262144)
	binary.LittleEndian.PutUint32(hdr[20:], 1) // Ethernet
	s.buf = hdr
	r := s.tmpl[:]
	binary.LittleEndian.PutUint32(r[8:], 54)
	binary.LittleEndian.PutUint32(r[12:], 54)
	f := r[16:]
	copy(f, []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00})
	ip := f[14:]
	ip[0], ip[3], ip[6], ip[8], ip[9] = 0x45, 40, 0x40, 64, 6 // length 40, DF, TTL 64, TCP
	tcp := ip[20:]
	tcp[12] = 5 << 4
	binary.BigEndian.PutUint16(tcp[14:], 64240)
	return s
}

// client is flow i's client address and port: 60000 ports per address
// from 198.18.0.0 up.
func flowClient(i int) ([4]byte, uint16) {
	a := i / 60000
	return [4]byte{198, 18, byte(a >> 8), byte(a)}, uint16(1024 + i%60000)
}

var flowServer = [4]byte{198, 19, 255, 1}

// record appends flow i's packet from side (0 the SYN, 1 the SYN/ACK).
func (s *flowStream) record(i, side int) {
	r := s.tmpl
	at := time.Duration(i)*10*time.Microsecond + time.Duration(side)*5*time.Microsecond
	binary.LittleEndian.PutUint32(r[0:], uint32(flowStreamBase+int64(at/time.Second)))
	binary.LittleEndian.PutUint32(r[4:], uint32(at%time.Second/time.Microsecond))
	ip := r[16+14:]
	tcp := ip[20:]
	addr, port := flowClient(i)
	src, dst, sp, dp := addr, flowServer, port, uint16(443)
	tcp[13] = 0x02 // SYN
	binary.BigEndian.PutUint32(tcp[4:], 1000)
	binary.BigEndian.PutUint32(tcp[8:], 0)
	if side == 1 {
		src, dst, sp, dp = dst, src, dp, sp
		tcp[13] = 0x12 // SYN ACK
		binary.BigEndian.PutUint32(tcp[4:], 5000)
		binary.BigEndian.PutUint32(tcp[8:], 1001)
	}
	copy(ip[12:], src[:])
	copy(ip[16:], dst[:])
	binary.BigEndian.PutUint16(tcp[0:], sp)
	binary.BigEndian.PutUint16(tcp[2:], dp)
	s.buf = append(s.buf, r[:]...)
}

func (s *flowStream) Read(p []byte) (int, error) {
	if s.off == len(s.buf) {
		if s.next == s.n {
			return 0, io.EOF
		}
		s.buf, s.off = s.buf[:0], 0
		for range 512 {
			if s.next == s.n {
				break
			}
			s.record(s.next, 0)
			s.record(s.next, 1)
			s.next++
		}
	}
	n := copy(p, s.buf[s.off:])
	s.off += n
	return n, nil
}

// expectedEvictions is what the flow table's policy must evict when n
// flows, each idle once the next begins and none closed, pass through a
// table of max: whenever a new flow finds the table full, the idlest
// eighth and one more (the flows as idle as the cut) leave.
func expectedEvictions(n, max int) uint64 {
	size, evicted := 0, 0
	for range n {
		if size >= max {
			k := max/8 + 1
			evicted += k
			size -= k
		}
		size++
	}
	return uint64(evicted)
}

// analyzeFlows analyses n generated flows with the default settings and
// returns the result with the peak heap and runtime memory in bytes.
func analyzeFlows(tb testing.TB, n int) (*Result, uint64, uint64) {
	runtime.GC()
	var res *Result
	heap, total := samplePeak(func() {
		var err error
		res, err = Analyze(context.Background(), newFlowStream(n), Options{Name: "flows.pcap"})
		if err != nil {
			tb.Fatal(err)
		}
	})
	return res, heap, total
}

// TestBoundedFlowTable: two million short flows through the default flow
// table (250,000 flows) keep the heap at what a full table costs, evict
// exactly what the policy says, and say so in a warning with the count.
// The bound is measured, not guessed: the peak may not exceed the peak of
// a run that just fills the table by more than a quarter.
func TestBoundedFlowTable(t *testing.T) {
	if testing.Short() {
		t.Skip("analyses 4 million packets")
	}
	const n = 2_000_000
	full, fullHeap, _ := analyzeFlows(t, DefaultMaxFlows)
	if full.FlowsEvicted != 0 {
		t.Fatalf("%d flows evicted from a table they fit in", full.FlowsEvicted)
	}
	res, heap, total := analyzeFlows(t, n)
	want := expectedEvictions(n, DefaultMaxFlows)
	if res.FlowsSeen != n || res.Packets != 2*n || res.Totals.TCPFlows != n {
		t.Errorf("seen %d flows, %d packets, totals %d flows; want %d, %d, %d", res.FlowsSeen, res.Packets, res.Totals.TCPFlows, n, 2*n, n)
	}
	if res.FlowsEvicted != want {
		t.Errorf("evicted %d flows, want %d", res.FlowsEvicted, want)
	}
	warning := ""
	for _, w := range res.Warnings {
		if strings.Contains(w, fmt.Sprintf("%d of %d flows were evicted", want, n)) {
			warning = w
		}
	}
	if warning == "" {
		t.Errorf("no warning with the evicted count %d: %q", want, res.Warnings)
	}
	if limit := fullHeap + fullHeap/4; heap > limit {
		t.Errorf("peak heap %d MiB for %d flows, above %d MiB (a full table's %d MiB and a quarter)", heap>>20, n, limit>>20, fullHeap>>20)
	}
	t.Logf("reliability: %d flows (%d packets), default --max-flows %d: %d evicted (policy: %d); peak heap %d MiB, runtime %d MiB (a full table without eviction: %d MiB); warning %q",
		n, res.Packets, DefaultMaxFlows, res.FlowsEvicted, want, heap>>20, total>>20, fullHeap>>20, warning)
}

// BenchmarkBoundedFlows reports the peak heap for 1, 2 and 4 million short
// flows with the default flow table: it must stay flat as flows grow.
//
//	go test ./capture -run '^$' -bench BenchmarkBoundedFlows -benchtime 1x
func BenchmarkBoundedFlows(b *testing.B) {
	for _, n := range []int{1_000_000, 2_000_000, 4_000_000} {
		b.Run(fmt.Sprintf("flows=%dM", n/1_000_000), func(b *testing.B) {
			for range b.N {
				res, heap, total := analyzeFlows(b, n)
				b.ReportMetric(float64(heap)/(1<<20), "peak-heap-MiB")
				b.ReportMetric(float64(total)/(1<<20), "peak-runtime-MiB")
				b.ReportMetric(float64(res.FlowsEvicted), "evicted")
			}
		})
	}
}

// TestInterruptStalledInput: a capture that stops arriving (a pipe whose
// writer went quiet) gives way to the context: Analyze returns at once
// with the records that arrived and the context's error.
func TestInterruptStalledInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		stop func(context.Context) (context.Context, context.CancelFunc)
		want error
	}{
		{"stalled pipe cancelled (Ctrl-C)", context.WithCancel, context.Canceled},
		{"stalled pipe past its deadline (--timeout)", func(ctx context.Context) (context.Context, context.CancelFunc) {
			return context.WithTimeout(ctx, time.Second)
		}, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, g := scenarioPcap(t)
			r, w := io.Pipe()
			defer w.Close()
			go func() { _, _ = w.Write(data) }() // then silence
			ctx, cancel := tc.stop(context.Background())
			defer cancel()
			type out struct {
				res *Result
				err error
			}
			done := make(chan out, 1)
			go func() {
				res, err := Analyze(ctx, r, Options{Name: "stdin"})
				done <- out{res, err}
			}()
			if tc.want == context.Canceled {
				time.Sleep(time.Second)
				cancel()
			}
			var o out
			select {
			case o = <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Analyze did not return after the context ended")
			}
			if !errors.Is(o.err, tc.want) || o.res == nil || o.res.Complete || o.res.Packets != uint64(len(g.Recs)) {
				t.Fatalf("err %v, result %+v; want %v and the %d records", o.err, o.res, tc.want, len(g.Recs))
			}
			last := o.res.Warnings[len(o.res.Warnings)-1]
			if !strings.Contains(last, "stopped before the end of the capture") {
				t.Errorf("last warning %q", last)
			}
			t.Logf("reliability: returned %v with %d of %d records analysed; warning %q", o.err, o.res.Packets, len(g.Recs), last)
		})
	}
}
