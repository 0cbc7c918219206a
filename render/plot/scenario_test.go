package plot

import (
	"cmp"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"time"
)

// transfer scripts one bulk TCP transfer as a capture point halfway along
// the path sees it, so the pictures under test look like real ones:
// slow start, then a steady rate; the receiver ACKs every second
// in-order segment and every out-of-order one at once, with SACK and
// D-SACK blocks computed from what it holds.
type transfer struct {
	mss      int64
	rtt      time.Duration
	segments int
	// fate of segment i; absent means delivered in order.
	lost        map[int]bool          // never seen, never delivered
	notCaptured map[int]bool          // delivered but not seen
	dup         map[int]bool          // seen twice by the capture
	late        map[int]time.Duration // seen and delivered this much later
	// rtx sends segment i again this long after its original, as kind.
	rtx map[int]rtxPlan
	// window is the receive window advertised.
	window int64
}

type rtxPlan struct {
	after time.Duration
	kind  SegmentKind
}

// arrival is a segment reaching the receiver.
type arrival struct {
	at  time.Duration
	idx int
}

func (tr *transfer) build() *TimeSequence {
	g := &TimeSequence{
		Client: netip.MustParseAddrPort("198.18.1.10:40312"),
		Server: netip.MustParseAddrPort("198.18.2.20:5201"),
		Layers: []Layer{
			{Kind: "vlan", ID: 100, HasID: true},
			{Kind: "vxlan", ID: 42, HasID: true, Src: netip.MustParseAddr("198.18.0.1"), Dst: netip.MustParseAddr("198.18.0.2")},
		},
	}
	half := tr.rtt / 2
	// When each original leaves the sender (and passes the capture).
	sent := make([]time.Duration, tr.segments)
	t := tr.rtt // after the handshake
	i := 0
	for burst := 10; i < tr.segments && burst <= 80; burst *= 2 {
		for k := 0; k < burst && i < tr.segments; k++ {
			sent[i] = t + time.Duration(k)*100*time.Microsecond
			i++
		}
		t += tr.rtt
	}
	for ; i < tr.segments; i++ {
		sent[i] = t
		t += 250 * time.Microsecond
	}

	var arrivals []arrival
	seg := func(i int, at time.Duration, kind SegmentKind) {
		g.Segments = append(g.Segments, Segment{At: at, Seq: int64(i) * tr.mss, Len: tr.mss, Kind: kind})
	}
	for i := range tr.segments {
		at := sent[i] + tr.late[i]
		switch {
		case tr.lost[i]:
		case tr.notCaptured[i]:
			arrivals = append(arrivals, arrival{at + half, i})
		default:
			kind := Original
			if tr.late[i] > 0 {
				kind = Reordered
			}
			seg(i, at, kind)
			if tr.dup[i] {
				seg(i, at+20*time.Microsecond, CaptureDuplicate)
			}
			arrivals = append(arrivals, arrival{at + half, i})
		}
		if p, ok := tr.rtx[i]; ok {
			seg(i, sent[i]+p.after, p.kind)
			arrivals = append(arrivals, arrival{sent[i] + p.after + half, i})
		}
	}
	slices.SortStableFunc(arrivals, func(a, b arrival) int { return cmp.Compare(a.at, b.at) })

	// The receiver.
	have := make([]bool, tr.segments)
	next, top, held, unacked := 0, 0, 0, 0
	for _, a := range arrivals {
		dsack := have[a.idx]
		inOrder := a.idx == next
		if !dsack {
			have[a.idx] = true
			top = max(top, a.idx)
			if inOrder {
				next++
				for next < tr.segments && have[next] {
					next++
					held--
				}
			} else {
				held++
			}
		}
		unacked++
		if inOrder && !dsack && held == 0 && unacked < 2 && next < tr.segments {
			continue
		}
		unacked = 0
		ack := Ack{At: a.at + half, Ack: int64(next) * tr.mss, Window: tr.window}
		if dsack {
			ack.DSACK = []Range{{int64(a.idx) * tr.mss, int64(a.idx+1) * tr.mss}}
		}
		if held > 0 {
			ack.SACK = sackBlocks(have[:top+1], next, a.idx, tr.mss)
		}
		g.Acks = append(g.Acks, ack)
	}

	// Gaps: open from when data above them passed the capture until
	// they were filled (lost) or acknowledged (not captured).
	for i := range tr.segments {
		r := Range{int64(i) * tr.mss, int64(i+1) * tr.mss}
		switch {
		case tr.lost[i]:
			to := sent[i] + tr.rtx[i].after
			g.Lost = append(g.Lost, Gap{Range: r, From: sent[min(i+1, tr.segments-1)], To: to})
		case tr.notCaptured[i]:
			from := sent[min(i+1, tr.segments-1)]
			g.NotCaptured = append(g.NotCaptured, Gap{Range: r, From: from, To: ackedAt(g.Acks, r.End)})
		}
	}
	return g
}

