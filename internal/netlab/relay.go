package netlab

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Impairment is what a router's relay does to the packets it forwards.
// The kernel here has no netem, so the relay does it in userspace.
type Impairment struct {
	// Loss is the probability of dropping each matched packet.
	Loss float64
	// Delay holds every matched packet this long; order is kept.
	Delay time.Duration
	// PathDelay holds every packet, matched or not, this long: a longer
	// path, whose round trip (handshakes included) grows by twice it when
	// both directions cross the relay. Delay adds to it for matched ones.
	PathDelay time.Duration
	// ReorderEvery swaps one adjacent pair of matched packets every
	// ReorderEvery packets: the first of the pair is held and sent after
	// the next one (2 swaps every pair).
	ReorderEvery int
	// ReorderHold is how long a held packet waits for a successor before
	// it is sent in order after all; 0 means 50ms.
	ReorderHold time.Duration
	// Match selects the packets to impair (an IP packet, version 4 or
	// 6); nil impairs all. Other packets are forwarded untouched.
	Match func(pkt []byte) bool
	// Seed makes the loss pattern repeatable.
	Seed uint64
}

func (i Impairment) active() bool {
	return i.Loss > 0 || i.Delay > 0 || i.PathDelay > 0 || i.ReorderEvery > 0
}

// RelayStats counts what a relay did. They are the ground truth tests
// compare measurements with.
type RelayStats struct {
	// Received counts every packet read from the router's forwarding path;
	// Matched those the impairment applied to.
	Received, Matched uint64
	// Forwarded counts packets sent on; Dropped those discarded.
	Forwarded, Dropped uint64
	// DroppedOriginals counts the dropped packets that carried TCP data
	// (directly over IP or in VXLAN) no packet before them had carried: first
	// transmissions. The other TCP data packets dropped were
	// retransmissions (Dropped - DroppedOriginals when only TCP data is
	// matched).
	DroppedOriginals uint64
	// ArrivedLate counts matched TCP data packets that reached the relay
	// after data above them and carried data it had not seen: reordered
	// before the relay (the lab's veth links can reorder when the sender
	// transmits from two CPUs). They come on top of Displaced.
	ArrivedLate uint64
	// Delayed counts packets held by Delay.
	Delayed uint64
	// QueueDropped counts packets the kernel dropped from the TUN
	// device's queue before the relay could read them: a loss the relay
	// never sees, so tests that compare with its counts require none.
	QueueDropped uint64
	// Displaced counts packets sent after a packet that arrived after
	// them: one per swapped pair.
	Displaced uint64
}

// Relay sits in a router's forwarding path. Policy routing sends every
// packet the router would forward (arriving on one of its links, not for
// itself) into a TUN device; the relay reads it, impairs it, restores the
// TTL the second trip through the forwarding code will take again, and
// writes it back, from where the kernel forwards it as usual. The router's
// own ICMP (time exceeded) never passes through the relay.
type Relay struct {
	tun  *os.File
	ns   *NS // the router's, once routed
	imp  Impairment
	rng  *rand.Rand
	out  chan timed
	wg   sync.WaitGroup
	once sync.Once

	received, matched, forwarded, dropped, delayed, displaced atomic.Uint64
	droppedOriginals, arrivedLate                             atomic.Uint64
	// highest is the end of the highest TCP data seen per flow direction,
	// seen the starts of the data below it.
	highest map[segKey]uint32
	seen    map[segKey]map[uint32]bool
}

type timed struct {
	pkt []byte
	at  time.Time
}

// relayTable is the routing table that sends forwarded packets to the
// relay's TUN device.
const relayTable = 100

