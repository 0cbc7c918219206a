package capture

import (
	"math/rand/v2"
	"testing"
)

// TestFlowTable checks the flow table against a Go map over random
// additions and removals of flows with several keys (paths), on keys
// drawn from a small space so that probe sequences run into each other
// and wrap around. A zero seed makes most keys collide: every probe then
// goes through the same long run of slots, which removals must keep
// intact.
func TestFlowTable(t *testing.T) {
	for _, zeroSeed := range []bool{false, true} {
		rng := rand.New(rand.NewPCG(1, 2))
		tab := newFlowTable()
		if zeroSeed {
			tab.seed = [6]uint64{}
		}
		want := map[flowKey]*flow{}
		var live []*flow
		key := func() flowKey {
			k := flowKey{ctx: rng.Uint32N(3), proto: 6, ver: 4, port: [2]uint16{uint16(rng.UintN(4)), 5201}}
			k.addr[0][3] = byte(rng.UintN(64))
			return k
		}
		for step := range 20000 {
			switch op := rng.UintN(10); {
			case op < 5 || len(live) == 0: // a new flow
				k := key()
				if want[k] != nil {
					continue
				}
				f := &flow{key: k}
				tab.put(f, -1)
				want[k], live = f, append(live, f)
			case op < 7: // another path of a flow
				f := live[rng.IntN(len(live))]
				k := key()
				if want[k] != nil {
					continue
				}
				f.pathKeys = append(f.pathKeys, k)
				tab.put(f, int32(len(f.pathKeys)-1))
				want[k] = f
			default: // a flow leaves with all its keys
				i := rng.IntN(len(live))
				f := live[i]
				live[i] = live[len(live)-1]
				live = live[:len(live)-1]
				tab.remove(f)
				for p := int32(-1); p < int32(len(f.pathKeys)); p++ {
					delete(want, *f.keyAt(p))
				}
			}
			if tab.Len() != len(want) {
				t.Fatalf("zero seed %v, step %d: %d keys, want %d", zeroSeed, step, tab.Len(), len(want))
			}
			for range 4 {
				k := key()
				if got := tab.get(&k); got != want[k] {
					t.Fatalf("zero seed %v, step %d: key %v gives flow %p, want %p", zeroSeed, step, k, got, want[k])
				}
			}
		}
		n := 0
		for k, f := range tab.all() {
			if want[*k] != f {
				t.Errorf("zero seed %v: all yields key %v with flow %p, want %p", zeroSeed, *k, f, want[*k])
			}
			n++
		}
		if n != len(want) {
			t.Errorf("zero seed %v: all yields %d keys, want %d", zeroSeed, n, len(want))
		}
	}
}