// sackBlocks lists the received ranges above the cumulative ACK, the one
// holding the newest segment first, at most three (RFC 2018).
func sackBlocks(have []bool, next, newest int, mss int64) []Range {
	var blocks []Range
	for i := next; i < len(have); {
		if !have[i] {
			i++
			continue
		}
		j := i
		for j < len(have) && have[j] {
			j++
		}
		blocks = append(blocks, Range{int64(i) * mss, int64(j) * mss})
		i = j
	}
	slices.SortStableFunc(blocks, func(a, b Range) int {
		in := func(r Range) bool { return int64(newest)*mss >= r.Start && int64(newest)*mss < r.End }
		switch {
		case in(a) && !in(b):
			return -1
		case in(b) && !in(a):
			return 1
		}
		return 0
	})
	return blocks[:min(len(blocks), 3)]
}

func ackedAt(acks []Ack, end int64) time.Duration {
	for _, a := range acks {
		if a.Ack >= end {
			return a.At
		}
	}
	return 0
}

// labTransfer has every segment kind, SACK and D-SACK blocks, lost and
// not-captured ranges.
func labTransfer() *TimeSequence {
	rtt := 20 * time.Millisecond
	fast := rtt + 3*250*time.Microsecond
	tr := &transfer{
		mss: 1448, rtt: rtt, segments: 900, window: 256 * 1024,
		lost:        map[int]bool{330: true, 331: true, 600: true, 897: true},
		notCaptured: map[int]bool{700: true, 701: true, 702: true},
		dup:         map[int]bool{100: true, 101: true, 102: true},
		late:        map[int]time.Duration{250: 800 * time.Microsecond, 251: 800 * time.Microsecond, 480: rtt + 2*time.Millisecond},
		rtx: map[int]rtxPlan{
			330: {fast, RetransFast},
			331: {fast + 100*time.Microsecond, RetransFast},
			480: {fast, Spurious},
			600: {rtt + rtt/2, RetransOther},
			897: {200 * time.Millisecond, RetransTimeout},
		},
	}
	g := tr.build()
	g.Notes = []string{"capture point: the router between the two VXLAN endpoints"}
	return g
}

// bulkTransfer is a long transfer of n segments with some loss, for the
// size of large graphs.
func bulkTransfer(n int) *TimeSequence {
	rtt := 20 * time.Millisecond
	r := rand.New(rand.NewPCG(1, 2))
	tr := &transfer{
		mss: 1448, rtt: rtt, segments: n, window: 4 << 20,
		lost: map[int]bool{}, notCaptured: map[int]bool{}, dup: map[int]bool{},
		late: map[int]time.Duration{}, rtx: map[int]rtxPlan{},
	}
	for i := 100; i < n-10; i++ {
		switch x := r.IntN(1000); {
		case x < 3:
			tr.lost[i] = true
			tr.rtx[i] = rtxPlan{rtt + time.Millisecond, RetransFast}
		case x < 4:
			tr.late[i] = 600 * time.Microsecond
		case x < 5:
			tr.dup[i] = true
		}
	}
	return tr.build()
}

// pathHop describes one hop of a scripted trace.
type pathHop struct {
	rtt       time.Duration // typical round trip
	jitter    time.Duration
	answerPer int // answers one probe in this many rounds (rate limit); 0 never answers
	names     []Responder
	note      string
}