// startRelay creates the TUN device "relay0" in ns, routes packets arriving
// on ifaces through it, and starts relaying.
func startRelay(ns *NS, ifaces []string, imp Impairment) (*Relay, error) {
	var fd int
	err := ns.Do(func() error {
		var err error
		fd, err = unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open /dev/net/tun: %w", err)
		}
		ifr, err := unix.NewIfreq("relay0")
		if err != nil {
			return err
		}
		ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
		if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
			unix.Close(fd)
			return fmt.Errorf("create TUN device: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	r := &Relay{tun: os.NewFile(uintptr(fd), "relay0"), imp: imp,
		rng: rand.New(rand.NewPCG(imp.Seed, 0x6e6574647821)), out: make(chan timed, 4096),
		highest: map[segKey]uint32{}, seen: map[segKey]map[uint32]bool{}}
	if err := r.route(ns, ifaces); err != nil {
		r.tun.Close()
		return nil, err
	}
	if r.imp.ReorderHold <= 0 {
		r.imp.ReorderHold = 50 * time.Millisecond
	}
	r.wg.Add(2)
	go r.writeLoop()
	go r.readLoop()
	return r, nil
}

func (r *Relay) route(ns *NS, ifaces []string) error {
	h := ns.Netlink()
	tun, err := h.LinkByName("relay0")
	if err != nil {
		return err
	}
	// The kernel queues what it forwards to the relay in the TUN's
	// transmit queue (500 packets by default, 2000 here): a burst overflows it while
	// the relay is scheduled out, a loss no relay count would show.
	if err := h.LinkSetTxQLen(tun, 2000); err != nil {
		return err
	}
	if err := h.LinkSetUp(tun); err != nil {
		return err
	}
	r.ns = ns
	for _, kv := range [][2]string{
		{"net/ipv4/conf/relay0/rp_filter", "0"},
		{"net/ipv4/conf/relay0/forwarding", "1"},
		{"net/ipv6/conf/relay0/forwarding", "1"},
	} {
		if err := ns.SetSysctl(kv[0], kv[1]); err != nil {
			return err
		}
	}
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		dst := ipnet(netip.PrefixFrom(netip.IPv4Unspecified(), 0))
		if fam == unix.AF_INET6 {
			dst = ipnet(netip.PrefixFrom(netip.IPv6Unspecified(), 0))
		}
		if err := h.RouteAdd(&netlink.Route{Dst: dst, LinkIndex: tun.Attrs().Index, Table: relayTable}); err != nil {
			return fmt.Errorf("relay route: %w", err)
		}
		for _, ifc := range ifaces {
			rule := netlink.NewRule()
			rule.Family, rule.Priority, rule.IifName, rule.Table = fam, 100, ifc, relayTable
			if err := h.RuleAdd(rule); err != nil {
				return fmt.Errorf("relay rule for %s: %w", ifc, err)
			}
		}
	}
	return nil
}

// Stats returns the relay's own counts so far (QueueDropped is Settled's).
func (r *Relay) Stats() RelayStats {
	return RelayStats{
		Received: r.received.Load(), Matched: r.matched.Load(),
		Forwarded: r.forwarded.Load(), Dropped: r.dropped.Load(), DroppedOriginals: r.droppedOriginals.Load(),
		ArrivedLate: r.arrivedLate.Load(),
		Delayed:     r.delayed.Load(), Displaced: r.displaced.Load(),
	}
}

// Settled waits up to timeout for every packet the relay has read to be
// forwarded or dropped (none held, delayed or queued), then returns the
// counts with the TUN queue's drops. Tests call it after traffic stops,
// before comparing.
func (r *Relay) Settled(timeout time.Duration) RelayStats {
	deadline := time.Now().Add(timeout)
	st := r.Stats()
	for st.Received != st.Forwarded+st.Dropped && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
		st = r.Stats()
	}
	if r.ns != nil {
		if l, err := r.ns.Netlink().LinkByName("relay0"); err == nil && l.Attrs().Statistics != nil {
			st.QueueDropped = l.Attrs().Statistics.TxDropped
		}
	}
	return st
}

// Close stops the relay; packets still held are discarded.
func (r *Relay) Close() error {
	var err error
	r.once.Do(func() {
		err = r.tun.Close()
		r.wg.Wait()
	})
	return err
}

func (r *Relay) readLoop() {
	defer r.wg.Done()
	defer close(r.out)
	pkts := make(chan []byte, 256)
	go func() {
		defer close(pkts)
		for {
			buf := make([]byte, 65536)
			n, err := r.tun.Read(buf)
			if err != nil {
				return
			}
			pkts <- buf[:n]
		}
	}()
	var held []byte
	var holdTimer <-chan time.Time
	n := 0
	for {
		select {
		case pkt, ok := <-pkts:
			if !ok {
				return
			}
			r.received.Add(1)
			if !restoreTTL(pkt) {
				r.dropped.Add(1)
				continue
			}
			if r.imp.Match != nil && !r.imp.Match(pkt) {
				r.emit(pkt, false)
				continue
			}
			r.matched.Add(1)
			fresh := r.newData(pkt)
			if r.imp.Loss > 0 && r.rng.Float64() < r.imp.Loss {
				r.dropped.Add(1)
				if fresh {
					r.droppedOriginals.Add(1)
				}
				continue
			}
			if held != nil {
				r.emit(pkt, true)
				r.emit(held, true)
				r.displaced.Add(1)
				held, holdTimer = nil, nil
				continue
			}
			n++
			if r.imp.ReorderEvery > 0 && n%r.imp.ReorderEvery == 0 {
				held, holdTimer = pkt, time.After(r.imp.ReorderHold)
				continue
			}
			r.emit(pkt, true)
		case <-holdTimer:
			r.emit(held, true)
			held, holdTimer = nil, nil
		}
	}
}

