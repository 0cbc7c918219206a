package netlab

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// RouterSpec configures one router position of a path.
type RouterSpec struct {
	// RateLimit sets the router's ICMP error rate limit per destination
	// (net.ipv4.icmp_ratelimit and net.ipv6.icmp.ratelimit): after a
	// burst of six, one time-exceeded per RateLimit. 0 keeps the
	// kernel's defaults (1 s for IPv4; 100 ms for IPv6 since Linux 6.18),
	// as on a real router; a negative value turns limiting off.
	RateLimit time.Duration
	// DropForward drops this share (0-1) of the packets the router
	// forwards, both ways, with an nftables `numgen random` rule on its
	// forward hook: loss on the router, at kernel speed, with no relay.
	DropForward float64
	// Silent routers never send ICMP: a policy rule blackholes every ICMP
	// and ICMPv6 packet they generate themselves.
	Silent bool
	// Prohibit makes the router refuse to forward to the target's link,
	// answering "administratively prohibited".
	Prohibit bool
	// ECMP puts two routers in parallel at this position; the routers on
	// either side split flows between them by an L4 hash.
	ECMP bool
	// Impair applies loss, delay and reordering to the packets the router
	// forwards, through a userspace relay.
	Impair Impairment
}

// PathSpec describes a linear path: a prober, the routers in order, a
// target. Every link carries IPv4 and IPv6.
type PathSpec struct {
	Routers []RouterSpec
	// TargetIgnoresEcho makes the target drop ICMP echo requests
	// (net.ipv4.icmp_echo_ignore_all and its IPv6 twin).
	TargetIgnoresEcho bool
	// TargetLimitsEcho adds echo replies to the target's rate-limited ICMP
	// types (net.ipv4.icmp_ratemask with bit 0, net.ipv6.icmp.ratemask
	// with 129), at its default rate limits.
	TargetLimitsEcho bool
}

// Addrs is a node's IPv4 and IPv6 address on one link.
type Addrs struct {
	V4, V6 netip.Addr
}

// Router is one router of a path.
type Router struct {
	NS *NS
	// In is its address on the link towards the prober: the address that
	// answers time-exceeded.
	In Addrs
	// Links names its interfaces, those towards the prober first.
	Links []string
	// Relay is the router's impairment relay, nil when it has none.
	Relay *Relay
}

// Path is a built topology. Hops[i] holds the routers at TTL i+1: one, or
// two for an ECMP position.
type Path struct {
	Prober, Target *NS
	// ProberAddr is the prober's address; TargetAddr the target's.
	ProberAddr, TargetAddr Addrs
	// ProberIface and TargetIface name their links towards the path.
	ProberIface, TargetIface string
	Hops                     [][]*Router
}

// node is a namespace in the topology graph.
type node struct {
	ns    *NS
	pos   int // 0 prober, 1..n routers, n+1 target
	links []*linkEnd
	spec  RouterSpec
	r     *Router
}

// linkEnd is one end of a veth link.
type linkEnd struct {
	idx   int // link number, also the subnet number
	name  string
	addrs Addrs
	peer  *linkEnd
	node  *node
	mac   net.HardwareAddr
}

