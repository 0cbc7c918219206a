package collectors

import (
	"cmp"
	"net/netip"
)

// Per-connection TCP health: which connections suffer, and from what.
//
// TCPHealthOf compares two dumps of the namespace's TCP connections (two
// Snapshots' TCPConns), connection by connection, and sorts the
// connections into groups by what limits them. It states facts with
// their numbers and judges nothing: a finding's rule decides what is bad
// enough to report. Listing floors keep noise (one tail-loss probe in a
// million segments) out of the groups; rules may ask for more than a
// floor, never less.

// TCPLimit names what holds a connection back.
type TCPLimit string

// What limits a connection, in the order TCPHealth lists the groups.
const (
	// TCPRetransmitting: the connection resent data segments: the path
	// (or the peer) lost them, or the sender thought so.
	TCPRetransmitting TCPLimit = "retransmitting"
	// TCPReordering: the sender saw its segments delivered out of order
	// (tcpi_reord_seen): a reordering path, which makes a sender
	// retransmit segments that were late, not lost. DSACKDups says how
	// many retransmissions the peer had already received (spurious);
	// D-SACKs alone, without reordering, follow spurious timeouts.
	TCPReordering TCPLimit = "reordering"
	// TCPRwndLimited: the sender had data and congestion window, but the
	// peer's advertised receive window was full: the peer's receiver (its
	// application reading slowly, or its receive buffer) sets the pace.
	TCPRwndLimited TCPLimit = "rwnd_limited"
	// TCPSndbufLimited: the network could have taken more, but this
	// socket's send buffer was full (SO_SNDBUF or net.ipv4.tcp_wmem).
	TCPSndbufLimited TCPLimit = "sndbuf_limited"
	// TCPAppLimited: the connection sent data, and the kernel's last
	// delivery-rate sample found the application, not the network, was
	// what kept it from sending more.
	TCPAppLimited TCPLimit = "app_limited"
)

// TCPLimits lists the limits in TCPHealth's order.
var TCPLimits = []TCPLimit{TCPRetransmitting, TCPReordering, TCPRwndLimited, TCPSndbufLimited, TCPAppLimited}

// Listing floors: below them a connection is not listed under a limit.
const (
	// TCPRetransMinSegs and TCPRetransFloor: a connection is retransmitting
	// when it resent at least TCPRetransMinSegs segments in the window,
	// and at least TCPRetransFloor of the data segments it sent were
	// retransmissions (the share is not checked on kernels before 4.6,
	// which lack data_segs_out).
	TCPRetransMinSegs = 2
	TCPRetransFloor   = 0.001
	// TCPStallFloor: a connection is receive-window or send-buffer
	// limited when that stall took at least this share of its busy time
	// in the window.
	TCPStallFloor = 0.01
	// DefaultTCPTop is how many connections each group lists by default.
	DefaultTCPTop = 10
)

// TCPHealthOptions bound and filter the comparison.
type TCPHealthOptions struct {
	// Top is how many connections each group lists, worst first;
	// 0 means DefaultTCPTop.
	Top int
	// Filter keeps only the connections it matches; the zero value keeps
	// every one.
	Filter ConnFilter
}

// TCPHealth is what limits the namespace's TCP connections over a window.
type TCPHealth struct {
	// WindowSeconds is the time between the two dumps; 0 with one dump,
	// when every count covers its connection's life so far.
	WindowSeconds float64 `json:"window_seconds"`
	// Conns counts the connections (in a state that carries data:
	// established or closing) in the second dump that the filter matched.
	Conns int `json:"conns"`
	// New counts those opened during the window: their counts cover their
	// whole life.
	New int `json:"new"`
	// Closed counts the connections of the first dump gone by the second;
	// what they did in between is unknown.
	Closed int `json:"closed"`
	// NoInfo counts connections the kernel sent no tcp_info for.
	NoInfo int `json:"no_info,omitempty"`
	// Filter is the filter applied, as given; empty for none.
	Filter string `json:"filter,omitempty"`
	// Limits has a group for each limit that holds at least one
	// connection back, in TCPLimits order; empty when none does.
	Limits []TCPLimitGroup `json:"limits"`
}