// emit queues pkt for writing, after the path delay and, when impaired,
// the matched packets' delay.
func (r *Relay) emit(pkt []byte, impaired bool) {
	at := time.Now().Add(r.imp.PathDelay)
	if impaired && r.imp.Delay > 0 {
		at = at.Add(r.imp.Delay)
		r.delayed.Add(1)
	}
	r.out <- timed{pkt: pkt, at: at}
}

func (r *Relay) writeLoop() {
	defer r.wg.Done()
	for t := range r.out {
		if d := time.Until(t.at); d > 0 {
			time.Sleep(d)
		}
		if _, err := r.tun.Write(t.pkt); err != nil {
			if errors.Is(err, os.ErrClosed) {
				// Drain so readLoop never blocks on a full queue.
				continue
			}
			r.dropped.Add(1)
			continue
		}
		r.forwarded.Add(1)
	}
}

// segKey is one direction of a TCP flow.
type segKey struct {
	src, dst [16]byte
	sport    uint16
	dport    uint16
}

// newData says pkt is a TCP segment (directly over IP or inside VXLAN)
// carrying data above every segment of its flow direction seen before,
// and remembers its end.
func (r *Relay) newData(pkt []byte) bool {
	if in := vxlanPayload(pkt); in != nil {
		pkt = in
	}
	var k segKey
	var l4 []byte
	switch {
	case len(pkt) >= 20 && pkt[0]>>4 == 4 && pkt[9] == 6:
		ihl := int(pkt[0]&0x0f) * 4
		if len(pkt) < ihl+20 {
			return false
		}
		copy(k.src[:], pkt[12:16])
		copy(k.dst[:], pkt[16:20])
		l4 = pkt[ihl:]
	case len(pkt) >= 60 && pkt[0]>>4 == 6 && pkt[6] == 6:
		copy(k.src[:], pkt[8:24])
		copy(k.dst[:], pkt[24:40])
		l4 = pkt[40:]
	default:
		return false
	}
	k.sport, k.dport = binary.BigEndian.Uint16(l4[0:2]), binary.BigEndian.Uint16(l4[2:4])
	payload := len(l4) - int(l4[12]>>4)*4
	if payload <= 0 {
		return false
	}
	start := binary.BigEndian.Uint32(l4[4:8])
	end := start + uint32(payload)
	starts := r.seen[k]
	if starts == nil {
		starts = map[uint32]bool{}
		r.seen[k] = starts
	}
	first := !starts[start]
	starts[start] = true
	hi, seen := r.highest[k]
	if seen && int32(end-hi) <= 0 {
		if first {
			r.arrivedLate.Add(1)
		}
		return false
	}
	r.highest[k] = end
	return true
}

// restoreTTL adds back the TTL (hop limit) the router's forwarding code
// took, since the packet goes through it again after the relay. It fixes
// the IPv4 header checksum incrementally (RFC 1624).
func restoreTTL(pkt []byte) bool {
	if len(pkt) < 1 {
		return false
	}
	switch pkt[0] >> 4 {
	case 4:
		if len(pkt) < 20 || pkt[8] == 255 {
			return false
		}
		old := binary.BigEndian.Uint16(pkt[8:10])
		pkt[8]++
		updated := binary.BigEndian.Uint16(pkt[8:10])
		sum := uint32(^binary.BigEndian.Uint16(pkt[10:12])) + uint32(^old) + uint32(updated)
		for sum > 0xffff {
			sum = sum>>16 + sum&0xffff
		}
		binary.BigEndian.PutUint16(pkt[10:12], ^uint16(sum))
		return true
	case 6:
		if len(pkt) < 40 || pkt[7] == 255 {
			return false
		}
		pkt[7]++
		return true
	}
	return false
}
