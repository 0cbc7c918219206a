package capture

import (
	"sort"
	"time"

	"github.com/netdx/netdx/capture/decode"
)

// maxSessions bounds the WireGuard receiver indexes or ESP SPIs tracked
// per tunnel direction at once; older sessions are folded into the totals.
const maxSessions = 64

// dupWindowCounter: a counter seen again within this time is a capture
// duplicate; later, a replay.
const dupWindowCounter = time.Millisecond

type tunnelState struct {
	out    Tunnel
	node   *ctxNode
	idx    int      // position in Result.Tunnels
	a      [16]byte // the outer address of endpoint A, the first sender
	dir    [2]tunnelDir
	lastNS int64
}

type tunnelDir struct {
	st       TunnelDir
	idSeen   bool
	lastID   uint16
	gre      *counterTrack
	sessions map[uint32]*counterTrack
	done     SeqStats // sessions folded in
	folded   bool
}

func newTunnel(n *ctxNode, index int) *tunnelState {
	t := &tunnelState{node: n, idx: index, a: n.layer.Src}
	t.out.Parent = -1
	if p := n.parent.innerTunnel(); p != nil {
		t.out.Parent = p.idx
	}
	switch n.kind {
	case kindWireGuard:
		t.out.Kind = "wireguard"
	case kindESP:
		t.out.Kind = "esp"
	default:
		t.out.Kind = n.layer.Name()
		t.out.ID, t.out.HasID = n.layer.ID, n.layer.HasID
	}
	t.out.A, t.out.B = n.layer.SrcAddr(), n.layer.DstAddr()
	t.out.Encap = encapOf(n.parent)
	return t
}

// dirOf says which direction an outer header travels: 0 from A.
func (t *tunnelState) dirOf(src *[16]byte) int {
	if *src == t.a {
		return 0
	}
	return 1
}

// outer counts one packet through the tunnel and tracks its outer IPv4 ID
// and GRE sequence.
func (t *tunnelState) outer(l *decode.Layer, at int64, wire int) {
	d := &t.dir[t.dirOf(&l.Src)]
	d.st.Packets++
	d.st.Bytes += uint64(wire)
	if t.out.First.IsZero() {
		t.out.First = time.Unix(0, at).UTC()
	}
	t.lastNS = max(t.lastNS, at)
	if l.HasIPID {
		if d.idSeen {
			switch delta := int16(l.IPID - d.lastID); {
			case delta >= 1 && delta <= 64:
				d.st.IDInOrder++
			case delta < 0:
				d.st.IDOutOfOrder++
			}
		}
		d.idSeen, d.lastID = true, l.IPID
	}
	if l.HasSeq {
		if d.gre == nil {
			d.gre = &counterTrack{}
			d.st.SeqSource = "gre sequence"
		}
		d.gre.add(int64(d.gre.unwrap32(l.Seq)), at, wire)
	}
}

// idReliable says the outer IPv4 ID of direction d behaves as a sequence:
// at least 16 consecutive pairs, 80% of them going up by 1 to 64.
func (t *tunnelState) idReliable(d int) bool {
	st := &t.dir[d].st
	return st.IDInOrder >= 16 && st.IDInOrder*10 >= (st.IDInOrder+st.IDOutOfOrder)*8
}

// counterTunnel measures a WireGuard or ESP packet's counter.
func (a *analyzer) counterTunnel(n *ctxNode, p *decode.Packet, at int64, wire int) {
	t := n.tunnel
	if t == nil {
		return
	}
	d := &t.dir[t.dirOf(&p.Src)]
	var id uint32
	var v int64
	switch p.Top {
	case decode.TopWireGuard:
		if p.WireGuard.Type != decode.WGData {
			d.st.Handshakes++
			return
		}
		d.st.SeqSource = "wireguard counter"
		id, v = p.WireGuard.Receiver, int64(min(p.WireGuard.Counter, 1<<62))
	case decode.TopESP:
		d.st.SeqSource = "esp sequence"
		id = p.ESP.SPI
	}
	if d.sessions == nil {
		d.sessions = map[uint32]*counterTrack{}
	}
	c := d.sessions[id]
	if c == nil {
		if len(d.sessions) >= maxSessions {
			d.foldOldest()
		}
		c = &counterTrack{id: id, order: d.st.Sessions}
		d.sessions[id] = c
		d.st.Sessions++
		// WireGuard counters start at 0 in a new session; a capture that
		// joins later starts in the middle.
		c.midstream = p.Top == decode.TopESP || v > 0
	}
	if p.Top == decode.TopESP {
		v = c.unwrap32(p.ESP.Seq)
	}
	c.add(v, at, wire)
}

// fold adds a finished session to the direction's totals and list.
func (d *tunnelDir) fold(c *counterTrack) {
	st := c.finish()
	d.done.add(st)
	d.folded = true
	if len(d.st.SessionList) < MaxSessionList {
		d.st.SessionList = append(d.st.SessionList, Session{ID: c.id, FirstSeq: c.lo, LastSeq: c.hi - 1,
			Packets: st.Packets, Lost: st.Lost, Reordered: st.Reorder.Reordered, Replays: st.Replays,
			First: time.Unix(0, c.firstAt).UTC(), Last: time.Unix(0, c.lastAt).UTC()})
	}
}

// foldOldest retires the session seen least recently.
func (d *tunnelDir) foldOldest() {
	var oldest uint32
	var c *counterTrack
	for id, x := range d.sessions {
		if c == nil || x.lastAt < c.lastAt {
			oldest, c = id, x
		}
	}
	d.fold(c)
	delete(d.sessions, oldest)
}

