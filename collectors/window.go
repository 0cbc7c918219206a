package collectors

import (
	"sort"
	"time"
)

// Window is what a host report is judged over: two snapshots an interval
// apart, or (Before nil) one snapshot's since-boot totals. Every counter
// read through it comes back as a Change with its total, its change over
// the window and its rate, so neither the rules nor the report's JSON
// conversion subtract counters themselves.
type Window struct {
	Before, After *Snapshot
	// Interval is the interval asked for; Secs is the window actually
	// measured.
	Interval time.Duration
	// Secs is the window in seconds: the time between the snapshots, or
	// the uptime when judging since-boot totals (0 when unknown).
	Secs      float64
	SinceBoot bool
}

// NewWindow is the window from before to after (before nil: since boot);
// nil when there is no after snapshot. interval stands in for the
// distance between the snapshots when their clocks give none.
func NewWindow(before, after *Snapshot, interval time.Duration) *Window {
	if after == nil {
		return nil
	}
	w := &Window{Before: before, After: after, Interval: interval}
	if before == nil {
		w.SinceBoot = true
		w.Secs = after.Uptime.Seconds()
		return w
	}
	w.Secs = w.Span().Seconds()
	return w
}

// Span is the time between the two snapshots: their timestamps' distance,
// or the requested interval when the clock gives none. Since boot it is
// the interval (0).
func (w *Window) Span() time.Duration {
	if w.Before == nil {
		return w.Interval
	}
	if d := w.After.Taken.Sub(w.Before.Taken); d > 0 {
		return d
	}
	return w.Interval
}

// Change is one counter over the window.
type Change struct {
	Name  string
	Total uint64
	// Delta is the change over the window; since boot it is the total.
	Delta uint64
	// Rate is Delta per second; 0 when the window is unknown.
	Rate  float64
	Reset bool
	// OK is false when the counter is absent on this kernel.
	OK bool
}

// Rate is v over the window, 0 when the window is unknown.
func (w *Window) Rate(v uint64) float64 {
	if w.Secs <= 0 {
		return 0
	}
	return float64(v) / w.Secs
}

// Change turns a counter's value before and after into its change over
// the window. haveBefore is false when the counter appeared during the
// window (a new socket or queue): it counted from zero. wide says the
// counter is 64-bit; 32-bit ones wrap (see Delta32).
func (w *Window) Change(name string, before, after uint64, haveBefore, ok, wide bool) Change {
	c := Change{Name: name, Total: after, OK: ok}
	if !ok {
		return c
	}
	switch {
	case w.SinceBoot, !haveBefore:
		c.Delta = after
	case wide:
		c.Delta, c.Reset = Delta64(before, after)
	default:
		c.Delta, c.Reset = Delta32(before, after)
	}
	c.Rate = w.Rate(c.Delta)
	return c
}

// Sum is the changes added into one named name; OK when any of them is.
func Sum(name string, cs ...Change) Change {
	out := Change{Name: name}
	for _, c := range cs {
		if !c.OK {
			continue
		}
		out.OK = true
		out.Total += c.Total
		out.Delta += c.Delta
		out.Rate += c.Rate
		out.Reset = out.Reset || c.Reset
	}
	return out
}

// Netstat is a /proc/net/netstat or snmp counter ("TcpExt",
// "ListenOverflows").
func (w *Window) Netstat(section, name string) Change {
	a, ok := w.After.Netstat.Get(section, name)
	var b uint64
	hb := false
	if w.Before != nil {
		b, hb = w.Before.Netstat.Get(section, name)
	}
	return w.Change(section+"."+name, b, a, hb, ok, true)
}

// NetstatSum adds counters of one section into one change named name.
func (w *Window) NetstatSum(name, section string, names ...string) Change {
	cs := make([]Change, len(names))
	for i, n := range names {
		cs[i] = w.Netstat(section, n)
	}
	return Sum(name, cs...)
}

