package capture

import (
	"net/netip"
	"time"

	"github.com/netdx/netdx/capture/decode"
)

// Duplicate windows: an identical frame seen again within this time is a
// capture duplicate. Frames with an IPv4 ID carry a per-packet value, so a
// longer window is safe; without one two genuine packets can be identical
// (duplicate ACKs over IPv6), so the window is kept short.
const (
	dupWindowWithID = 50 * time.Millisecond
	dupWindowNoID   = time.Millisecond
)

// preSpan is how far below the first sequence seen a capture that joined
// a flow midway still judges segments (as late originals or
// retransmissions of data sent before the capture started); the jump
// bounds (sanity.go) keep it within a window in practice.
const preSpan = 1 << 30

// maxJumbo is the largest payload a single frame carries on a jumbo
// MTU; a larger one can only be a TSO/GSO/GRO super-segment.
const maxJumbo = 9000

// evidence names what decided a hole-filling segment.
type evidence uint8

const (
	byTSval evidence = iota
	byIPID
	byTiming
)

type tcpFlow struct {
	d [2]tcpDir // by key endpoint
	// Handshake times (ns): the last SYN, the first SYN/ACK after it, the
	// last SYN/ACK, the ACK that completed it.
	synAt, synAckAt, lastSynAckAt, ackAt int64
	handshake                            bool
	// clientRTTOK and serverRTTOK say no SYN, respectively no SYN/ACK,
	// was sent again before the handshake completed: Karn's rule leaves
	// out a round trip that may belong to either copy.
	clientRTTOK, serverRTTOK bool
	midstream                bool
	fins                     uint8 // bit per endpoint that sent a FIN
	final                    bool  // finalize ran
	// firstAnomaly is where the first sequence anomaly was, for the
	// warning.
	firstAnomaly position
	// rtxBudget is the analysis's allowance of retransmission-log
	// records beyond each log's first minRtxRecs.
	rtxBudget *int
}

// tcpFlowAlloc keeps a TCP flow's state next to its table entry: one
// allocation, and memory that is close together for the per-packet path.
type tcpFlowAlloc struct {
	flow
	tcp tcpFlow
}

func newTCPFlow() *flow {
	x := &tcpFlowAlloc{}
	x.flow.tcp = &x.tcp
	x.flow.reset()
	return &x.flow
}

// reset makes a TCP flow as new, keeping its allocation: the flow table
// reuses evicted flows, so a capture of millions of short flows does not
// make the collector sweep millions of 2 KiB objects.
func (f *flow) reset() {
	t := f.tcp
	*t = tcpFlow{}
	paths := f.paths[:0]
	*f = flow{tcp: t, paths: paths}
	for i := range t.d {
		t.d[i].wsOpt = -1
		t.d[i].st.WindowScale = -1
	}
}

// tcpDir is one endpoint of a TCP flow: the data it sends and the
// acknowledgements it sends about the other endpoint's data.
type tcpDir struct {
	// The fields every packet touches come first, the counters last, so a
	// packet reads few cache lines of a flow among thousands.
	recent [4]struct{ h, at uint64 } // capture duplicate detection
	rpos   uint8

	// Sequence space of this endpoint's data, relative to the first
	// sequence number seen (the ISN+1 after a SYN). Only data moves it:
	// an acknowledgement beyond it is remembered by the peer (its ack)
	// and settled at the end.
	init  bool
	syn   bool
	hi    int64  // next expected: the highest end seen
	hiRaw uint32 // hi as a raw sequence number
	isn   uint32
	// isns are the ISNs of the SYN/ACKs this endpoint sent before any
	// data (a responder that restarted its half of the handshake).
	isns  [2]uint32
	nisn  uint8
	holes holes
	// pend is a long jump held until the next segment says whether the
	// stream went on from there (sanity.go); nil when none.
	pend *heldData
	// ncFrom: acknowledged data below it is not judged (an implausible
	// jump of the peer's ACK moved its reference there).
	ncFrom int64
	// First and last time this endpoint's data counted as delivered:
	// seen, or acknowledged without being captured (goodput's span).
	progFirst, progLast int64
	// Evidence about this endpoint's packets (evidence.go).
	tsSeen         bool
	idSeen         bool
	lastID         uint16
	lastIDAt       int64
	maxTS          uint32
	idGood, idPair uint32
	idAnchor       uint16
	idAnchorAt     int64
	idRate         uint64 // highest IPv4 ID rate seen, IDs per second
	idHorizon      int64  // how far apart two IDs compare, ns (idComparable)
	lastSegs       int64
	maxSeg         int
	// Acknowledgements this endpoint sent about the peer's data.
	ackSeen  bool
	winRaw   uint16
	ack      int64  // in the peer's relative space
	ackAt    int64  // when ack last moved
	ackRaw   uint32 // the last acknowledgement number sent, raw
	ackRawOK bool
	ackPend  *held // a long jump of these acknowledgements, held (sanity.go)
	win      int64 // scaled window in bytes; -1 when the scale is unknown
	maxWin   int64 // largest window advertised, in bytes (see sanity.go)
	lossAt   int64 // last duplicate ACK or SACK
	zeroAt   int64 // start of the current zero window, 0 none
	// One round-trip sample at a time, as TCP itself times segments.
	rttOn  bool
	rttEnd int64
	rttAt  int64
	// Options from this endpoint's SYN.
	mssOpt uint16
	wsOpt  int8
	sackOK bool
	tsOK   bool

	w     window
	sacks [4][2]int64
	nsack int
	rtx   *rtxLog

	st Direction
	// rec records this endpoint's data and the peer's acknowledgements of
	// it when Options.Record names the flow; nil otherwise.
	rec *recDir
}