// TCPLimitGroup is the connections one limit holds back.
type TCPLimitGroup struct {
	Limit TCPLimit `json:"limit"`
	// Conns are the worst (Top at most), worst first: most segments
	// retransmitted, most reordering events, longest stalled, most bytes
	// sent while application limited.
	Conns []*TCPConnHealth `json:"conns"`
	// More counts the other connections this limit holds back.
	More int `json:"more"`
}

// Group returns the group of limit l, nil when no connection has it.
func (h *TCPHealth) Group(l TCPLimit) *TCPLimitGroup {
	for i := range h.Limits {
		if h.Limits[i].Limit == l {
			return &h.Limits[i]
		}
	}
	return nil
}

// Listed returns every listed connection once, in group order.
func (h *TCPHealth) Listed() []*TCPConnHealth {
	var out []*TCPConnHealth
	seen := map[*TCPConnHealth]bool{}
	for _, g := range h.Limits {
		for _, c := range g.Conns {
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
			}
		}
	}
	return out
}

// TCPConnHealth is one connection over the window: its counts in the
// window, its state at the second dump, and what limits it. A field this
// kernel's tcp_info lacks is nil.
type TCPConnHealth struct {
	Local  netip.AddrPort `json:"local"`
	Remote netip.AddrPort `json:"remote"`
	State  string         `json:"state"`
	Cookie uint64         `json:"cookie"`
	// Inode is 0 once no process holds the socket.
	Inode uint64 `json:"inode"`
	UID   uint32 `json:"uid"`
	// Process holds the socket; nil until NameOwners found it.
	Process *Process `json:"process,omitempty"`
	// New says the connection opened during the window (or there was one
	// dump): its counts cover its whole life.
	New bool `json:"new,omitempty"`
	// Limits are every limit the connection is listed under, in TCPLimits
	// order.
	Limits []TCPLimit `json:"limits"`

	// Counts over the window.

	// DataSegsOut is data segments sent, retransmissions included.
	DataSegsOut *uint64 `json:"data_segs_out,omitempty"`
	// RetransSegs is segments retransmitted (tcpi_total_retrans).
	RetransSegs uint64 `json:"retrans_segs"`
	// RetransShare is RetransSegs / DataSegsOut.
	RetransShare *float64 `json:"retrans_share,omitempty"`
	BytesSent    *uint64  `json:"bytes_sent,omitempty"`
	BytesRetrans *uint64  `json:"bytes_retrans,omitempty"`
	BytesAcked   *uint64  `json:"bytes_acked,omitempty"`
	BytesRecv    *uint64  `json:"bytes_received,omitempty"`
	// RTOs counts retransmission timeouts; none while RetransSegs grew
	// means fast recovery (or loss probes) did all the resending.
	RTOs          *uint64 `json:"rtos,omitempty"`
	RTORecoveries *uint64 `json:"rto_recoveries,omitempty"`
	RTOTimeMs     *uint64 `json:"rto_time_ms,omitempty"`
	// DSACKDups counts retransmissions the peer had already received;
	// ReordSeen reordering events; SpuriousShare is DSACKDups /
	// RetransSegs.
	DSACKDups     *uint64  `json:"dsack_dups,omitempty"`
	ReordSeen     *uint64  `json:"reord_seen,omitempty"`
	SpuriousShare *float64 `json:"spurious_share,omitempty"`
	// RcvOOOPack counts segments received out of order.
	RcvOOOPack *uint64 `json:"rcv_ooo_packets,omitempty"`
	// BusyUs is time with data to send or in flight; RwndLimitedUs and
	// SndbufLimitedUs the parts of it stalled by the peer's receive
	// window and by the send buffer; RwndShare and SndbufShare those
	// parts' shares of BusyUs.
	BusyUs          *uint64  `json:"busy_us,omitempty"`
	RwndLimitedUs   *uint64  `json:"rwnd_limited_us,omitempty"`
	SndbufLimitedUs *uint64  `json:"sndbuf_limited_us,omitempty"`
	RwndShare       *float64 `json:"rwnd_share,omitempty"`
	SndbufShare     *float64 `json:"sndbuf_share,omitempty"`
	// BusyShare is BusyUs over the window: the rest of the time the
	// connection had nothing to send. nil for a new connection.
	BusyShare *float64 `json:"busy_share,omitempty"`

	// Values at the second dump.

	// CAState is the congestion state: open, disorder, cwr, recovery, loss.
	CAState  string  `json:"ca_state"`
	RTTUs    uint32  `json:"rtt_us"`
	RTTVarUs uint32  `json:"rttvar_us"`
	MinRTTUs *uint32 `json:"min_rtt_us,omitempty"`
	RTOUs    uint32  `json:"rto_us"`
	// SndCwnd and SndSsthresh are in segments.
	SndCwnd     uint32 `json:"snd_cwnd"`
	SndSsthresh uint32 `json:"snd_ssthresh"`
	// Lost and RetransOut are segments presumed lost, and retransmitted
	// and not yet acknowledged.
	Lost       uint32 `json:"lost"`
	RetransOut uint32 `json:"retrans_out"`
	// NotsentBytes is data written and not yet sent.
	NotsentBytes *uint32 `json:"notsent_bytes,omitempty"`
	// DeliveryRate is the last delivery-rate sample, bytes per second;
	// AppLimited says the application limited it.
	DeliveryRate *uint64 `json:"delivery_rate_bytes_per_sec,omitempty"`
	AppLimited   *bool   `json:"app_limited,omitempty"`
	// RecvQ is data not yet read by the application; SendQ data not yet
	// acknowledged by the peer (bytes).
	RecvQ uint32 `json:"recv_q_bytes"`
	SendQ uint32 `json:"send_q_bytes"`
	// SndBuf and RcvBuf are the socket's buffer sizes (bytes).
	SndBuf *uint32 `json:"sndbuf_bytes,omitempty"`
	RcvBuf *uint32 `json:"rcvbuf_bytes,omitempty"`
}