// NewPath builds the path in fresh namespaces and removes everything when
// t ends. Link L uses 198.18.L.0/24 and 2001:db8:0:L::/64, the side nearer
// the prober taking .1 and ::1.
func NewPath(t testing.TB, spec PathSpec) *Path {
	t.Helper()
	RequireRoot(t)
	for _, rs := range spec.Routers {
		if rs.DropForward > 0 {
			RequireNFT(t)
		}
	}
	p := &Path{}
	var positions [][]*node
	prober := &node{ns: NewNS(t, "p"), pos: 0}
	positions = append(positions, []*node{prober})
	for i, rs := range spec.Routers {
		n := 1
		if rs.ECMP {
			n = 2
		}
		var nodes []*node
		for j := 0; j < n; j++ {
			nodes = append(nodes, &node{ns: NewNS(t, "r"+strconv.Itoa(i+1)), pos: i + 1, spec: rs})
		}
		positions = append(positions, nodes)
	}
	target := &node{ns: NewNS(t, "t"), pos: len(spec.Routers) + 1}
	positions = append(positions, []*node{target})

	var all []*node
	for _, ns := range positions {
		all = append(all, ns...)
	}
	// Without duplicate address detection every address, link-local ones
	// included, works the moment it is added.
	for _, n := range all {
		for _, k := range []string{"net/ipv6/conf/all/accept_dad", "net/ipv6/conf/default/accept_dad"} {
			if err := n.ns.SetSysctl(k, "0"); err != nil {
				t.Fatalf("netlab: %v", err)
			}
		}
	}
	link := 0
	for i := 0; i+1 < len(positions); i++ {
		for _, a := range positions[i] {
			for _, b := range positions[i+1] {
				link++
				if err := connect(a, b, link); err != nil {
					t.Fatalf("netlab: link %d: %v", link, err)
				}
			}
		}
	}
	for _, n := range all {
		if err := configure(n, n.pos > 0 && n.pos <= len(spec.Routers)); err != nil {
			t.Fatalf("netlab: configure %s: %v", n.ns.Name, err)
		}
	}
	for _, n := range all {
		if err := addRoutes(n, all); err != nil {
			t.Fatalf("netlab: routes in %s: %v", n.ns.Name, err)
		}
	}
	p.Prober, p.Target = prober.ns, target.ns
	p.ProberAddr = prober.links[0].addrs
	p.TargetAddr = target.links[0].addrs
	p.ProberIface, p.TargetIface = prober.links[0].name, target.links[0].name
	targetNets := target.links[0]
	for _, nodes := range positions[1 : len(positions)-1] {
		var hop []*Router
		for _, n := range nodes {
			r := &Router{NS: n.ns, In: n.links[0].addrs}
			for _, e := range n.links {
				r.Links = append(r.Links, e.name)
			}
			if err := impairKnobs(t, n, r, targetNets); err != nil {
				t.Fatalf("netlab: router %s: %v", n.ns.Name, err)
			}
			hop = append(hop, r)
		}
		p.Hops = append(p.Hops, hop)
	}
	if spec.TargetLimitsEcho {
		// 0x1819: the default mask (0x1818) and echo reply (type 0).
		for _, kv := range [][2]string{{"net/ipv4/icmp_ratemask", "6169"}, {"net/ipv6/icmp/ratemask", "0-1,3-127,129"}} {
			if err := target.ns.SetSysctl(kv[0], kv[1]); err != nil {
				t.Fatalf("netlab: %v", err)
			}
		}
	}
	if spec.TargetIgnoresEcho {
		for _, k := range []string{"net/ipv4/icmp_echo_ignore_all", "net/ipv6/icmp/echo_ignore_all"} {
			if err := target.ns.SetSysctl(k, "1"); err != nil {
				t.Fatalf("netlab: %v", err)
			}
		}
	}
	return p
}

// connect makes a veth pair between a (nearer the prober) and b, created
// inside a's namespace so no name ever appears in the host's.
func connect(a, b *node, idx int) error {
	ea := &linkEnd{idx: idx, name: fmt.Sprintf("e%d", idx), node: a,
		addrs: Addrs{V4: netip.AddrFrom4([4]byte{198, 18, byte(idx), 1}), V6: v6Addr(idx, 1)}}
	eb := &linkEnd{idx: idx, name: fmt.Sprintf("e%d", idx), node: b,
		addrs: Addrs{V4: netip.AddrFrom4([4]byte{198, 18, byte(idx), 2}), V6: v6Addr(idx, 2)}}
	ea.peer, eb.peer = eb, ea
	if idx > 250 {
		return fmt.Errorf("too many links")
	}
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: ea.name}, PeerName: eb.name,
		PeerNamespace: netlink.NsFd(int(b.ns.Handle))}
	if err := a.ns.Netlink().LinkAdd(v); err != nil {
		return fmt.Errorf("add veth %s: %w", ea.name, err)
	}
	for _, e := range []*linkEnd{ea, eb} {
		h := e.node.ns.Netlink()
		l, err := h.LinkByName(e.name)
		if err != nil {
			return err
		}
		for _, pfx := range []netip.Prefix{netip.PrefixFrom(e.addrs.V4, 24), netip.PrefixFrom(e.addrs.V6, 64)} {
			addr := &netlink.Addr{IPNet: ipnet(pfx), Flags: unix.IFA_F_NODAD}
			if err := h.AddrAdd(l, addr); err != nil {
				return fmt.Errorf("add %s to %s: %w", pfx, e.name, err)
			}
		}
		if err := h.LinkSetUp(l); err != nil {
			return err
		}
		e.node.links = append(e.node.links, e)
		e.mac = l.Attrs().HardwareAddr
	}
	for _, e := range []*linkEnd{ea, eb} {
		if err := e.node.ns.WaitLocal(e.addrs.V4, e.addrs.V6); err != nil {
			return err
		}
	}
	// Permanent neighbour entries: no ARP or neighbour discovery, whose
	// first solicitation can be lost while a link comes up and then costs
	// a one-second retransmission.
	for _, e := range []*linkEnd{ea, eb} {
		h := e.node.ns.Netlink()
		l, err := h.LinkByName(e.name)
		if err != nil {
			return err
		}
		for _, ip := range []netip.Addr{e.peer.addrs.V4, e.peer.addrs.V6} {
			fam := unix.AF_INET
			if ip.Is6() {
				fam = unix.AF_INET6
			}
			n := &netlink.Neigh{LinkIndex: l.Attrs().Index, Family: fam, State: netlink.NUD_PERMANENT,
				IP: ip.AsSlice(), HardwareAddr: e.peer.mac}
			if err := h.NeighSet(n); err != nil {
				return fmt.Errorf("neighbour %s on %s: %w", ip, e.name, err)
			}
		}
	}
	return nil
}