// HasNetstat reports whether the netstat counters were read in every
// snapshot the window needs.
func (w *Window) HasNetstat() bool {
	return w.After.Netstat != nil && (w.Before == nil || w.Before.Netstat != nil)
}

// HasLinks reports whether the interfaces were read in every snapshot.
func (w *Window) HasLinks() bool {
	return w.After.Links != nil && (w.Before == nil || w.Before.Links != nil)
}

// Link returns the interface in both snapshots (before is nil since boot
// or when the interface appeared during the window).
func (w *Window) Link(name string) (before, after *Link) {
	after = w.After.Link(name)
	if w.Before != nil {
		before = w.Before.Link(name)
	}
	return before, after
}

// LinkStat is one interface counter over the window.
func (w *Window) LinkStat(iface, stat string) Change {
	b, a := w.Link(iface)
	if a == nil || (w.Before != nil && w.Before.Links == nil) {
		return Change{Name: iface + "." + stat}
	}
	av, ok := a.Stat(stat)
	var bv uint64
	hb := false
	if b != nil {
		bv, hb = b.Stat(stat)
	}
	// /proc/net/dev and netlink counters are 64-bit on 64-bit kernels.
	return w.Change(iface+"."+stat, bv, av, hb, ok, true)
}

// LinkSum adds interface counters into one change named iface+" "+name.
func (w *Window) LinkSum(iface, name string, stats ...string) Change {
	cs := make([]Change, len(stats))
	for i, st := range stats {
		cs[i] = w.LinkStat(iface, st)
	}
	return Sum(iface+" "+name, cs...)
}

// EthtoolStat is one driver statistic over the window.
func (w *Window) EthtoolStat(iface, stat string) Change {
	var a, b *NIC
	a = w.After.NICs[iface]
	if w.Before != nil {
		b = w.Before.NICs[iface]
	}
	if a == nil || (w.Before != nil && w.Before.NICs == nil) {
		return Change{Name: iface + "." + stat}
	}
	av, ok := a.Stats[stat]
	var bv uint64
	hb := false
	if b != nil {
		bv, hb = b.Stats[stat]
	}
	return w.Change(iface+"."+stat, bv, av, hb, ok, true)
}

// LineRate reports whether the speed of interface name, of netlink kind
// kind (empty when netlink was not read) and whose driver reports bus
// busInfo, is a real line rate: hardware, not a virtual device with a
// nominal speed.
func LineRate(name, kind, busInfo string) bool {
	return (kind == "" || kind == "device") && busInfo != "" && name != "lo"
}

// Physical reports whether an interface's speed is a real line rate: a
// hardware device, not a veth, tun or bridge that reports a nominal one.
func Physical(l *Link, n *NIC) bool {
	return n != nil && n.Driver != nil && LineRate(l.Name, l.Kind, n.Driver.BusInfo)
}

// Utilisation is a byte counter over the window against the link's speed;
// ok is false when the speed is unknown or not a line rate.
func (w *Window) Utilisation(iface, stat string) (u float64, ok bool) {
	l := w.After.Link(iface)
	if l == nil || l.SpeedMbps == nil || *l.SpeedMbps <= 0 || w.SinceBoot || w.Secs <= 0 || !Physical(l, w.After.NICs[iface]) {
		return 0, false
	}
	c := w.LinkStat(iface, stat)
	if !c.OK {
		return 0, false
	}
	return c.Rate * 8 / (float64(*l.SpeedMbps) * 1e6), true
}

// Conntrack is a per-CPU conntrack statistic over the window, summed.
func (w *Window) Conntrack(name string) Change {
	a := w.After.Conntrack
	total, ok := a.Stat(name)
	c := Change{Name: "nf_conntrack " + name, Total: total, OK: ok}
	if !ok {
		return c
	}
	switch {
	case w.SinceBoot:
		c.Delta = total
	case w.Before == nil || w.Before.Conntrack == nil:
		c.OK = false
		return c
	default:
		d, reset, ok := ConntrackDelta(w.Before.Conntrack, a, name)
		if !ok {
			c.OK = false
			return c
		}
		c.Delta, c.Reset = d, reset
	}
	c.Rate = w.Rate(c.Delta)
	return c
}