// rtxLog remembers recent retransmissions (for D-SACK and late-original
// proofs) and recent late originals (to tell which spurious
// retransmissions followed reordering).
type rtxLog struct {
	recs  []rtxRec // a ring, grown while the flow keeps retransmitting
	n     uint64
	lates [8][2]int64
	nl    uint64
}

type rtxRec struct {
	s, e       int64
	at         int64 // when it was seen, ns
	segs       uint64
	lostSegs   uint64
	lostBytes  uint64
	spurious   bool
	filledHole bool
	// mark is 1 + the recorded segment's index when the flow is
	// recorded; 0 otherwise.
	mark int32
	c    creator // the hole's creator when it filled a hole
}

// The log starts small and doubles, up to maxRtxRecs, when the record it
// would overwrite is younger than keepAfter: a D-SACK arrives about a
// round trip after the retransmission it proves spurious, and in a long recovery on a
// long path hundreds of retransmissions are sent in that time. A flow
// whose retransmissions are spread out keeps the small log. The records
// beyond the first minRtxRecs of every log come out of budget, shared by
// all flows of an analysis (maxRtxExtra: about 100 MiB), so a capture of
// many flows in long recoveries at once stays bounded.
const minRtxRecs, maxRtxRecs, maxRtxExtra = 16, 1024, 1 << 20

// dsackWait is the least time a retransmission is kept for its D-SACK:
// Linux's minimum RTO, the scale of the stalls that make a receiver
// answer late and a sender retransmit a whole flight spuriously.
const dsackWait = int64(200 * time.Millisecond)

func (l *rtxLog) add(r rtxRec, keepAfter int64, budget *int) *rtxRec {
	size := uint64(len(l.recs))
	if size == 0 || l.n >= size && size < maxRtxRecs && *budget >= int(size) && l.recs[l.n%size].at >= keepAfter {
		if size > 0 {
			*budget -= int(size)
		}
		grown := make([]rtxRec, max(2*size, minRtxRecs))
		for i := range size { // oldest first
			grown[i] = l.recs[(l.n+i)%size]
		}
		l.recs, l.n = grown, size
	}
	x := &l.recs[l.n%uint64(len(l.recs))]
	*x = r
	l.n++
	return x
}

// extra is the log's records beyond its first minRtxRecs: what it took
// from the budget.
func (l *rtxLog) extra() int { return max(len(l.recs)-minRtxRecs, 0) }

// each calls fn on every remembered retransmission overlapping [s, e).
func (l *rtxLog) each(s, e int64, fn func(*rtxRec)) {
	for i := range min(l.n, uint64(len(l.recs))) {
		r := &l.recs[i]
		if r.s < e && s < r.e {
			fn(r)
		}
	}
}

// dsack calls fn on the retransmissions a D-SACK block [s, e) proves
// unnecessary. The block reports each duplicate byte once: when the same
// range was sent again twice (a retransmission judged lost and repeated),
// the receiver had one copy already and only one was superfluous. So the
// newest retransmissions are taken first, and one whose part of the block
// an earlier-taken one covers is left alone.
func (l *rtxLog) dsack(s, e int64, fn func(*rtxRec)) {
	var covered [][2]int64
	n := min(l.n, uint64(len(l.recs)))
	for k := uint64(1); k <= n; k++ {
		r := &l.recs[(l.n-k)%uint64(len(l.recs))]
		if r.e <= s || e <= r.s {
			continue
		}
		part := [2]int64{max(s, r.s), min(e, r.e)}
		if within(part, covered) {
			continue
		}
		covered = append(covered, part)
		fn(r)
	}
}

// within says the union of ranges covers x.
func within(x [2]int64, ranges [][2]int64) bool {
	left := [][2]int64{x}
	for _, c := range ranges {
		var next [][2]int64
		for _, p := range left {
			if c[1] <= p[0] || p[1] <= c[0] {
				next = append(next, p)
				continue
			}
			if p[0] < c[0] {
				next = append(next, [2]int64{p[0], c[0]})
			}
			if c[1] < p[1] {
				next = append(next, [2]int64{c[1], p[1]})
			}
		}
		left = next
	}
	return len(left) == 0
}

func (l *rtxLog) lateOverlaps(s, e int64) bool {
	for i := range min(l.nl, uint64(len(l.lates))) {
		if x := l.lates[i]; x[0] < e && s < x[1] {
			return true
		}
	}
	return false
}

func (d *tcpDir) log() *rtxLog {
	if d.rtx == nil {
		d.rtx = &rtxLog{}
	}
	return d.rtx
}

// rel turns a raw sequence number of this endpoint into its relative
// position, unwrapping next to the highest seen.
func (d *tcpDir) rel(seq uint32) int64 { return d.hi + int64(int32(seq-d.hiRaw)) }

