package plot

import (
	"cmp"
	"slices"
)

// mark is a vertical bar in one pixel column of the plot area: one or
// more inputs of one kind merged because they touch on screen.
type mark struct {
	kind   uint8
	col    int32
	y0, y1 float64 // top and bottom, pixels; y0 <= y1
}

// minBar is the shortest bar drawn, in pixels, so a segment much smaller
// than a pixel still shows; minBand is the thinnest gap band in the plot
// (a band has a time extent, so it stays local; the gutter marks beside
// the plot stay at minBar, or dense gaps would merge into one bar).
const (
	minBar  = 1.0
	minBand = 3.0
)

// newMark makes a bar from two pixel positions in either order.
func newMark(kind uint8, col int, ya, yb float64) mark {
	y0, y1 := extent(ya, yb, minBar)
	return mark{kind: kind, col: int32(col), y0: y0, y1: y1}
}

// extent orders two pixel positions and widens them around their centre
// to at least least pixels.
func extent(ya, yb, least float64) (float64, float64) {
	y0, y1 := min(ya, yb), max(ya, yb)
	if y1-y0 < least {
		c := (y0 + y1) / 2
		y0, y1 = c-least/2, c+least/2
	}
	return y0, y1
}

// mergeMarks orders marks by kind, column and position and merges those
// of one kind in one column that overlap or touch (less than a pixel
// apart). What remains looks the same on screen. Kinds never merge with
// each other, so every kind present keeps at least one mark.
//
// Columns are usually far fewer than marks, so marks are bucketed by
// kind and column in linear time; only each bucket is sorted by
// position, and a bucket of segments sent in order usually is already.
// With more buckets than marks a plain sort is cheaper.
func mergeMarks(ms []mark) []mark {
	cols, kinds := int32(0), uint8(0)
	for _, m := range ms {
		cols, kinds = max(cols, m.col+1), max(kinds, m.kind+1)
	}
	buckets := int(kinds) * int(cols)
	if buckets > 2*len(ms) {
		slices.SortFunc(ms, func(a, b mark) int {
			return cmp.Or(cmp.Compare(a.kind, b.kind), cmp.Compare(a.col, b.col), cmp.Compare(a.y0, b.y0), cmp.Compare(a.y1, b.y1))
		})
		return merge(ms, ms[:0], 0, len(ms))
	}
	key := func(m *mark) int { return int(m.kind)*int(cols) + int(m.col) }
	start := make([]int, buckets+1)
	for i := range ms {
		start[key(&ms[i])+1]++
	}
	for i := 1; i < len(start); i++ {
		start[i] += start[i-1]
	}
	sorted := make([]mark, len(ms))
	next := slices.Clone(start)
	for i := range ms {
		k := key(&ms[i])
		sorted[next[k]] = ms[i]
		next[k]++
	}
	byY := func(a, b mark) int { return cmp.Or(cmp.Compare(a.y0, b.y0), cmp.Compare(a.y1, b.y1)) }
	out := ms[:0]
	for b := 0; b+1 < len(start); b++ {
		bucket := sorted[start[b]:start[b+1]]
		if !slices.IsSortedFunc(bucket, byY) {
			slices.SortFunc(bucket, byY)
		}
		out = merge(sorted, out, start[b], start[b+1])
	}
	return out
}

// merge appends sorted[from:to], marks of one kind and column in order,
// to out, merging those that touch.
func merge(sorted, out []mark, from, to int) []mark {
	for i := from; i < to; i++ {
		m := sorted[i]
		if k := len(out) - 1; k >= 0 && out[k].kind == m.kind && out[k].col == m.col && m.y0 <= out[k].y1+1 {
			out[k].y1 = max(out[k].y1, m.y1)
			continue
		}
		out = append(out, m)
	}
	return out
}