// ListenerChange is a listening socket and its own drop counter over the
// window.
type ListenerChange struct {
	Listener
	// Dropped is the change of the socket's drop counter; DroppedOK when
	// known.
	Dropped   uint64
	DroppedOK bool
	// AtLimit says the accept queue is full now.
	AtLimit bool
}

// Listeners pairs each listening socket with its state before, by inode;
// ok is false when the listeners were not read.
func (w *Window) Listeners() (ls []ListenerChange, ok bool) {
	if w.After.Sockets == nil || w.After.Sockets.Listeners == nil {
		return nil, false
	}
	before := map[uint64]Listener{}
	haveBefore := w.Before != nil && w.Before.Sockets != nil && w.Before.Sockets.Listeners != nil
	if haveBefore {
		for _, l := range w.Before.Sockets.Listeners {
			before[l.Inode] = l
		}
	}
	out := make([]ListenerChange, 0, len(w.After.Sockets.Listeners))
	for _, l := range w.After.Sockets.Listeners {
		st := ListenerChange{Listener: l, AtLimit: l.Backlog > 0 && l.AcceptQueue >= l.Backlog}
		if l.Drops != nil {
			switch b, ok := before[l.Inode]; {
			case w.SinceBoot:
				st.Dropped, st.DroppedOK = *l.Drops, true
			case !haveBefore:
			case ok && b.Drops != nil:
				st.Dropped, _ = Delta64(*b.Drops, *l.Drops)
				st.DroppedOK = true
			case !ok:
				st.Dropped, st.DroppedOK = *l.Drops, true // opened during the window
			}
		}
		out = append(out, st)
	}
	return out, true
}

// SocketDrop is a socket whose own drop counter grew over the window.
type SocketDrop[S any] struct {
	Sock  S
	Delta uint64
}

// socketDrops lists the sockets whose drop counter grew, most first; key
// gives a socket's inode and drop count. A socket absent before had no
// drops then (only sockets with drops or queued data are recorded), so its
// whole count is in the window.
func socketDrops[S any](w *Window, before, after []S, key func(S) (inode, drops uint64)) []SocketDrop[S] {
	was := map[uint64]uint64{}
	if !w.SinceBoot {
		for _, b := range before {
			inode, drops := key(b)
			was[inode] = drops
		}
	}
	var out []SocketDrop[S]
	for _, a := range after {
		inode, drops := key(a)
		if d, _ := Delta64(was[inode], drops); d > 0 {
			out = append(out, SocketDrop[S]{a, d})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Delta > out[j].Delta })
	return out
}

// UDPDrops lists the UDP sockets whose drop counter grew, most first.
func (w *Window) UDPDrops() []SocketDrop[UDPSocket] {
	if w.After.Sockets == nil || w.After.Sockets.UDP == nil {
		return nil
	}
	var before []UDPSocket
	if w.Before != nil && w.Before.Sockets != nil {
		before = w.Before.Sockets.UDP
	}
	return socketDrops(w, before, w.After.Sockets.UDP, func(u UDPSocket) (uint64, uint64) { return u.Inode, u.Drops })
}

// TCPDrops lists the TCP connections whose drop counter grew, most first.
func (w *Window) TCPDrops() []SocketDrop[TCPSocket] {
	if w.After.Sockets == nil || w.After.Sockets.TCP == nil {
		return nil
	}
	var before []TCPSocket
	if w.Before != nil && w.Before.Sockets != nil {
		before = w.Before.Sockets.TCP
	}
	return socketDrops(w, before, w.After.Sockets.TCP, func(c TCPSocket) (uint64, uint64) { return c.Inode, c.Drops })
}