// start sets up the sequence space at raw sequence number seq.
func (d *tcpDir) start(seq uint32) {
	d.init = true
	d.hi, d.hiRaw = 0, seq
}

// knownISN says this endpoint already sent a SYN or SYN/ACK with seq.
func (d *tcpDir) knownISN(seq uint32) bool {
	for _, x := range d.isns[:d.nisn] {
		if x == seq {
			return true
		}
	}
	return false
}

// rebase moves the sequence space of an endpoint that has sent no data
// yet to a new ISN: the responder answered the same SYN again with a new
// one (its first SYN/ACK was for an attempt it gave up).
func (d *tcpDir) rebase(isn uint32) {
	d.isn = isn
	if d.nisn < uint8(len(d.isns)) && !d.knownISN(isn) {
		d.isns[d.nisn] = isn
		d.nisn++
	}
	d.start(isn + 1)
	d.holes = d.holes[:0]
	d.rttOn = false
}

// sacked says [s, e) lies inside a SACK block this endpoint sent last.
func (d *tcpDir) sacked(s, e int64) bool {
	for i := range d.nsack {
		if d.sacks[i][0] <= s && e <= d.sacks[i][1] {
			return true
		}
	}
	return false
}

// credit counts [s, e) of this endpoint's data as delivered at time at:
// seen for the first time, or acknowledged without being captured.
func (d *tcpDir) credit(n int64, at int64) {
	if n <= 0 {
		return
	}
	d.st.UniqueBytes += uint64(n)
	if d.progFirst == 0 || at < d.progFirst {
		d.progFirst = at
	}
	d.progLast = max(d.progLast, at)
}

// sig is a fingerprint of what tells two transmissions apart: the headers
// that change between them, the TCP checksum and the first payload bytes,
// so segments with equal headers but different data differ.
func sig(p *decode.Packet) uint64 {
	t := &p.TCP
	h := uint64(t.Seq)<<32 | uint64(t.Ack)
	h ^= (uint64(p.Payload)<<32 | uint64(t.Window)<<16 | uint64(t.Flags)<<8 | uint64(p.Version)) * 0x9e3779b97f4a7c15
	h ^= (uint64(p.IPID)<<48 ^ uint64(t.TSval)<<16 ^ uint64(t.TSecr)) * 0xc2b2ae3d27d4eb4f
	h ^= (uint64(t.Checksum)<<48 ^ t.Head) * 0xd6e8feb86659fd93
	for _, b := range t.SACK[:t.NSACK] {
		h = (h ^ (uint64(b.Left)<<32 | uint64(b.Right))) * 0x165667b19e3779f9
	}
	return h
}

// duplicate reports whether p repeats a frame seen just before.
func (d *tcpDir) duplicate(p *decode.Packet, at int64) bool {
	h := sig(p)
	lim := uint64(dupWindowNoID)
	if p.Version == 4 && p.IPID != 0 {
		lim = uint64(dupWindowWithID)
	}
	now := uint64(at)
	for _, r := range d.recent {
		if r.h == h && r.at != 0 && now >= r.at && now-r.at <= lim {
			return true
		}
	}
	d.recent[d.rpos%4] = struct{ h, at uint64 }{h, now}
	d.rpos++
	return false
}

func (f *flow) tcpPacket(a *analyzer, ep uint8, p *decode.Packet, at int64, wire int) {
	t := f.tcp
	d := &t.d[ep]
	if d.duplicate(p, at) {
		d.st.Duplicates++
		if d.rec != nil && p.Payload > 0 && d.init {
			d.rec.seg(at, d.rel(p.TCP.Seq), int64(p.Payload), 1, SegCaptureDup, SegOriginal)
		}
		return
	}
	d.st.Packets++
	d.st.Bytes += uint64(wire)
	flags := p.TCP.Flags
	if !f.clientSet && !t.handshake && flags&(decode.SYN|decode.ACK) == decode.SYN {
		f.client, f.clientSet = ep, true
	}
	if flags&decode.SYN != 0 {
		f.syn(ep, p, at)
	}
	if flags&decode.ACK != 0 {
		f.ack(a, ep, p, at)
	}
	if p.Payload > 0 || flags&decode.FIN != 0 {
		f.data(a, ep, p, at)
	} else if d.init && flags&(decode.SYN|decode.FIN|decode.RST) == 0 && p.TCP.Seq == d.hiRaw-1 {
		d.st.KeepAlives++
	}
	switch {
	case flags&decode.RST != 0:
		f.closed = true
	case flags&decode.FIN != 0:
		t.fins |= 1 << ep
		f.closed = t.fins == 3
	}
}

// newConnection says a SYN or SYN/ACK from endpoint ep starts a new
// connection on the flow's 4-tuple (port reuse, a new attempt with a new
// ISN) instead of belonging to this one: its ISN is not the one this
// endpoint used, nor consistent with the data it sent or the peer
// acknowledged. A responder that answers the same SYN with a new ISN
// before sending data restarts only its half (syn rebases it).
func (t *tcpFlow) newConnection(ep uint8, p *decode.Packet) bool {
	d, r := &t.d[ep], &t.d[1-ep]
	seq := p.TCP.Seq
	switch {
	case d.syn:
		if seq == d.isn || d.knownISN(seq) {
			return false
		}
		return p.TCP.Flags&decode.ACK == 0 || d.st.DataPackets > 0 || t.fins&(1<<ep) != 0
	case d.init:
		pos := d.rel(seq + 1)
		return pos > 0 || pos < -t.plausible(ep)
	case r.ackRawOK:
		ahead := int64(int32(r.ackRaw - (seq + 1)))
		return ahead < 0 || ahead > t.plausible(ep)
	}
	return false
}