// tcpHealthStates are the states whose connections carry data:
// established, fin-wait-1 and -2, close-wait, last-ack, closing.
const tcpHealthStates = 1<<1 | 1<<4 | 1<<5 | 1<<8 | 1<<9 | 1<<11

// tcpChange is one connection's counts over the window, computed for
// every connection without allocating; only the listed ones are kept, and
// become a TCPConnHealth.
type tcpChange struct {
	conn *TCPConn
	new  bool
	// The counts, valid as far as conn.Info.Has says.
	retrans, dataSegsOut, bytesSent, bytesRetrans, bytesAcked, bytesRecv uint64
	rtos, rtoRecoveries, rtoTime                                         uint64
	dsack, reord, ooo                                                    uint64
	busy, rwnd, sndbuf                                                   uint64
	limits                                                               uint8 // bit i: TCPLimits[i]
	// window is the window in microseconds, set for listed connections.
	window uint64
}

// TCPHealthOf compares the connections of two dumps (before may be nil:
// then every count covers its connection's life) taken windowSeconds
// apart. after nil gives nil.
//
// It costs a few hundred nanoseconds per connection and allocates only for
// the listed ones: two dumps list their connections in the kernel's hash
// table order, so a connection is found at the cursor in the earlier dump
// and a map is built only when connections opened or closed in between.
func TCPHealthOf(before, after *TCPConns, windowSeconds float64, o TCPHealthOptions) *TCPHealth {
	if after == nil {
		return nil
	}
	if o.Top <= 0 {
		o.Top = DefaultTCPTop
	}
	h := &TCPHealth{Filter: o.Filter.String(), Limits: []TCPLimitGroup{}}
	eligible := func(c *TCPConn) bool {
		return tcpHealthStates&(1<<c.State) != 0 && o.Filter.Match(c.Local, c.Remote)
	}
	var m tcpMatcher
	if before != nil {
		h.WindowSeconds = windowSeconds
		m.prev = before.Conns
		for i := range before.Conns {
			if eligible(&before.Conns[i]) {
				h.Closed++ // less those found again, below
			}
		}
	}
	var tops [len(tcpLimitOrder)]tcpTop
	for i := range after.Conns {
		c := &after.Conns[i]
		if !eligible(c) {
			continue
		}
		h.Conns++
		b := m.find(c)
		if b != nil && eligible(b) {
			h.Closed--
		} else {
			b = nil
			h.New++
		}
		if c.Info.Len == 0 {
			h.NoInfo++
			continue
		}
		ch := tcpChangeOf(b, c)
		if ch.limits == 0 {
			continue
		}
		for k := range tcpLimitOrder {
			if ch.limits&(1<<k) != 0 {
				tops[k].add(ch, o.Top, tcpLimitOrder[k].worse)
			}
		}
	}
	window := uint64(windowSeconds * 1e6)
	made := map[*TCPConn]*TCPConnHealth{}
	for k, top := range tops {
		if top.n == 0 {
			continue
		}
		grp := TCPLimitGroup{Limit: TCPLimits[k], Conns: make([]*TCPConnHealth, 0, len(top.best)), More: top.n - len(top.best)}
		for _, ch := range top.best {
			ch.window = window
			x := made[ch.conn]
			if x == nil {
				x = ch.health()
				made[ch.conn] = x
			}
			grp.Conns = append(grp.Conns, x)
		}
		h.Limits = append(h.Limits, grp)
	}
	return h
}

