package plot

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestMergeMarks(t *testing.T) {
	ms := []mark{
		{kind: 1, col: 3, y0: 10, y1: 12},
		{kind: 0, col: 3, y0: 10, y1: 12},
		{kind: 0, col: 3, y0: 12.5, y1: 20}, // touches the one above
		{kind: 0, col: 3, y0: 40, y1: 41},   // a hole between
		{kind: 0, col: 4, y0: 10, y1: 12},   // another column
	}
	want := []mark{
		{kind: 0, col: 3, y0: 10, y1: 20},
		{kind: 0, col: 3, y0: 40, y1: 41},
		{kind: 0, col: 4, y0: 10, y1: 12},
		{kind: 1, col: 3, y0: 10, y1: 12},
	}
	if got := mergeMarks(ms); !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// TestMergeMarksPaths: bucketing (many marks per column) and sorting
// (few) give the same marks.
func TestMergeMarksPaths(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, cols := range []int{5, 5000} {
		ms := make([]mark, 2000)
		for i := range ms {
			y := r.Float64() * 500
			ms[i] = mark{kind: uint8(r.IntN(9)), col: int32(r.IntN(cols)), y0: y, y1: y + r.Float64()*3}
		}
		got := mergeMarks(slices.Clone(ms))
		// Brute force: merge pairwise until nothing changes.
		want := slices.Clone(ms)
		for changed := true; changed; {
			changed = false
			for i := 0; i < len(want) && !changed; i++ {
				for j := i + 1; j < len(want); j++ {
					a, b := want[i], want[j]
					if a.kind == b.kind && a.col == b.col && a.y0 <= b.y1+1 && b.y0 <= a.y1+1 {
						want[i] = mark{kind: a.kind, col: a.col, y0: min(a.y0, b.y0), y1: max(a.y1, b.y1)}
						want = slices.Delete(want, j, j+1)
						changed = true
						break
					}
				}
			}
		}
		slices.SortFunc(want, func(a, b mark) int {
			if a.kind != b.kind {
				return int(a.kind) - int(b.kind)
			}
			if a.col != b.col {
				return int(a.col - b.col)
			}
			if a.y0 < b.y0 {
				return -1
			}
			return 1
		})
		if !slices.Equal(got, want) {
			t.Errorf("%d columns: %d marks, brute force %d", cols, len(got), len(want))
		}
	}
}