func (f *flow) syn(ep uint8, p *decode.Packet, at int64) {
	t := f.tcp
	d := &t.d[ep]
	o := &p.TCP
	synack := o.Flags&decode.ACK != 0
	switch {
	case d.syn && (o.Seq == d.isn || d.knownISN(o.Seq)):
		d.st.Retransmission.Packets++
		d.st.Retransmission.Frames++
		d.st.Retransmission.Timeout++
		d.st.Retransmission.SYN++
		if d.rec != nil {
			d.rec.seg(at, d.rel(o.Seq), 1, 1, SegTimeout, SegTimeout)
		}
	case d.syn: // a SYN/ACK with a new ISN before any data (newConnection)
		d.rebase(o.Seq)
	default:
		d.syn, d.isn = true, o.Seq
		d.isns[0], d.nisn = o.Seq, 1
		if !d.init {
			d.start(o.Seq + 1)
		}
	}
	d.mssOpt, d.wsOpt, d.sackOK, d.tsOK = o.MSS, o.WScale, o.SACKPermitted, o.HasTS
	switch {
	case t.handshake:
	case !synack:
		t.synAt = at
	default:
		if t.synAckAt == 0 || t.synAckAt < t.synAt {
			t.synAckAt = at
		}
		t.lastSynAckAt = at
	}
}

// scale is the window scale for endpoint ep's advertisements: known only
// when both SYNs were seen.
func (t *tcpFlow) scale(ep uint8) int {
	d, r := &t.d[ep], &t.d[1-ep]
	if !d.syn || !r.syn {
		return -1
	}
	if d.wsOpt < 0 || r.wsOpt < 0 {
		return 0
	}
	return int(d.wsOpt)
}

// optMSS is the payload size of a full segment from endpoint ep by the
// peer's MSS option, less the timestamp option when both sides use it; 0
// without the option.
func (t *tcpFlow) optMSS(ep uint8) int {
	d, r := &t.d[ep], &t.d[1-ep]
	if r.mssOpt == 0 {
		return 0
	}
	m := int(r.mssOpt)
	if d.tsOK && r.tsOK {
		m -= 12
	}
	return max(m, 1)
}

// mss is the payload size of a full segment from endpoint ep: optMSS, or
// without the option the largest ordinary segment seen.
func (t *tcpFlow) mss(ep uint8) int {
	if m := t.optMSS(ep); m > 0 {
		return m
	}
	return t.d[ep].maxSeg
}

// lossWindow is how soon after a duplicate ACK or SACK a retransmission
// counts as fast: one and a half round trips (the retransmission reaches
// a receiver-side capture one round trip after the ACK left), or 200 ms
// (Linux's minimum RTO) when the round trip is unknown.
func (t *tcpFlow) lossWindow() int64 {
	if rtt := t.pathRTT(); rtt > 0 {
		return int64(max(rtt+rtt/2, time.Millisecond))
	}
	return int64(200 * time.Millisecond)
}

// ack processes what endpoint ep's packet says about the peer's data.
func (f *flow) ack(a *analyzer, ep uint8, p *decode.Packet, at int64) {
	t := f.tcp
	d, r := &t.d[ep], &t.d[1-ep]
	o := &p.TCP
	syn := o.Flags&decode.SYN != 0
	if o.Window == 0 && o.Flags&(decode.RST|decode.SYN) == 0 {
		d.st.ZeroWindows++
		if d.zeroAt == 0 {
			d.zeroAt = at
		}
	} else if d.zeroAt != 0 {
		d.st.ZeroWindowTime += time.Duration(max(at-d.zeroAt, 0))
		d.zeroAt = 0
	}
	win := int64(-1)
	if sc := t.scale(ep); sc >= 0 && !syn {
		win = int64(o.Window) << sc
	}
	d.noteWindow(o.Window, win)
	d.ackRaw, d.ackRawOK = o.Ack, true
	if !r.init {
		d.winRaw, d.win = o.Window, win
		return
	}
	if !syn && r.syn && r.st.DataPackets == 0 && o.Ack-1 != r.isn && r.knownISN(o.Ack-1) {
		r.rebase(o.Ack - 1) // the initiator took another of the responder's SYN/ACKs
	}
	ack := r.rel(o.Ack)
	// The ACK of the SYN/ACK completes the handshake.
	if !t.handshake && !syn && t.synAckAt != 0 && t.synAckAt >= t.synAt && r.syn && o.Ack == r.isn+1 {
		t.handshake, t.ackAt = true, at
		t.clientRTTOK = d.st.Retransmission.SYN == 0
		t.serverRTTOK = r.st.Retransmission.SYN == 0
	}
	if r.pend != nil && ack >= r.pend.v && ack-r.pend.v <= t.holdJump(1-ep) {
		f.decideData(1-ep, true) // the receiver acknowledged the peer's held segment
	}
	if !f.ackPlausible(a, ep, ack, at) {
		d.winRaw, d.win = o.Window, win
		return
	}
	pure := p.Payload == 0 && o.Flags&(decode.SYN|decode.FIN|decode.RST) == 0
	switch {
	case !d.ackSeen || ack > d.ack:
		f.acked(ep, ack, at)
	case ack == d.ack && pure && o.Window == d.winRaw && r.hi > ack && o.NSACK == 0 || ack == d.ack && pure && o.NSACK > 0 && r.hi > ack:
		d.st.DupACKs++
		d.lossAt = at
	}
	d.winRaw, d.win = o.Window, win
	if r.rec != nil {
		r.rec.ack(at, ack, win)
	}
	if o.NSACK > 0 {
		f.sack(ep, p, ack, at)
	}
}