func v6Addr(link, host int) netip.Addr {
	return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, byte(link >> 8), byte(link), 15: byte(host)})
}

func ipnet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// configure sets the namespace's sysctls: forwarding and an L4 multipath
// hash on routers, their ICMP rate limit when asked (kernel defaults
// otherwise), no reverse-path filter.
func configure(n *node, router bool) error {
	set := [][2]string{
		{"net/ipv4/conf/all/rp_filter", "0"},
		{"net/ipv4/conf/default/rp_filter", "0"},
	}
	if router {
		set = append(set,
			[2]string{"net/ipv4/ip_forward", "1"},
			[2]string{"net/ipv6/conf/all/forwarding", "1"},
			[2]string{"net/ipv4/fib_multipath_hash_policy", "1"},
			[2]string{"net/ipv6/fib_multipath_hash_policy", "1"})
		if rl := n.spec.RateLimit; rl != 0 {
			ms := strconv.FormatInt(max(rl.Milliseconds(), 0), 10)
			set = append(set,
				[2]string{"net/ipv4/icmp_ratelimit", ms},
				[2]string{"net/ipv6/icmp/ratelimit", ms})
		}
	}
	for _, kv := range set {
		if err := n.ns.SetSysctl(kv[0], kv[1]); err != nil {
			return err
		}
	}
	return nil
}

// addRoutes gives n a route to every subnet it is not on, through every
// neighbour on a shortest path to it (a multipath route when several).
func addRoutes(n *node, all []*node) error {
	dist := distances(n, all)
	// subnets: link index -> the two ends.
	subnets := map[int]*linkEnd{}
	for _, m := range all {
		for _, e := range m.links {
			subnets[e.idx] = e
		}
	}
	mine := map[int]bool{}
	for _, e := range n.links {
		mine[e.idx] = true
	}
	h := n.ns.Netlink()
	for idx, e := range subnets {
		if mine[idx] {
			continue
		}
		d := min(dist[e.node], dist[e.peer.node])
		var via []*linkEnd
		for _, le := range n.links {
			nb := le.peer.node
			if min(distFrom(nb, e.node, all), distFrom(nb, e.peer.node, all)) == d-1 {
				via = append(via, le)
			}
		}
		if len(via) == 0 {
			continue
		}
		for _, v6 := range []bool{false, true} {
			dst := netip.PrefixFrom(e.addrs.V4, 24).Masked()
			if v6 {
				dst = netip.PrefixFrom(e.addrs.V6, 64).Masked()
			}
			r := &netlink.Route{Dst: ipnet(dst)}
			var hops []*netlink.NexthopInfo
			for _, le := range via {
				l, err := h.LinkByName(le.name)
				if err != nil {
					return err
				}
				gw := le.peer.addrs.V4
				if v6 {
					gw = le.peer.addrs.V6
				}
				hops = append(hops, &netlink.NexthopInfo{LinkIndex: l.Attrs().Index, Gw: gw.AsSlice()})
			}
			if len(hops) == 1 {
				r.LinkIndex, r.Gw = hops[0].LinkIndex, hops[0].Gw
			} else {
				r.MultiPath = hops
			}
			if err := h.RouteAdd(r); err != nil {
				return fmt.Errorf("route %s: %w", dst, err)
			}
		}
	}
	return nil
}

// distances is the hop count from n to every node (breadth first).
func distances(n *node, all []*node) map[*node]int {
	d := map[*node]int{n: 0}
	queue := []*node{n}
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		for _, e := range c.links {
			nb := e.peer.node
			if _, seen := d[nb]; !seen {
				d[nb] = d[c] + 1
				queue = append(queue, nb)
			}
		}
	}
	for _, m := range all {
		if _, ok := d[m]; !ok {
			d[m] = 1 << 20
		}
	}
	return d
}