// tcpMatcher finds a connection of the later dump in the earlier one: at
// the cursor, or a few places on (connections closed in between), or
// else through a map of cookies built on first need.
type tcpMatcher struct {
	prev   []TCPConn
	cursor int
	byID   map[uint64]int
}

// tcpMatchAhead is how far past the cursor a connection is looked for
// before the map is built.
const tcpMatchAhead = 4

func (m *tcpMatcher) find(c *TCPConn) *TCPConn {
	if c.Cookie == 0 || len(m.prev) == 0 {
		return nil
	}
	same := func(p *TCPConn) bool { return p.Cookie == c.Cookie && p.Local == c.Local && p.Remote == c.Remote }
	for j := m.cursor; j < min(m.cursor+tcpMatchAhead, len(m.prev)); j++ {
		if same(&m.prev[j]) {
			m.cursor = j + 1
			return &m.prev[j]
		}
	}
	if m.byID == nil {
		m.byID = make(map[uint64]int, len(m.prev))
		for j := range m.prev {
			m.byID[m.prev[j].Cookie] = j
		}
	}
	if j, ok := m.byID[c.Cookie]; ok && same(&m.prev[j]) {
		m.cursor = j + 1
		return &m.prev[j]
	}
	return nil
}

// tcpTop keeps the worst connections of one limit, worst first, and
// counts them all.
type tcpTop struct {
	best []tcpChange
	n    int
}

// add offers ch; worse orders two changes, the worse first.
func (t *tcpTop) add(ch tcpChange, top int, worse func(a, b tcpChange) int) {
	t.n++
	at := len(t.best)
	for at > 0 && worse(ch, t.best[at-1]) < 0 {
		at--
	}
	if at >= top {
		return
	}
	if len(t.best) < top {
		t.best = append(t.best, tcpChange{})
	}
	copy(t.best[at+1:], t.best[at:len(t.best)-1])
	t.best[at] = ch
}