// acked takes endpoint ep's cumulative acknowledgement up to ack at time
// at: holes below it were received although not captured (yet), and the
// segment being timed may be answered.
func (f *flow) acked(ep uint8, ack, at int64) {
	t := f.tcp
	d, r := &t.d[ep], &t.d[1-ep]
	d.ackSeen, d.ack, d.ackAt = true, ack, at
	if len(r.holes) > 0 {
		r.holes.dropPre(ack)
		r.holes.ack(-preSpan, ack, at)
		r.holes.trim(func(x hole) { r.giveUp(x, t.mss(1-ep)) })
	}
	if r.rttOn && ack >= r.rttEnd {
		r.st.RTT.add(time.Duration(at - r.rttAt))
		r.rttOn = false
	}
}

// sack reads endpoint ep's SACK blocks: a D-SACK (RFC 2883) proves a
// retransmission spurious; other blocks signal loss and show data the
// receiver holds.
func (f *flow) sack(ep uint8, p *decode.Packet, ack, at int64) {
	t := f.tcp
	d, r := &t.d[ep], &t.d[1-ep]
	o := &p.TCP
	d.st.SACKPackets++
	d.nsack = 0
	for i := range int(o.NSACK) {
		b := o.SACK[i]
		left, right := r.rel(b.Left), r.rel(b.Right)
		if right <= left || right-left > t.plausible(1-ep) {
			continue
		}
		if i == 0 {
			dsack := right <= ack
			if !dsack && o.NSACK > 1 {
				l2, r2 := r.rel(o.SACK[1].Left), r.rel(o.SACK[1].Right)
				dsack = left >= l2 && right <= r2
			}
			if dsack {
				d.st.DSACKs++
				if r.rec != nil {
					r.rec.sack(left, right, true)
				}
				if r.rtx != nil {
					r.rtx.dsack(left, right, func(x *rtxRec) { r.spurious(x, &r.st.Retransmission.ByDSACK) })
				}
				continue
			}
		}
		d.lossAt = at
		if r.pend != nil && left <= r.pend.v && r.pend.v < right {
			f.decideData(1-ep, true) // the receiver holds the peer's held segment
			left, right = r.rel(b.Left), r.rel(b.Right)
		}
		if r.rec != nil {
			r.rec.sack(left, right, false)
		}
		if d.nsack < len(d.sacks) {
			d.sacks[d.nsack] = [2]int64{left, right}
			d.nsack++
		}
		if len(r.holes) > 0 {
			r.holes.ack(left, right, at)
			r.holes.trim(func(x hole) { r.giveUp(x, t.mss(1-ep)) })
		}
	}
}

// data processes the payload (and FIN) of endpoint ep's packet.
func (f *flow) data(a *analyzer, ep uint8, p *decode.Packet, at int64) {
	t := f.tcp
	d, r := &t.d[ep], &t.d[1-ep]
	o := &p.TCP
	st := &d.st
	plen := int64(p.Payload)
	n := plen
	if o.Flags&decode.FIN != 0 {
		n++
	}
	mss := t.mss(ep)
	if plen > 0 {
		st.DataPackets++
		st.PayloadBytes += uint64(plen)
		// Without an MSS option only a frame above a jumbo frame's payload
		// is known to be a super-segment; an ordinary frame raises the
		// MSS inferred from the largest seen.
		if opt := t.optMSS(ep); opt > 0 && plen > int64(opt) || plen > maxJumbo {
			st.GSOFrames++
			st.Segments += segments(plen, mss)
		} else {
			st.Segments++
			d.maxSeg = max(d.maxSeg, int(plen))
		}
		if st.FirstData.IsZero() {
			st.FirstData = time.Unix(0, at)
		}
		st.LastData = time.Unix(0, at)
	}
	seq := o.Seq
	if o.Flags&decode.SYN != 0 {
		seq++ // data on a SYN (TCP Fast Open) starts after it
	}
	if d.syn && st.DataPackets <= 1 && seq-1 != d.isn && d.knownISN(seq-1) {
		d.rebase(seq - 1) // the responder's data is in another of its SYN/ACKs' spaces
	}
	if !d.init {
		d.start(seq)
		t.midstream = !d.syn
		d.holes.add(hole{s: -preSpan, e: 0, c: f.creatorOf(d, p, at, 0), pre: true})
	}
	if !f.dataPlausible(a, ep, p, seq, n, at) {
		return
	}
	s := d.rel(seq)
	e := s + n
	// Keep-alives repeat the byte before the next one; zero-window probes
	// test a closed window. Neither is a retransmission.
	if plen <= 1 && o.Flags&decode.FIN == 0 && s == d.hi-1 {
		if r.zeroAt != 0 {
			st.WindowProbes++
		} else {
			st.KeepAlives++
		}
		return
	}
	if plen == 1 && r.zeroAt != 0 && s >= d.hi-1 {
		st.WindowProbes++
	}
	if s >= d.hi {
		var c creator
		if s > d.hi {
			c = f.creatorOf(d, p, at, s-d.hi)
		}
		f.advance(ep, c, at, s, e)
		d.tsID(stampOf(p), at, true)
		if d.rec != nil && plen > 0 {
			d.rec.seg(at, s, plen, 1, SegOriginal, SegOriginal)
		}
		return
	}
	top := min(e, d.hi)
	f.below(ep, p, at, s, top, mss)
	if e > d.hi {
		d.credit(e-d.hi, at)
		d.hi, d.hiRaw = e, d.hiRaw+uint32(e-d.hi)
	}
}