func distFrom(a, b *node, all []*node) int { return distances(a, all)[b] }

// impairKnobs applies a router's silence, prohibition and relay.
func impairKnobs(t testing.TB, n *node, r *Router, target *linkEnd) error {
	h := n.ns.Netlink()
	prio := 10
	if n.spec.Silent {
		for _, fam := range []struct{ family, proto int }{{unix.AF_INET, unix.IPPROTO_ICMP}, {unix.AF_INET6, unix.IPPROTO_ICMPV6}} {
			rule := netlink.NewRule()
			rule.Family, rule.Priority, rule.IifName, rule.IPProto = fam.family, prio, "lo", fam.proto
			rule.Type = unix.FR_ACT_BLACKHOLE
			if err := h.RuleAdd(rule); err != nil {
				return fmt.Errorf("silence rule: %w", err)
			}
		}
	}
	if n.spec.Prohibit {
		for _, dst := range []netip.Prefix{netip.PrefixFrom(target.addrs.V4, 24).Masked(), netip.PrefixFrom(target.addrs.V6, 64).Masked()} {
			rule := netlink.NewRule()
			rule.Family, rule.Priority, rule.Dst = unix.AF_INET, prio+1, ipnet(dst)
			if dst.Addr().Is6() {
				rule.Family = unix.AF_INET6
			}
			rule.Type = unix.FR_ACT_PROHIBIT
			if err := h.RuleAdd(rule); err != nil {
				return fmt.Errorf("prohibit rule: %w", err)
			}
		}
	}
	if p := n.spec.DropForward; p > 0 {
		if err := dropForward(n.ns, p); err != nil {
			return err
		}
	}
	if n.spec.Impair.active() {
		var ifaces []string
		for _, e := range n.links {
			ifaces = append(ifaces, e.name)
		}
		relay, err := startRelay(n.ns, ifaces, n.spec.Impair)
		if err != nil {
			return err
		}
		t.Cleanup(func() { relay.Close() })
		r.Relay = relay
	}
	n.r = r
	return nil
}

// dropComment names the nftables rule of DropForward.
const dropComment = "netlab forward drop"

// dropForward installs an nftables table in ns that drops share p of the
// forwarded packets at random (numgen random), in both directions.
func dropForward(ns *NS, p float64) error {
	return ns.NFT(fmt.Sprintf("table inet netlab_drop {\n chain forward {\n  type filter hook forward priority 0; policy accept;\n"+
		"  numgen random mod 10000 < %d counter drop comment %q\n }\n}\n", int(p*10000+0.5), dropComment))
}

// DroppedForward counts the packets the router's DropForward rule dropped.
func (r *Router) DroppedForward() (uint64, error) {
	return r.NS.NFTRuleCounter(dropComment)
}

// ProberAlias adds the i-th extra IPv4 address (i from 1) to the
// prober's link and returns it. Routers keep one ICMP rate-limit bucket
// per prober address (one token a second for IPv4), so tests that trace
// many times over one path, and are not about rate limiting, trace from
// an address of their own.
func (p *Path) ProberAlias(t testing.TB, i int) netip.Addr {
	t.Helper()
	if i < 1 || i > 200 {
		t.Fatalf("netlab: prober alias %d out of range 1-200", i)
	}
	a := netip.AddrFrom4([4]byte{198, 18, 1, byte(10 + i)})
	h := p.Prober.Netlink()
	l, err := h.LinkByName(p.ProberIface)
	if err != nil {
		t.Fatalf("netlab: %v", err)
	}
	if err := h.AddrAdd(l, &netlink.Addr{IPNet: ipnet(netip.PrefixFrom(a, 24))}); err != nil {
		t.Fatalf("netlab: add %s: %v", a, err)
	}
	// Permanent neighbour entries on the first routers, as NewPath
	// makes for every address: no resolution delays the first answers.
	for _, r := range p.Hops[0] {
		rh := r.NS.Netlink()
		rl, err := rh.LinkByName(r.Links[0])
		if err != nil {
			t.Fatalf("netlab: %v", err)
		}
		n := &netlink.Neigh{LinkIndex: rl.Attrs().Index, Family: unix.AF_INET, State: netlink.NUD_PERMANENT,
			IP: a.AsSlice(), HardwareAddr: l.Attrs().HardwareAddr}
		if err := rh.NeighSet(n); err != nil {
			t.Fatalf("netlab: neighbour %s in %s: %v", a, r.NS.Name, err)
		}
	}
	return a
}
