package capture

import (
	"context"
	"io"
)

// Read-ahead ring: aheadChunks buffers of aheadChunk bytes, filled in turn
// by a goroutine and parsed in turn by the analysis. A chunk of 256 KiB
// keeps what read(2) just copied in the CPU's cache until it is parsed
// (reading 1 MiB at a time was 6% slower on a capture of whole frames);
// four of them let the reads run up to three chunks ahead.
const (
	aheadChunk  = 256 << 10
	aheadChunks = 4
)

// readAhead reads its input in a goroutine of its own, so that the kernel
// copying the next chunk out of the page cache (a fifth of the time on a
// file of whole frames) overlaps the parsing of this one. It hands out
// bytes without copying them (Peek, Discard) and is an io.Reader for the
// parsers that want one (gzip, pcapng). A record that straddles two chunks
// is copied into a spill buffer of its own.
//
// ctx interrupts a wait for the next chunk at once (a chunk already read
// is still handed out): a read that blocks (a stalled pipe, a FIFO nobody
// writes to) is left to finish in its goroutine, which then stops.
type readAhead struct {
	ctx  context.Context
	full chan aheadChunkRead // filled chunks, in order
	free chan []byte         // chunks handed back, to be filled again
	done chan struct{}       // closed by close: the goroutine stops
	// exited is closed when the goroutine returns; close waits for it
	// when the reads never block (whole), so that nothing reads the
	// input after Analyze returned.
	exited chan struct{}
	whole  bool

	// cur holds the bytes not yet consumed that Peek returns: a part of
	// the current chunk, or of spill when a record straddled chunks; then
	// tail holds the current chunk's bytes after it.
	cur, tail []byte
	inSpill   bool
	spill     []byte
	buf       []byte // the current chunk, whole, to hand back
	err       error  // why no chunk follows: io.EOF, a read error, ctx's
	n         int64  // bytes consumed: the offset of cur
}

type aheadChunkRead struct {
	b   []byte
	err error
}

// newReadAhead starts reading r. whole says r is a regular file, whose
// reads never block: each chunk is then filled completely; a pipe's chunk
// is handed over with whatever one read returned.
func newReadAhead(ctx context.Context, r io.Reader, whole bool) *readAhead {
	ra := &readAhead{ctx: ctx, full: make(chan aheadChunkRead, aheadChunks), free: make(chan []byte, aheadChunks),
		done: make(chan struct{}), exited: make(chan struct{}), whole: whole}
	for range aheadChunks {
		ra.free <- make([]byte, aheadChunk)
	}
	go ra.fill(r, whole)
	return ra
}

// fill is the reading goroutine.
func (ra *readAhead) fill(r io.Reader, whole bool) {
	defer close(ra.exited)
	for {
		var b []byte
		select {
		case b = <-ra.free:
		case <-ra.done:
			return
		}
		n, err := 0, error(nil)
		for n < len(b) && err == nil {
			var m int
			m, err = r.Read(b[n:])
			n += m
			if !whole && n > 0 {
				break
			}
		}
		select {
		case ra.full <- aheadChunkRead{b[:n], err}:
		case <-ra.done:
			return
		}
		if err != nil {
			return
		}
	}
}

// close stops the reading goroutine. A regular file's read under way is
// waited for; a pipe's, which may block for good, finishes on its own.
func (ra *readAhead) close() {
	close(ra.done)
	if ra.whole {
		<-ra.exited
	}
}

// next makes the next chunk's bytes the tail, handing the current chunk
// back: nothing may point into it any more. It returns false at the end
// of the input, with ra.err saying why.
func (ra *readAhead) next() bool {
	for ra.err == nil {
		if ra.buf != nil {
			ra.free <- ra.buf // never blocks: there are only aheadChunks chunks
			ra.buf = nil
		}
		var c aheadChunkRead
		select { // a chunk read already goes first, even when ctx is done
		case c = <-ra.full:
		default:
			select {
			case c = <-ra.full:
			case <-ra.ctx.Done():
				c.err = ra.ctx.Err()
			}
		}
		if c.b != nil {
			ra.buf = c.b[:cap(c.b)]
		}
		ra.tail, ra.err = c.b, c.err
		if len(ra.tail) > 0 {
			return true
		}
	}
	return false
}

// Peek returns the next n bytes without consuming them; they stay valid
// until the next call of any method. Fewer come back only at the end of
// the input, with the reason. The spill buffer grows as bytes arrive, not
// to n: a damaged record length on a short stream allocates no more than
// the stream holds.
func (ra *readAhead) Peek(n int) ([]byte, error) {
	for len(ra.cur) < n {
		switch {
		case len(ra.tail) > 0 && len(ra.cur) == 0:
			ra.cur, ra.tail, ra.inSpill = ra.tail, nil, false
		case len(ra.tail) > 0: // cur is in spill: move the missing bytes in
			if &ra.cur[0] != &ra.spill[:1][0] {
				ra.spill = append(ra.spill[:0], ra.cur...)
			}
			k := min(n-len(ra.cur), len(ra.tail))
			ra.spill = append(ra.spill[:len(ra.cur)], ra.tail[:k]...)
			ra.cur, ra.tail = ra.spill, ra.tail[k:]
		default: // the chunk is used up: save what is left of it first
			if !ra.inSpill && len(ra.cur) > 0 {
				ra.spill = append(ra.spill[:0], ra.cur...)
				ra.cur, ra.inSpill = ra.spill, true
			}
			if !ra.next() {
				return ra.cur, ra.err
			}
		}
	}
	return ra.cur[:n], nil
}

// Discard consumes n bytes, which Peek must have returned.
func (ra *readAhead) Discard(n int) {
	ra.cur = ra.cur[n:]
	ra.n += int64(n)
}

func (ra *readAhead) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if len(ra.cur) == 0 {
		if _, err := ra.Peek(1); len(ra.cur) == 0 {
			return 0, err
		}
	}
	n := copy(p, ra.cur)
	ra.Discard(n)
	return n, nil
}