// advance takes new data [s, e) at or above the highest sequence seen,
// opening a hole when it jumps over data not yet seen; c describes the
// segment as the hole's creator (unused without a hole). Whatever of the hole the receiver
// already acknowledged (an ACK captured before the data) is marked so:
// unless it shows up late, the capture missed it.
func (f *flow) advance(ep uint8, c creator, at int64, s, e int64) {
	t := f.tcp
	d, r := &t.d[ep], &t.d[1-ep]
	st := &d.st
	if s > d.hi {
		if d.ncFrom > d.hi { // below it nothing is judged: an implausible ACK jump moved past it
			d.holes.add(hole{s: d.hi, e: min(s, d.ncFrom), c: c, pre: true})
		}
		if lo := max(d.hi, d.ncFrom); s > lo {
			d.holes.add(hole{s: lo, e: s, c: c})
			if r.ackSeen && r.ack > lo {
				d.holes.ack(lo, r.ack, r.ackAt)
			}
		}
		d.holes.trim(func(x hole) { d.giveUp(x, t.mss(ep)) })
	}
	d.credit(e-s, at)
	d.hi, d.hiRaw = e, d.hiRaw+uint32(e-d.hi)
	d.w.push(st.Reorder, s, false, 0)
	// Karn: data the receiver already acknowledged (its ACK was captured
	// first) gives no round-trip sample.
	if !d.rttOn && !(r.ackSeen && r.ack >= e) {
		d.rttOn, d.rttEnd, d.rttAt = true, e, at
	}
	if r.win > 0 && r.ackSeen && e-r.ack >= r.win {
		st.WindowFull++
	}
}

// below judges data [s, top) below the highest sequence seen: a late
// original filling a hole, a retransmission, or a late copy of data seen.
func (f *flow) below(ep uint8, p *decode.Packet, at int64, s, top int64, mss int) {
	t := f.tcp
	d := &t.d[ep]
	st := &d.st
	first, in := d.holes.overlap(s, top)
	if d.rec != nil && in > 0 {
		d.rec.filling(d.holes, s, top, at)
	}
	switch {
	case in == 0:
		if d.older(p, at) {
			f.lateCopy(ep, p, at, s, top)
			return
		}
		f.retransmit(ep, p, at, s, top, mss, 0, 0, nil)
		d.tsID(stampOf(p), at, false)
	case in == top-s:
		c := d.holes[first].c
		pre := d.holes[first].pre
		late, by, ok := f.judge(d, p, c, at)
		lost, acked, preFilled := d.holes.fill(s, top)
		d.credit(lost+acked+preFilled, at)
		if !ok {
			st.Decided.Undecided++
			d.tsID(stampOf(p), at, false)
			if d.rec != nil {
				d.rec.seg(at, s, int64(p.Payload), 1, SegOther, SegOriginal)
			}
			return
		}
		decided(st, late, by)
		if late {
			f.lateOriginal(ep, p, at, s, top, c, pre)
			return
		}
		f.retransmit(ep, p, at, s, top, mss, lost, acked, &c)
		d.tsID(stampOf(p), at, false)
	default: // partly seen before, partly in holes: a repacketized retransmission
		c := d.holes[first].c
		lost, acked, preFilled := d.holes.fill(s, top)
		d.credit(lost+acked+preFilled, at)
		f.retransmit(ep, p, at, s, top, mss, lost, acked, &c)
		d.tsID(stampOf(p), at, false)
	}
}

func decided(st *Direction, late bool, by evidence) {
	x := &st.Decided
	switch {
	case late && by == byTSval:
		x.ReorderedByTSval++
	case late && by == byIPID:
		x.ReorderedByIPID++
	case late:
		x.ReorderedByTiming++
	case by == byTSval:
		x.RetransmittedByTSval++
	case by == byIPID:
		x.RetransmittedByIPID++
	default:
		x.RetransmittedByTiming++
	}
}