// scriptTrace runs rounds of probes over hops, one probe per hop per
// round every interval: outage rounds lose every probe from outageAt on,
// the last round is still pending from pendingFrom on, spikes adds one
// round trip far above the rest.
func scriptTrace(hops []pathHop, rounds int, interval time.Duration, outageAt int, outage [2]int, pendingFrom int, spike [2]int) *HopRTT {
	r := rand.New(rand.NewPCG(3, 4))
	h := &HopRTT{Method: "icmp"}
	for i, ph := range hops {
		hop := Hop{TTL: i + 1, Responders: ph.names, Note: ph.note, Dest: i == len(hops)-1}
		h.Hops = append(h.Hops, hop)
	}
	for round := range rounds {
		sent := time.Duration(round) * interval
		for i, ph := range hops {
			p := Probe{Sent: sent + time.Duration(i)*50*time.Microsecond}
			switch {
			case round == rounds-1 && pendingFrom > 0 && i+1 >= pendingFrom:
				p.Fate = Pending
			case outageAt > 0 && round >= outage[0] && round < outage[1] && i+1 >= outageAt:
				p.Fate = ForwardLost
			case ph.answerPer == 0 || round%ph.answerPer != 0:
				p.Fate = NoReply
			default:
				p.Fate = Answered
				p.RTT = ph.rtt + time.Duration(r.Int64N(int64(ph.jitter)+1))
				if round == spike[0] && i+1 == spike[1] {
					p.RTT = 20 * ph.rtt
				}
			}
			h.Hops[i].Probes = append(h.Hops[i].Probes, p)
		}
	}
	return h
}

func responder(a, name string) []Responder {
	return []Responder{{Addr: netip.MustParseAddr(a), Name: name}}
}

// labTrace has every probe fate: a hop that rate-limits, an outage that
// starts at hop 6, a hop that never answers, ECMP, an RTT spike, pending
// probes, and a hostile host name.
func labTrace() *HopRTT {
	ms := time.Millisecond
	hops := []pathHop{
		{rtt: ms / 2, jitter: ms / 5, answerPer: 1, names: responder("198.18.0.1", "gw.lab")},
		{rtt: 2 * ms, jitter: ms / 2, answerPer: 1, names: responder("198.18.1.1", "")},
		{rtt: 5 * ms, jitter: ms, answerPer: 5, names: responder("198.18.2.1", "edge-rl.lab"), note: "rate-limited 1/s"},
		{rtt: 8 * ms, jitter: 2 * ms, answerPer: 1, names: responder("198.18.3.1", "core1.lab")},
		{rtt: 12 * ms, jitter: 2 * ms, answerPer: 1, names: responder("198.18.4.1", "core2.lab")},
		{rtt: 20 * ms, jitter: 3 * ms, answerPer: 1, names: responder("198.18.5.1", "transit.lab")},
		{rtt: 24 * ms, jitter: 3 * ms, answerPer: 1, names: responder("198.18.6.1", `<script>alert("x")</script>&evil'.lab`)},
		{},
		{rtt: 31 * ms, jitter: 4 * ms, answerPer: 1, names: []Responder{
			{Addr: netip.MustParseAddr("2001:db8::9"), Name: "ecmp-a.lab"},
			{Addr: netip.MustParseAddr("2001:db8::10"), Name: "ecmp-b.lab"}}},
		{rtt: 32 * ms, jitter: 4 * ms, answerPer: 1, names: responder("198.18.9.9", "dest.lab")},
	}
	h := scriptTrace(hops, 60, 200*ms, 6, [2]int{30, 35}, 9, [2]int{12, 4})
	h.Target = "dest.lab (198.18.9.9)"
	h.Notes = []string{"lab path: hop 3 rate-limits ICMP to 1/s; an outage from hop 6 on in rounds 30-34"}
	return h
}

// longTrace has 30 hops, the most a default trace shows.
func longTrace() *HopRTT { return longTraceRounds(100) }

func longTraceRounds(rounds int) *HopRTT {
	var hops []pathHop
	for i := range 30 {
		base := time.Duration(1+i*i/4) * time.Millisecond
		ph := pathHop{rtt: base, jitter: base/8 + time.Millisecond/4, answerPer: 1,
			names: responder("198.18."+strconv.Itoa(i)+".1", "hop"+strconv.Itoa(i+1)+".far.example")}
		if i == 17 || i == 18 {
			ph = pathHop{}
		}
		hops = append(hops, ph)
	}
	h := scriptTrace(hops, rounds, 200*time.Millisecond, 25, [2]int{70, 72}, 0, [2]int{})
	h.Target = "far.example (198.18.29.1)"
	return h
}