// tcpLimitOrder holds, for each of TCPLimits in order, the comparison
// that puts the worst connection first. Ties fall back to the addresses,
// so the order does not depend on the dump's.
var tcpLimitOrder = [...]struct {
	worse func(a, b tcpChange) int
}{
	// Most segments resent; of two as many, the one that sent fewer.
	{func(a, b tcpChange) int { return tcpWorse(a, b, a.retrans, b.retrans, b.dataSegsOut, a.dataSegsOut) }},
	{func(a, b tcpChange) int { return tcpWorse(a, b, a.reord, b.reord, a.dsack, b.dsack) }},
	{func(a, b tcpChange) int { return tcpWorse(a, b, a.rwnd, b.rwnd, 0, 0) }},
	{func(a, b tcpChange) int { return tcpWorse(a, b, a.sndbuf, b.sndbuf, 0, 0) }},
	{func(a, b tcpChange) int {
		return tcpWorse(a, b, a.bytesSent, b.bytesSent, a.dataSegsOut, b.dataSegsOut)
	}},
}

// tcpWorse orders by x (descending: xa before xb when larger), then y,
// then the connections' addresses.
func tcpWorse(a, b tcpChange, xa, xb, ya, yb uint64) int {
	if c := cmp.Compare(xb, xa); c != 0 {
		return c
	}
	if c := cmp.Compare(yb, ya); c != 0 {
		return c
	}
	if c := a.conn.Local.Compare(b.conn.Local); c != 0 {
		return c
	}
	return a.conn.Remote.Compare(b.conn.Remote)
}

// tcpChangeOf computes c's counts since b (nil: since c opened) and the
// limits they show.
func tcpChangeOf(b, c *TCPConn) tcpChange {
	ch := tcpChange{conn: c, new: b == nil}
	var z TCPInfo
	p := &z
	if b != nil {
		p = &b.Info
	}
	n := &c.Info
	d32 := func(x, y uint32) uint64 { d, _ := Delta32(uint64(x), uint64(y)); return d }
	d64 := func(x, y uint64) uint64 { d, _ := Delta64(x, y); return d }
	ch.retrans = d32(p.TotalRetrans, n.TotalRetrans)
	ch.bytesAcked, ch.bytesRecv = d64(p.BytesAcked, n.BytesAcked), d64(p.BytesReceived, n.BytesReceived)
	ch.dataSegsOut = d32(p.DataSegsOut, n.DataSegsOut)
	ch.busy, ch.rwnd, ch.sndbuf = d64(p.BusyTime, n.BusyTime), d64(p.RwndLimited, n.RwndLimited), d64(p.SndbufLimited, n.SndbufLimited)
	ch.bytesSent, ch.bytesRetrans = d64(p.BytesSent, n.BytesSent), d64(p.BytesRetrans, n.BytesRetrans)
	ch.dsack, ch.reord = d32(p.DSACKDups, n.DSACKDups), d32(p.ReordSeen, n.ReordSeen)
	ch.ooo = d32(p.RcvOOOPack, n.RcvOOOPack)
	ch.rtos = d16(p.TotalRTO, n.TotalRTO)
	ch.rtoRecoveries = d16(p.TotalRTORecoveries, n.TotalRTORecoveries)
	ch.rtoTime = d32(p.TotalRTOTime, n.TotalRTOTime)

	if ch.retrans >= TCPRetransMinSegs &&
		(!n.Has(TCPInfoDataSegsOut) || float64(ch.retrans) >= TCPRetransFloor*float64(ch.dataSegsOut)) {
		ch.limits |= 1 << 0
	}
	if n.Has(TCPInfoBytesRetrans) && ch.reord > 0 {
		ch.limits |= 1 << 1
	}
	if n.Has(TCPInfoBusyTime) {
		stalled := func(us uint64) bool { return us > 0 && float64(us) >= TCPStallFloor*float64(ch.busy) }
		if stalled(ch.rwnd) {
			ch.limits |= 1 << 2
		}
		if stalled(ch.sndbuf) {
			ch.limits |= 1 << 3
		}
	}
	if n.Has(TCPInfoDeliveryRate) && n.AppLimited && ch.dataSegsOut > 0 {
		ch.limits |= 1 << 4
	}
	return ch
}

// d16 is the change of a 16-bit counter, which wraps at 65536.
func d16(x, y uint16) uint64 { return uint64(y - x) }