// lateOriginal records a reordered original segment.
func (f *flow) lateOriginal(ep uint8, p *decode.Packet, at int64, s, top int64, c creator, pre bool) {
	d := &f.tcp.d[ep]
	st := &d.st
	if st.Reorder == nil {
		st.Reorder = &Reorder{}
	}
	extent := d.w.n - c.idx
	if pre {
		// Sent before the capture's first packet of this direction: late,
		// but with no hole to measure against beyond that first packet.
		extent = max(extent, 1)
	}
	st.Reorder.late(extent, time.Duration(at-c.at), p.Payload, int(c.size))
	if d.rec != nil {
		d.rec.seg(at, s, int64(p.Payload), 1, SegReordered, SegOriginal)
	}
	d.w.push(st.Reorder, s, true, extent)
	l := d.log()
	l.lates[l.nl%uint64(len(l.lates))] = [2]int64{s, top}
	l.nl++
	f.attribute(st, p, c)
}

// attribute compares a late original's outer sequence inside its tunnel
// with the creator's: was the outer order inverted too?
func (f *flow) attribute(st *Direction, p *decode.Packet, c creator) {
	tun := f.node.innerTunnel()
	if tun == nil {
		return
	}
	var l *decode.Layer
	for i := p.NLayers - 1; i >= 0; i-- {
		if p.Layers[i].Kind.IsTunnel() {
			l = &p.Layers[i]
			break
		}
	}
	switch {
	case l != nil && l.HasSeq && c.flags&crGRE != 0:
		if int32(l.Seq-uint32(c.outer)) < 0 {
			st.Outer.Underlay++
		} else {
			st.Outer.BeforeEncap++
		}
	case l != nil && l.HasIPID && c.flags&crOutID != 0 && tun.idReliable(tun.dirOf(&l.Src)):
		if int16(l.IPID-uint16(c.outer)) < 0 {
			st.Outer.Underlay++
		} else {
			st.Outer.BeforeEncap++
		}
	default:
		st.Outer.Unknown++
	}
}

// lateCopy handles data seen before that arrives with an older timestamp
// or IPv4 ID than the newest packet: when a retransmission already filled
// its hole it is the original, late, and that retransmission was
// spurious; otherwise the network duplicated it.
func (f *flow) lateCopy(ep uint8, p *decode.Packet, at int64, s, top int64) {
	d := &f.tcp.d[ep]
	var rec *rtxRec
	if d.rtx != nil {
		d.rtx.each(s, top, func(x *rtxRec) {
			if x.filledHole && rec == nil {
				rec = x
			}
		})
	}
	if rec == nil {
		d.st.LateDuplicates++
		if d.rec != nil {
			d.rec.seg(at, s, int64(p.Payload), 1, SegOther, SegOriginal)
		}
		return
	}
	f.lateOriginal(ep, p, at, s, top, rec.c, false)
	d.spurious(rec, &d.st.Retransmission.ByLateOriginal)
}

// retransmit records a retransmission of [s, top). lost and acked are how
// much of it filled holes whose original never appeared: unacknowledged
// (lost before the capture point) or acknowledged by the receiver (the
// capture missed the original); c is that hole's creator.
func (f *flow) retransmit(ep uint8, p *decode.Packet, at int64, s, top int64, mss int, lost, acked int64, c *creator) {
	t := f.tcp
	d, r := &t.d[ep], &t.d[1-ep]
	R := &d.st.Retransmission
	bytes := min(top, s+int64(p.Payload)) - s
	segs := segments(max(bytes, 1), mss)
	R.Frames++
	R.Packets += segs
	R.Bytes += uint64(max(bytes, 0))
	cause := SegTimeout
	if r.lossAt != 0 && at-r.lossAt <= t.lossWindow() && at >= r.lossAt {
		R.Fast += segs
		cause = SegFast
	} else {
		R.Timeout += segs
	}
	if mss > 0 && p.Payload >= mss {
		R.FullSize += segs
	}
	l := d.log()
	repeated := false
	l.each(s, top, func(*rtxRec) { repeated = true })
	if repeated {
		R.Repeated += segs
	}
	rec := rtxRec{s: s, e: top, at: at, segs: segs}
	if d.rec != nil {
		i := d.rec.seg(at, s, int64(p.Payload), segs, cause, cause)
		rec.mark = int32(i + 1)
		if lost+acked > 0 && c != nil {
			d.rec.owned(i)
		}
		d.rec.pending = d.rec.pending[:0]
	}
	if lost+acked > 0 && c != nil {
		rec.filledHole, rec.c = true, *c
		rec.lostBytes = uint64(lost)
		rec.lostSegs = segments(lost, mss)
		d.st.LostBytes += rec.lostBytes
		d.st.LostSegments += rec.lostSegs
		d.notCaptured(acked, mss)
	}
	// A D-SACK comes back one round trip after the retransmission passed
	// the capture point: the loss window's 1.5 round trips, twice the
	// longest data round trip seen (queues grow in a recovery), and at
	// least dsackWait (a stalled receiver answers late).
	x := l.add(rec, at-max(t.lossWindow(), 2*int64(d.st.RTT.Max), dsackWait), t.rtxBudget)
	if r.ackSeen && r.ack >= top || r.sacked(s, top) {
		d.spurious(x, &R.ByACK)
	}
	if d.rttOn && d.rttEnd > s {
		d.rttOn = false // Karn: a retransmitted range gives no sample
	}
}