func (t *tunnelState) result() *Tunnel {
	out := t.out
	out.Last = time.Unix(0, t.lastNS).UTC()
	for i := range t.dir {
		d := &t.dir[i]
		rest := make([]*counterTrack, 0, len(d.sessions))
		for _, c := range d.sessions {
			rest = append(rest, c)
		}
		sort.Slice(rest, func(i, j int) bool { return rest[i].order < rest[j].order })
		for _, c := range rest {
			d.fold(c)
		}
		d.sessions = nil
		if d.gre != nil {
			d.done.add(d.gre.finish())
			d.folded = true
			d.gre = nil
		}
		st := d.st
		if d.folded {
			agg := d.done
			st.Seq = &agg
		}
		out.Dir[i] = st
	}
	return &out
}

func (s *SeqStats) add(o SeqStats) {
	s.Packets += o.Packets
	s.Lost += o.Lost
	s.Replays += o.Replays
	s.Duplicates += o.Duplicates
	s.Anomalies += o.Anomalies
	s.Reorder.add(&o.Reorder)
}

// counterTrack follows one per-packet sequence (a counter that is never
// retransmitted): gaps are lost until filled, a number below the highest
// seen fills a gap (reordered) or was seen already (replay or capture
// duplicate).
type counterTrack struct {
	id        uint32
	order     uint64 // position among the direction's sessions
	lo        int64  // lowest number seen
	firstAt   int64
	init      bool
	midstream bool
	hi        int64 // next expected
	raw       uint32
	holes     holes
	w         window
	st        SeqStats
	recent    [4]struct{ v, at int64 }
	rpos      uint8
	lastAt    int64
	finished  bool
	// pend holds a counter that jumped ahead by more than maxCounterJump
	// until the next packet says whether the counter went on from there.
	pend   bool
	pendV  int64
	pendAt int64
}

// maxCounterJump is the longest forward jump of a tunnel counter counted
// as lost packets without confirmation: a million packets.
const maxCounterJump = 1 << 20

// unwrap32 extends a 32-bit sequence number next to the highest seen.
func (c *counterTrack) unwrap32(v uint32) int64 {
	if !c.init {
		c.raw = v
		return int64(v)
	}
	return c.hi - 1 + int64(int32(v-c.raw))
}

func (c *counterTrack) add(v int64, at int64, size int) {
	c.lastAt = max(c.lastAt, at)
	cr := creator{at: at, idx: c.w.n, size: int32(size)}
	c.lo = min(c.lo, v)
	if !c.init {
		c.init = true
		c.lo, c.firstAt = v, at
		c.hi = v + 1
		c.raw = uint32(v)
		c.st.Packets++
		if c.midstream {
			c.holes.add(hole{s: v - 1<<40, e: v, c: cr, pre: true})
		}
		c.remember(v, at)
		c.w.push(&c.st.Reorder, v, false, 0)
		return
	}
	if c.pend {
		// The counter went on from the jump: a new start, the packets in
		// between not judged; or from the old place: the jump stood alone.
		// Either is an anomaly.
		c.pend = false
		c.st.Anomalies++
		if abs64(v-c.pendV) < abs64(v-c.hi) {
			c.hi = c.pendV + 1
			c.raw = uint32(c.pendV)
			c.st.Packets++
			c.remember(c.pendV, c.pendAt)
			c.w.push(&c.st.Reorder, c.pendV, false, 0)
		}
	}
	if v-c.hi > maxCounterJump {
		c.pend, c.pendV, c.pendAt = true, v, at
		return
	}
	if v >= c.hi {
		if v > c.hi {
			c.holes.add(hole{s: c.hi, e: v, c: cr})
			c.holes.trim(func(x hole) { c.st.Lost += uint64(x.e - x.s) })
		}
		c.hi = v + 1
		c.raw = uint32(v)
		c.st.Packets++
		c.remember(v, at)
		c.w.push(&c.st.Reorder, v, false, 0)
		return
	}
	if i, in := c.holes.overlap(v, v+1); in > 0 {
		h := c.holes[i].c
		c.holes.fill(v, v+1)
		extent := c.w.n - h.idx
		c.st.Packets++
		c.st.Reorder.late(extent, time.Duration(at-h.at), size, int(h.size))
		c.remember(v, at)
		c.w.push(&c.st.Reorder, v, true, extent)
		return
	}
	for _, r := range c.recent {
		if r.v == v && at-r.at <= int64(dupWindowCounter) && at >= r.at {
			c.st.Duplicates++
			return
		}
	}
	c.st.Replays++
}

func (c *counterTrack) remember(v, at int64) {
	c.recent[c.rpos%4] = struct{ v, at int64 }{v, at}
	c.rpos++
}

// finish counts the gaps never filled as lost and returns the stats.
func (c *counterTrack) finish() SeqStats {
	if c.finished {
		return SeqStats{}
	}
	c.finished = true
	if c.pend {
		c.st.Anomalies++
	}
	for _, h := range c.holes {
		if !h.pre {
			c.st.Lost += uint64(h.e - h.s)
		}
	}
	c.holes = nil
	c.w.flush(&c.st.Reorder)
	return c.st
}

// encapOf lists a context's layers outermost first, tunnel addresses as
// first seen.
func encapOf(n *ctxNode) []Encap {
	var out []Encap
	for x := n; x != nil && x.index != 0; x = x.parent {
		e := Encap{ID: x.layer.ID, HasID: x.layer.HasID}
		switch {
		case x.kind == kindWireGuard:
			e.Kind = "wireguard"
		case x.kind == kindESP:
			e.Kind = "esp"
		default:
			e.Kind = x.layer.Name()
		}
		if x.kind >= kindWireGuard || decode.Kind(x.kind).IsTunnel() {
			e.Src, e.Dst = x.layer.SrcAddr(), x.layer.DstAddr()
		}
		out = append(out, e)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}
