package capture

import (
	"bytes"
	"context"
	"sort"
	"testing"
	"time"

	"github.com/netdx/netdx/capture/decode"
)

// receiver models the receiving TCP: it acknowledges every segment with
// the cumulative ACK, SACK blocks for data above it (the block holding the
// newest segment first) and a D-SACK block for data it already had.
type receiver struct {
	c    *conv
	side int // the receiving side
	got  [][2]uint32
	last [2]uint32
}

func (c *conv) receiver(side int) *receiver { return &receiver{c: c, side: side} }

func (r *receiver) covered(s, e uint32) bool {
	for _, g := range r.got {
		if g[0] <= s && e <= g[1] {
			return true
		}
	}
	return false
}

func (r *receiver) add(s, e uint32) {
	r.got = append(r.got, [2]uint32{s, e})
	sort.Slice(r.got, func(i, j int) bool { return r.got[i][0] < r.got[j][0] })
	merged := r.got[:1]
	for _, g := range r.got[1:] {
		m := &merged[len(merged)-1]
		if g[0] <= m[1] {
			m[1] = max(m[1], g[1])
			continue
		}
		merged = append(merged, g)
	}
	r.got = merged
}

// ack returns the ACK the receiver sends at time at for data frame f.
// Ranges are kept relative to the sender's ISN so sequence wrap-around
// does not disturb the model.
func (r *receiver) ack(at time.Duration, f frame) frame {
	base := r.c.isn[1-r.side] + 1
	s := f.seq - base
	e := s + uint32(f.payload)
	dup := r.covered(s, e)
	var blocks [][2]uint32
	if dup {
		blocks = append(blocks, [2]uint32{s, e})
	}
	r.add(s, e)
	cum := uint32(0)
	for _, g := range r.got {
		if g[0] <= cum {
			cum = max(cum, g[1])
		}
	}
	var newest [2]uint32
	for _, g := range r.got {
		if g[0] > cum && g[0] <= s && e <= g[1] {
			newest = g
		}
	}
	if newest[1] != 0 {
		blocks = append(blocks, newest)
	}
	for _, g := range r.got {
		if g[0] > cum && g != newest && len(blocks) < 3 {
			blocks = append(blocks, g)
		}
	}
	for i := range blocks {
		blocks[i][0] += base
		blocks[i][1] += base
	}
	return r.c.ackFrame(r.side, at, cum+base, blocks...)
}

// deliver emits data frames in the given order as they arrive at a
// receiver-side capture: frame i at t0+i*gap, each followed 5µs later by
// the receiver's ACK.
func (c *conv) deliver(rx *receiver, t0, gap time.Duration, frames []frame) time.Duration {
	at := t0
	for _, f := range frames {
		f.at = at
		c.g.add(f)
		c.g.add(rx.ack(at+5*time.Microsecond, f))
		at += gap
	}
	return at
}

// timed is a frame with its arrival time at the capture point.
type timed struct {
	at time.Duration
	f  frame
}

// deliverAt emits frames by arrival time, each followed 5µs later by the
// receiver's ACK.
func (c *conv) deliverAt(rx *receiver, fs []timed) {
	sort.SliceStable(fs, func(i, j int) bool { return fs[i].at < fs[j].at })
	var out []frame
	for _, x := range fs {
		x.f.at = x.at
		out = append(out, x.f, rx.ack(x.at+5*time.Microsecond, x.f))
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].at < out[j].at })
	for _, f := range out {
		c.g.add(f)
	}
}

// sendData makes n new segments of size bytes from side, sent gap apart
// from t0 (their timestamps and IDs follow the sending order).
func (c *conv) sendData(side int, t0, gap time.Duration, n, size int) []frame {
	out := make([]frame, n)
	for i := range out {
		out[i] = c.data(side, t0+time.Duration(i)*gap, size)
	}
	return out
}

// resend makes a retransmission of frame f sent at time at.
func (c *conv) resend(f frame, at time.Duration) frame {
	side := 0
	if f.src != c.client.Addr() || f.sport != c.client.Port() {
		side = 1
	}
	return c.frame(side, at, f.seq, f.payload, decode.PSH)
}

func analyzeBytes(t testing.TB, data []byte, o Options) *Result {
	t.Helper()
	res, err := Analyze(context.Background(), bytes.NewReader(data), o)
	if err != nil {
		t.Fatalf("Analyze: %v", err)
	}
	return res
}

// tcpFlow returns the only TCP flow of a result.
func onlyTCP(t testing.TB, res *Result) *Flow {
	t.Helper()
	var out *Flow
	for _, f := range res.Flows {
		if f.Proto == "tcp" {
			if out != nil {
				t.Fatalf("more than one TCP flow: %v and %v", out.Client, f.Client)
			}
			out = f
		}
	}
	if out == nil {
		t.Fatal("no TCP flow")
	}
	return out
}

type want struct {
	retrans, spurious, reordered, lost, timeout, fast, dups, notCaptured uint64
}

func checkDir(t testing.TB, name string, d *Direction, w want) {
	t.Helper()
	var reordered uint64
	if d.Reorder != nil {
		reordered = d.Reorder.Reordered
	}
	got := want{d.Retransmission.Packets, d.Retransmission.Spurious, reordered, d.LostSegments,
		d.Retransmission.Timeout, d.Retransmission.Fast, d.Duplicates, d.NotCapturedSegments}
	if got != w {
		t.Errorf("%s:\n got  retrans=%d spurious=%d reordered=%d lost=%d timeout=%d fast=%d dups=%d notcaptured=%d\n want retrans=%d spurious=%d reordered=%d lost=%d timeout=%d fast=%d dups=%d notcaptured=%d",
			name, got.retrans, got.spurious, got.reordered, got.lost, got.timeout, got.fast, got.dups, got.notCaptured,
			w.retrans, w.spurious, w.reordered, w.lost, w.timeout, w.fast, w.dups, w.notCaptured)
	}
}
