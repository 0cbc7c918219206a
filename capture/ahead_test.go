package capture

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
)

// TestReadAheadPeekDiscard drives the read-ahead with random peeks and
// discards over reads of one byte, of a few and of whole chunks, and
// checks every byte it hands out against the stream: peeks that straddle
// chunks and peeks after part of a straddling record was consumed.
func TestReadAheadPeekDiscard(t *testing.T) {
	data := make([]byte, 3*aheadChunk+1234)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	for name, r := range map[string]func() io.Reader{
		"one byte": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(data)) },
		"half":     func() io.Reader { return iotest.HalfReader(bytes.NewReader(data)) },
		"whole":    func() io.Reader { return bytes.NewReader(data) },
	} {
		ra := newReadAhead(t.Context(), r(), name == "whole")
		off := 0
		for off < len(data) {
			n := 1 + rng.IntN(40)
			if rng.IntN(50) == 0 {
				n = 1 + rng.IntN(2*aheadChunk)
			}
			b, err := ra.Peek(n)
			want := data[off:min(off+n, len(data))]
			if !bytes.Equal(b, want) {
				t.Fatalf("%s: Peek(%d) at %d: %d bytes, not the stream's %d", name, n, off, len(b), len(want))
			}
			if len(b) < n && err != io.EOF {
				t.Fatalf("%s: Peek(%d) at %d: %d bytes and %v, want io.EOF", name, n, off, len(b), err)
			}
			k := rng.IntN(len(b) + 1)
			ra.Discard(k)
			off += k
			if ra.n != int64(off) {
				t.Fatalf("%s: offset %d, want %d", name, ra.n, off)
			}
			if len(b) < n && k == len(b) {
				break
			}
		}
		if b, err := ra.Peek(1); len(b) != 0 || err != io.EOF {
			t.Errorf("%s: at the end Peek gave %d bytes and %v", name, len(b), err)
		}
		ra.close()
	}
}
