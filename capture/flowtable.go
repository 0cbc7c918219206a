package capture

import (
	"encoding/binary"
	"iter"
	"math/bits"
	"math/rand/v2"
)

// flowTable maps flow keys to flows: an open-addressing hash table with
// linear probing, kept at most half full. It is the lookup of every packet
// whose flow is not the previous packet's, and a Go map spent a fifth of
// the analysis there, hashing and comparing the 42-byte key generically
// (memhash, memequal) and missing the cache on its large slots. A slot
// here is 16 bytes: the flow, which of its keys the slot holds and 32 bits
// of the key's hash to skip other keys without reading their flows; the
// key itself is read from the flow, which the packet goes on to use. The
// seed is random per table, as a Go map's is, so a crafted capture cannot
// pile its flows onto one probe sequence; nothing depends on the order of
// the slots (see tableFlows).
type flowTable struct {
	slots []flowSlot // empty when f is nil; the length is a power of 2
	n     int
	seed  [6]uint64
}

type flowSlot struct {
	f    *flow
	tag  uint32 // the hash's upper half
	path int32  // the key: f.keyAt(path)
}

// minFlowSlots is a new table's size.
const minFlowSlots = 64

func newFlowTable() *flowTable {
	t := &flowTable{slots: make([]flowSlot, minFlowSlots)}
	for i := range t.seed {
		t.seed[i] = rand.Uint64()
	}
	return t
}

// Len is the number of keys (a flow seen in several encapsulations has
// one per path).
func (t *flowTable) Len() int { return t.n }

// mix folds the 128-bit product of x and y (wyhash's mixing step).
func mix(x, y uint64) uint64 {
	hi, lo := bits.Mul64(x, y)
	return hi ^ lo
}

func (t *flowTable) hash(k *flowKey) uint64 {
	le := binary.LittleEndian
	h := mix(le.Uint64(k.addr[0][:8])^t.seed[0], le.Uint64(k.addr[1][:8])^t.seed[1]) ^
		mix(le.Uint64(k.addr[0][8:])^t.seed[2], le.Uint64(k.addr[1][8:])^t.seed[3])
	w := uint64(k.port[0]) | uint64(k.port[1])<<16 | uint64(k.ctx)<<32
	v := uint64(k.proto) | uint64(k.ver)<<8
	return mix(h^w^t.seed[4], v^t.seed[5])
}

// find returns the index of the slot of key k, or of the empty slot where
// it would go.
func (t *flowTable) find(k *flowKey) uint64 {
	h := t.hash(k)
	tag, mask := uint32(h>>32), uint64(len(t.slots)-1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.f == nil || s.tag == tag && s.f.keyAt(s.path).equal(k) {
			return i
		}
	}
}

// get returns the flow under k, or nil.
func (t *flowTable) get(k *flowKey) *flow { return t.slots[t.find(k)].f }

// put adds flow f under its key for path (see flow.keyAt), which must
// not be in the table.
func (t *flowTable) put(f *flow, path int32) {
	if 2*(t.n+1) > len(t.slots) {
		t.grow()
	}
	h := t.hash(f.keyAt(path))
	t.insert(flowSlot{f: f, tag: uint32(h >> 32), path: path}, h)
	t.n++
}

func (t *flowTable) insert(s flowSlot, h uint64) {
	mask := uint64(len(t.slots) - 1)
	i := h & mask
	for t.slots[i].f != nil {
		i = (i + 1) & mask
	}
	t.slots[i] = s
}

func (t *flowTable) grow() {
	old := t.slots
	t.slots = make([]flowSlot, 2*len(old))
	for _, s := range old {
		if s.f != nil {
			t.insert(s, t.hash(s.f.keyAt(s.path)))
		}
	}
}

// remove takes all of f's keys out of the table.
func (t *flowTable) remove(f *flow) {
	for p := int32(-1); p < int32(len(f.pathKeys)); p++ {
		t.delete(f.keyAt(p))
	}
}

// delete removes key k, shifting back the keys after it that probed past
// its slot, so that no lookup stops short at the hole.
func (t *flowTable) delete(k *flowKey) {
	i := t.find(k)
	if t.slots[i].f == nil {
		return
	}
	mask := uint64(len(t.slots) - 1)
	for j := (i + 1) & mask; t.slots[j].f != nil; j = (j + 1) & mask {
		// The key in j may fill the hole in i unless the slot it hashes
		// to lies cyclically within (i, j].
		x := &t.slots[j]
		if home := t.hash(x.f.keyAt(x.path)) & mask; (j-home)&mask >= (j-i)&mask {
			t.slots[i] = *x
			i = j
		}
	}
	t.slots[i] = flowSlot{}
	t.n--
}

// all yields every key with its flow, in no particular order.
func (t *flowTable) all() iter.Seq2[*flowKey, *flow] {
	return func(yield func(*flowKey, *flow) bool) {
		for _, s := range t.slots {
			if s.f != nil && !yield(s.f.keyAt(s.path), s.f) {
				return
			}
		}
	}
}