// spurious marks a retransmission as unnecessary, counting the proof.
func (d *tcpDir) spurious(x *rtxRec, proof *uint64) {
	if x.spurious {
		return
	}
	x.spurious = true
	if d.rec != nil && x.mark > 0 {
		d.rec.segs[x.mark-1].Kind = SegSpurious
	}
	R := &d.st.Retransmission
	R.Spurious += x.segs
	*proof += x.segs
	if d.rtx != nil && d.rtx.lateOverlaps(x.s, x.e) {
		R.AfterReordering += x.segs
	}
	// The receiver had the data: it was not lost after all.
	d.st.LostSegments -= min(d.st.LostSegments, x.lostSegs)
	d.st.LostBytes -= min(d.st.LostBytes, x.lostBytes)
	x.lostSegs, x.lostBytes = 0, 0
}

// finalize moves what is still open into the counters: holes never filled
// are lost (or not captured when acknowledged), data acknowledged beyond
// all seen is not captured, a window still closed counts until the flow's
// last packet, the reorder window is flushed. It runs once, when the flow
// leaves the table.
func (f *flow) finalize() {
	t := f.tcp
	if t == nil || t.final {
		return
	}
	t.final = true
	for ep := range t.d {
		t.d[ep].unconfirmed(t)
	}
	for ep := range uint8(2) {
		d := &t.d[ep]
		f.settle(ep)
		d.holes = nil
		if d.zeroAt != 0 {
			d.st.ZeroWindowTime += time.Duration(max(f.last-d.zeroAt, 0))
			d.zeroAt = 0
		}
		d.flushReorder()
		d.rtx = nil
		d.st.MSS = t.mss(ep)
		d.st.WindowScale = t.scale(ep)
		d.st.SACKPermitted = d.sackOK && t.d[1-ep].sackOK
		d.st.Timestamps = d.tsOK && t.d[1-ep].tsOK || d.tsSeen
		if !d.st.FirstData.IsZero() {
			d.st.FirstData, d.st.LastData = d.st.FirstData.UTC(), d.st.LastData.UTC()
		}
		if d.progFirst != 0 {
			d.st.DeliveredFirst, d.st.DeliveredLast = time.Unix(0, d.progFirst).UTC(), time.Unix(0, d.progLast).UTC()
		}
	}
}

// flushReorder ends the reorder window's stream into the counters.
func (d *tcpDir) flushReorder() {
	if d.w.n > 0 {
		if d.st.Reorder == nil {
			d.st.Reorder = &Reorder{}
		}
		d.w.flush(d.st.Reorder)
	}
}

// score ranks a finalized flow like Flow.Score.
func (f *flow) score() float64 {
	if f.tcp == nil {
		return 0
	}
	return score(&f.tcp.d[0].st, &f.tcp.d[1].st)
}

// packets counts the flow's packets, duplicates left out.
func (f *flow) packets() uint64 {
	if f.tcp == nil {
		return f.udp[0].packets + f.udp[1].packets
	}
	return f.tcp.d[0].st.Packets + f.tcp.d[1].st.Packets
}

// endpoint is key endpoint i of the flow as an address and port.
func (f *flow) endpoint(i uint8) netip.AddrPort {
	var ad netip.Addr
	if f.key.ver == 4 {
		ad = netip.AddrFrom4([4]byte(f.key.addr[i][:4]))
	} else {
		ad = netip.AddrFrom16(f.key.addr[i])
	}
	return netip.AddrPortFrom(ad, f.key.port[i])
}

// result builds the report of a finalized flow.
func (f *flow) result() *Flow {
	out := &Flow{Proto: "udp", Tunnel: -1}
	if f.key.proto == 6 {
		out.Proto = "tcp"
	}
	c, s := f.client, 1-f.client
	out.Client, out.Server = f.endpoint(c), f.endpoint(s)
	out.First, out.Last = time.Unix(0, f.first).UTC(), time.Unix(0, f.last).UTC()
	out.Encap = encapOf(f.node)
	for _, n := range f.paths {
		out.OtherEncaps = append(out.OtherEncaps, encapOf(n))
	}
	if tun := f.node.innerTunnel(); tun != nil {
		out.Tunnel = tun.idx
	}
	if f.tcp == nil {
		for i, ep := range [2]uint8{c, s} {
			out.Dir[i].Packets, out.Dir[i].Bytes = f.udp[ep].packets, f.udp[ep].bytes
			out.Dir[i].WindowScale = -1
		}
		return out
	}
	t := f.tcp
	out.Handshake = t.handshake
	out.Midstream = t.midstream
	if t.handshake {
		if t.clientRTTOK {
			out.ClientRTT = time.Duration(t.synAckAt - t.synAt)
		}
		if t.serverRTTOK {
			out.ServerRTT = time.Duration(t.ackAt - t.synAckAt)
		}
		if t.clientRTTOK && t.serverRTTOK {
			out.HandshakeRTT = time.Duration(t.ackAt - t.synAt)
		}
	}
	for i, ep := range [2]uint8{c, s} {
		out.Dir[i] = t.d[ep].st
	}
	return out
}