// health turns a listed connection's counts into its TCPConnHealth.
func (ch tcpChange) health() *TCPConnHealth {
	c, n := ch.conn, &ch.conn.Info
	x := &TCPConnHealth{
		Local: c.Local, Remote: c.Remote, State: TCPStateName(c.State), Cookie: c.Cookie, Inode: c.Inode, UID: c.UID,
		New: ch.new, RetransSegs: ch.retrans,
		CAState: n.CAStateName(), RTTUs: n.RTT, RTTVarUs: n.RTTVar, RTOUs: n.RTO,
		SndCwnd: n.SndCwnd, SndSsthresh: n.SndSsthresh, Lost: n.Lost, RetransOut: n.Retrans,
		RecvQ: c.RecvQ, SendQ: c.SendQ,
	}
	for k, l := range TCPLimits {
		if ch.limits&(1<<k) != 0 {
			x.Limits = append(x.Limits, l)
		}
	}
	if c.HaveMem {
		x.SndBuf, x.RcvBuf = ptr(c.SndBuf), ptr(c.RcvBuf)
	}
	share := func(num, den uint64) *float64 {
		if den == 0 {
			return nil
		}
		return ptr(float64(num) / float64(den))
	}
	if n.Has(TCPInfoBytesAcked) {
		x.BytesAcked, x.BytesRecv = ptr(ch.bytesAcked), ptr(ch.bytesRecv)
	}
	if n.Has(TCPInfoDataSegsOut) {
		x.DataSegsOut, x.RetransShare = ptr(ch.dataSegsOut), share(ch.retrans, ch.dataSegsOut)
		x.NotsentBytes, x.MinRTTUs = ptr(n.NotsentBytes), ptr(n.MinRTT)
	}
	if n.Has(TCPInfoDeliveryRate) {
		x.DeliveryRate, x.AppLimited = ptr(n.DeliveryRate), ptr(n.AppLimited)
	}
	if n.Has(TCPInfoBusyTime) {
		x.BusyUs, x.RwndLimitedUs, x.SndbufLimitedUs = ptr(ch.busy), ptr(ch.rwnd), ptr(ch.sndbuf)
		x.RwndShare, x.SndbufShare = share(ch.rwnd, ch.busy), share(ch.sndbuf, ch.busy)
		if !ch.new {
			x.BusyShare = share(ch.busy, ch.window)
		}
	}
	if n.Has(TCPInfoBytesRetrans) {
		x.BytesSent, x.BytesRetrans = ptr(ch.bytesSent), ptr(ch.bytesRetrans)
		x.DSACKDups, x.ReordSeen = ptr(ch.dsack), ptr(ch.reord)
		x.SpuriousShare = share(ch.dsack, ch.retrans)
	}
	if n.Has(TCPInfoRcvOOOPack) {
		x.RcvOOOPack = ptr(ch.ooo)
	}
	if n.Has(TCPInfoTotalRTO) {
		x.RTOs, x.RTORecoveries, x.RTOTimeMs = ptr(ch.rtos), ptr(ch.rtoRecoveries), ptr(ch.rtoTime)
	}
	return x
}

// ptr returns a pointer to a copy of v.
func ptr[T any](v T) *T { return &v }

// TCPHealthBetween compares the TCP connections of two snapshots (before
// may be nil, for counts since each connection opened); nil when after has
// none.
func TCPHealthBetween(before, after *Snapshot, o TCPHealthOptions) *TCPHealth {
	if after == nil {
		return nil
	}
	if before == nil || before.TCPConns == nil {
		return TCPHealthOf(nil, after.TCPConns, 0, o)
	}
	return TCPHealthOf(before.TCPConns, after.TCPConns, after.Taken.Sub(before.Taken).Seconds(), o)
}

// NameOwners names the process holding each listed connection. It scans
// /proc/*/fd for the listed sockets' inodes only, and stops once all are
// found; the error says when some processes could not be read.
func (h *TCPHealth) NameOwners(src *Sources) error {
	want := map[uint64]**Process{}
	for _, c := range h.Listed() {
		want[c.Inode] = &c.Process
	}
	return nameOwners(src, want)
}
