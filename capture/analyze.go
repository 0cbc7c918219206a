package capture

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/netdx/netdx/capture/decode"
)

// maxKeptEvicted bounds the evicted flows kept for the flow list.
const maxKeptEvicted = 1024

// maxTunnels bounds the tunnel table; packets of further tunnels still
// count in their flows but not per tunnel.
const maxTunnels = 4096

// Analyze reads a pcap or pcapng stream (optionally gzip-compressed) to
// its end and measures every TCP flow and tunnel in it.
//
// It returns a nil Result only when the stream is unreadable from the
// start (an *InputError of kind ErrFormat). When reading stops early —
// a damaged record (ErrDamaged), a stream cut short (ErrCutShort), or ctx
// done — it returns the partial Result with the error.
func Analyze(ctx context.Context, r io.Reader, o Options) (*Result, error) {
	if o.Name == "" {
		o.Name = "capture"
	}
	// A ctx done before the start does not interrupt the reads: the file
	// header is read, and the loop below stops at the first record with
	// an empty result rather than none.
	rctx := ctx
	if ctx.Err() != nil {
		rctx = context.Background()
	}
	src, err := openSource(rctx, r, o.Name, o.RegularFile)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	defer src.close()
	a := newAnalyzer(o, src)
	var stop error
	for {
		if a.res.Packets&0x3fff == 0 && ctx.Err() != nil {
			stop = ctx.Err()
			break
		}
		data, err := src.next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				stop = err
			}
			break
		}
		i := &src.info
		a.packet(data, i.caplen, i.wire, i.at, i.ifIndex, i.lt)
	}
	return a.finish(stop), stop
}

type analyzer struct {
	o   Options
	src *source
	dec *decode.Decoder
	res Result

	flows *flowTable
	// inner indexes the newest flow of each inner 5-tuple (flowKey with
	// ctx 0), for pair; nil until a packet of a new flow comes in a second
	// encapsulation context (until then there is nothing to pair).
	inner    map[flowKey]*flow
	maxFlows int
	last     *flow // the previous packet's flow: consecutive packets often share one
	lastKey  flowKey
	kept     []*Flow // evicted flows worth listing
	free     []*flow // evicted TCP flows, for reuse
	// rtxBudget is what is left of maxRtxExtra: the retransmission-log
	// records the flows may still add beyond their first minRtxRecs.
	rtxBudget int
	lasts     []int64 // evict's scratch space
	totals    Totals
	// anomalyFlows and undecidedFlows count the flows with sequence
	// anomalies and with undecided segments, for the warnings.
	anomalyFlows, undecidedFlows uint64

	ctxIndex map[ctxKey]uint32
	ctxs     []*ctxNode // index 0 is the root: no encapsulation
	tunnels  []*tunnelState

	undecoded  map[decode.Fault]tally
	badOptions tally // TCP segments with malformed options
	linkFaults map[layers.LinkType]string
	ifPackets  []uint64
	warned     map[string]bool

	firstNS, lastNS int64
}

func newAnalyzer(o Options, src *source) *analyzer {
	a := &analyzer{
		o:   o,
		src: src,
		dec: decode.New(decode.Config{VXLANPorts: o.VXLANPorts, GenevePorts: o.GenevePorts,
			WireGuardPorts: o.WireGuardPorts, ESPPorts: o.ESPPorts}),
		flows:      newFlowTable(),
		maxFlows:   o.MaxFlows,
		rtxBudget:  maxRtxExtra,
		ctxIndex:   map[ctxKey]uint32{},
		ctxs:       []*ctxNode{{}},
		undecoded:  map[decode.Fault]tally{},
		linkFaults: map[layers.LinkType]string{},
		warned:     map[string]bool{},
	}
	if a.maxFlows <= 0 {
		a.maxFlows = DefaultMaxFlows
	}
	a.res.Name, a.res.Format, a.res.Gzip, a.res.NanoTimestamps = o.Name, src.format, src.gzip, src.nano
	return a
}

// unsupported names an unsupported link type, once per type.
func (a *analyzer) unsupported(lt layers.LinkType) string {
	if r, ok := a.linkFaults[lt]; ok {
		return r
	}
	r := "unsupported link type " + linkName(lt)
	a.linkFaults[lt] = r
	return r
}

// warn adds a warning once per key.
func (a *analyzer) warn(key, msg string) {
	if a.warned[key] {
		return
	}
	a.warned[key] = true
	a.res.Warnings = append(a.res.Warnings, msg)
}

func (a *analyzer) packet(data []byte, caplen, wire int, at int64, ifIndex int, lt layers.LinkType) {
	res := &a.res
	res.Packets++
	res.Bytes += uint64(wire)
	res.CapturedBytes += uint64(caplen)
	if ifIndex >= 0 && ifIndex < 1<<16 {
		for len(a.ifPackets) <= ifIndex {
			a.ifPackets = append(a.ifPackets, 0)
		}
		a.ifPackets[ifIndex]++
	}
	if a.firstNS == 0 || at < a.firstNS {
		a.firstNS = at
	}
	a.lastNS = max(a.lastNS, at)
	if wire < caplen {
		a.warn("wire<cap", "record "+strconv.FormatUint(a.src.record, 10)+" (byte offset "+strconv.FormatUint(uint64(a.src.start), 10)+
			") has a captured length above its original length; the captured length is used")
		wire = caplen
	}
	if wire > caplen {
		res.SnapTruncated++
	}
	if !decode.Supported(lt) {
		a.fault(decode.Fault{Layer: "link", Reason: a.unsupported(lt)})
		return
	}
	p := a.dec.Decode(lt, data, wire)
	if p.Overlong {
		res.Overlong++
		a.warn("overlong", "some frames are shorter than their IP headers say although the capture records them as whole: the capture tool trimmed them; netdx used the IP lengths (see overlong_packets)")
	}
	if p.Fault.Reason != "" {
		a.fault(p.Fault)
	}
	switch p.Top {
	case decode.TopNone:
		if p.Fault.Reason == "" || p.Fault.Reason == "not IP" {
			res.NonIPPackets++
		}
		return
	case decode.TopIP:
		if p.Fragment {
			res.Fragments++
		} else if p.Fault.Reason == "" {
			res.OtherIPPackets++
		}
		return
	}
	if !a.match(p) {
		res.Filtered++
		return
	}
	switch p.Top {
	case decode.TopTCP:
		res.TCPPackets++
		if p.TCP.OptionsBad {
			a.badOptions.add(a.here())
		}
	case decode.TopUDP:
		res.UDPPackets++
	}
	node := a.context(p, at, wire)
	switch p.Top {
	case decode.TopWireGuard, decode.TopESP:
		a.counterTunnel(node, p, at, wire)
	case decode.TopTCP, decode.TopUDP:
		a.flowPacket(node, p, at, wire)
	}
}

// position is a record's number and byte offset.
type position struct {
	record uint64
	offset int64
}

func (a *analyzer) here() position { return position{a.src.record, a.src.start} }

func (p position) String() string {
	return "record " + strconv.FormatUint(p.record, 10) + " (byte offset " + strconv.FormatUint(uint64(p.offset), 10) + ")"
}

// tally counts packets of one kind and remembers where the first was.
type tally struct {
	n     uint64
	first position
}

func (t *tally) add(at position) {
	if t.n == 0 {
		t.first = at
	}
	t.n++
}

// fault counts a packet decoding stopped short on.
func (a *analyzer) fault(f decode.Fault) {
	t := a.undecoded[f]
	t.add(a.here())
	a.undecoded[f] = t
}

// faultTally is one reason packets were not decoded, with its tally.
type faultTally struct {
	reason string
	tally
}

// maxFaultWarnings bounds the warnings that say where undecoded packets
// are, one per reason, most frequent first.
const maxFaultWarnings = 8

// faultWarnings says, per reason, how many packets were not decoded and
// where the first one is, so the user can look at it (Wireshark's "go to
// packet" takes the record number).
func (a *analyzer) faultWarnings(faults []faultTally) {
	for i, x := range faults {
		if i == maxFaultWarnings {
			a.res.Warnings = append(a.res.Warnings, strconv.FormatUint(uint64(len(faults)-i), 10)+" more reasons for undecoded packets: see undecoded")
			break
		}
		a.res.Warnings = append(a.res.Warnings, strconv.FormatUint(x.n, 10)+" packet(s) not decoded ("+x.reason+"), the first at "+
			x.first.String()+"; they are left out of the analysis")
	}
	if a.badOptions.n > 0 {
		a.res.Warnings = append(a.res.Warnings, strconv.FormatUint(a.badOptions.n, 10)+" TCP segment(s) had malformed options (length 0 or 1, or running past the header), the first at "+
			a.badOptions.first.String()+"; their options were ignored and the segments analysed")
	}
}

// match applies the filter.
func (a *analyzer) match(p *decode.Packet) bool {
	f := &a.o.Filter
	if len(f.Hosts) > 0 && !a.matchHost(p) {
		return false
	}
	if len(f.Ports) > 0 && !slices.Contains(f.Ports, p.SrcPort) && !slices.Contains(f.Ports, p.DstPort) {
		return false
	}
	if len(f.Flows) > 0 {
		if p.Top != decode.TopTCP && p.Top != decode.TopUDP {
			return false
		}
		src := netip.AddrPortFrom(p.SrcAddr(), p.SrcPort)
		dst := netip.AddrPortFrom(p.DstAddr(), p.DstPort)
		ok := false
		for _, fs := range f.Flows {
			if fs.A == src && fs.B == dst || fs.A == dst && fs.B == src {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func (a *analyzer) matchHost(p *decode.Packet) bool {
	for _, h := range a.o.Filter.Hosts {
		if p.SrcAddr() == h || p.DstAddr() == h {
			return true
		}
		for i := range p.NLayers {
			l := &p.Layers[i]
			if l.Kind.IsTunnel() && (l.SrcAddr() == h || l.DstAddr() == h) {
				return true
			}
		}
	}
	return false
}

// ctxKey identifies one encapsulation inside its parent: a VLAN, an MPLS
// stack, a tunnel between two outer addresses (in canonical order so both
// directions share it).
type ctxKey struct {
	parent uint32
	kind   uint8
	hasID  bool
	ver    uint8
	id     uint32
	a, b   [16]byte
}

// Context kinds beyond decode's: tunnels whose payload is encrypted.
const (
	kindWireGuard = 100 + iota
	kindESP
)

type ctxNode struct {
	parent *ctxNode
	index  uint32
	layer  decode.Layer // as first seen
	kind   uint8
	tunnel *tunnelState
	// route fingerprints the tunnels of the stack (kind, ID, outer
	// addresses), leaving out VLAN, MPLS and PPPoE layers: two contexts
	// with the same route differ only in those.
	route uint64
}

// context interns the packet's encapsulation stack and returns its node.
func (a *analyzer) context(p *decode.Packet, at int64, wire int) *ctxNode {
	node := a.ctxs[0]
	for i := range p.NLayers {
		l := &p.Layers[i]
		k := ctxKey{parent: node.index, kind: uint8(l.Kind)}
		switch {
		case l.Kind == decode.MPLS: // labels change hop by hop: one node per stack
		case l.Kind.IsTunnel():
			k.hasID, k.id, k.ver = l.HasID, l.ID, l.Version
			k.a, k.b = canon(l.Src, l.Dst)
		default:
			k.hasID, k.id = l.HasID, l.ID
		}
		node = a.intern(k, l, node)
		if t := node.tunnel; t != nil {
			t.outer(l, at, wire)
		}
	}
	if p.Top == decode.TopWireGuard || p.Top == decode.TopESP {
		k := ctxKey{parent: node.index, kind: kindWireGuard, ver: p.Version}
		if p.Top == decode.TopESP {
			k.kind = kindESP
		}
		k.a, k.b = canon(p.Src, p.Dst)
		l := decode.Layer{Version: p.Version, Src: p.Src, Dst: p.Dst, IPID: p.IPID, HasIPID: p.Version == 4}
		node = a.intern(k, &l, node)
		if t := node.tunnel; t != nil {
			t.outer(&l, at, wire)
		}
	}
	return node
}

func canon(x, y [16]byte) ([16]byte, [16]byte) {
	if string(x[:]) > string(y[:]) {
		return y, x
	}
	return x, y
}

func (a *analyzer) intern(k ctxKey, l *decode.Layer, parent *ctxNode) *ctxNode {
	if i, ok := a.ctxIndex[k]; ok {
		return a.ctxs[i]
	}
	n := &ctxNode{parent: parent, index: uint32(len(a.ctxs)), layer: *l, kind: k.kind, route: parent.route}
	if k.kind >= kindWireGuard || decode.Kind(k.kind).IsTunnel() {
		h := (n.route ^ uint64(k.kind)<<40 ^ uint64(k.id)) * 0x9e3779b97f4a7c15
		for i := 0; i < 16; i += 8 {
			h = (h ^ binary.LittleEndian.Uint64(k.a[i:]) ^ binary.LittleEndian.Uint64(k.b[i:])<<1) * 0xc2b2ae3d27d4eb4f
		}
		n.route = h | 1
	}
	if (k.kind >= kindWireGuard || decode.Kind(k.kind).IsTunnel()) && len(a.tunnels) < maxTunnels {
		n.tunnel = newTunnel(n, len(a.tunnels))
		a.tunnels = append(a.tunnels, n.tunnel)
	} else if k.kind >= kindWireGuard || decode.Kind(k.kind).IsTunnel() {
		a.warn("tunnels", "more than "+strconv.FormatUint(maxTunnels, 10)+" tunnels: further tunnels are not measured per tunnel")
	}
	a.ctxIndex[k] = n.index
	a.ctxs = append(a.ctxs, n)
	return n
}

// flowKey identifies a flow: its encapsulation context and the inner
// 5-tuple with the endpoints in canonical order.
type flowKey struct {
	ctx   uint32
	proto uint8
	ver   uint8
	port  [2]uint16
	addr  [2][16]byte
}

type flow struct {
	key  flowKey
	node *ctxNode
	// paths are the other encapsulations the flow was seen in (the two
	// directions of an ERSPAN session under different GRE keys, a
	// connection moving between a direct path and a tunnel), with their
	// keys in the flow table.
	paths    []*ctxNode
	pathKeys []flowKey
	// client is the key endpoint (0 or 1) that opened the flow or, without
	// a handshake, sent first.
	client    uint8
	clientSet bool // set by a SYN
	first     int64
	last      int64
	tcp       *tcpFlow
	udp       [2]struct{ packets, bytes uint64 }
	closed    bool
}

// keyAt is one of the flow's keys in the flow table: its own for path -1,
// that of another encapsulation (pathKeys) otherwise.
func (f *flow) keyAt(path int32) *flowKey {
	if path < 0 {
		return &f.key
	}
	return &f.pathKeys[path]
}

func (a *analyzer) flowPacket(node *ctxNode, p *decode.Packet, at int64, wire int) {
	k := flowKey{ctx: node.index, proto: p.Proto, ver: p.Version}
	ep := uint8(0)
	if c := compareEndpoint(&p.Src, p.SrcPort, &p.Dst, p.DstPort); c <= 0 {
		k.addr[0], k.addr[1], k.port[0], k.port[1] = p.Src, p.Dst, p.SrcPort, p.DstPort
	} else {
		k.addr[0], k.addr[1], k.port[0], k.port[1] = p.Dst, p.Src, p.DstPort, p.SrcPort
		ep = 1
	}
	f := a.last
	if f == nil || !a.lastKey.equal(&k) {
		f = a.flows.get(&k)
		if f == nil {
			f = a.pair(k, node, p, ep, at)
		}
		if f == nil {
			f = a.newFlow(k, node, ep, at)
		}
		a.last, a.lastKey = f, k
	}
	if p.Top == decode.TopUDP {
		f.last = max(f.last, at)
		f.udp[ep].packets++
		f.udp[ep].bytes += uint64(wire)
		return
	}
	if p.TCP.Flags&decode.SYN != 0 && f.tcp.newConnection(ep, p) {
		f = a.replace(f, k, node, ep, at)
	}
	f.last = max(f.last, at)
	f.tcpPacket(a, ep, p, at, wire)
}

// pairWindow is how near the sequence and acknowledgement numbers of a
// packet in another encapsulation must be to a flow's for the packet to
// belong to it: 16 MiB either way, so two connections of one 5-tuple in
// two tenants' tunnels (random ISNs) almost never pair.
const pairWindow = 1 << 24

// pairIdle is how recent a UDP flow must be for the other direction, in
// another encapsulation, to pair with it.
const pairIdle = int64(time.Minute)

// pair finds the live flow a packet in a new encapsulation belongs to:
// the same inner 5-tuple seen in a context whose tunnels differ (another
// GRE key or ERSPAN session, a tunnel instead of the direct path, another
// VNI), or in a context that differs only in VLAN tags, MPLS labels or
// PPPoE sessions when the flow has not seen this direction yet (each
// direction mirrored on its own VLAN). Copies of one direction on two
// VLANs stay two flows. A TCP packet pairs when its sequence and
// acknowledgement numbers lie near the flow's; a UDP packet when the flow
// has seen only the other direction, recently.
func (a *analyzer) pair(k flowKey, node *ctxNode, p *decode.Packet, ep uint8, at int64) *flow {
	if a.inner == nil {
		if len(a.ctxs) == 1 {
			return nil // one context: nothing to pair with
		}
		a.inner = make(map[flowKey]*flow, a.flows.Len())
		for fk, x := range a.flows.all() {
			if *fk == x.key {
				a.index(x)
			}
		}
	}
	ik := k
	ik.ctx = 0
	f := a.inner[ik]
	if f == nil || f.closed || f.node.route == node.route && f.sent(ep) || !f.sameConnection(ep, p, at) {
		return nil
	}
	f.paths = append(f.paths, node)
	f.pathKeys = append(f.pathKeys, k)
	a.flows.put(f, int32(len(f.pathKeys)-1))
	if t := node.innerTunnel(); t != nil && t != f.node.innerTunnel() {
		t.out.Flows++
	}
	return f
}

// index makes f the flow pair finds for its inner 5-tuple.
func (a *analyzer) index(f *flow) {
	ik := f.key
	ik.ctx = 0
	a.inner[ik] = f
}

// sent says endpoint ep sent packets in this flow.
func (f *flow) sent(ep uint8) bool {
	if f.tcp == nil {
		return f.udp[ep].packets > 0
	}
	return f.tcp.d[ep].st.Packets+f.tcp.d[ep].st.Duplicates > 0
}

// sameConnection says packet p from endpoint ep, seen in another
// encapsulation, belongs to this flow (see pair).
func (f *flow) sameConnection(ep uint8, p *decode.Packet, at int64) bool {
	if f.tcp == nil {
		return p.Top == decode.TopUDP && f.udp[ep].packets == 0 && at-f.last <= pairIdle
	}
	if p.Top != decode.TopTCP {
		return false
	}
	t := f.tcp
	d, r := &t.d[ep], &t.d[1-ep]
	near := func(x, y uint32) bool { v := int32(x - y); return v > -pairWindow && v < pairWindow }
	checks := 0
	if d.init {
		if !near(p.TCP.Seq, d.hiRaw) {
			return false
		}
		checks++
	}
	if p.TCP.Flags&decode.ACK != 0 && r.init {
		if !near(p.TCP.Ack, r.hiRaw) {
			return false
		}
		checks++
	}
	return checks > 0
}

// equal is k == *o, compared a word at a time.
func (k *flowKey) equal(o *flowKey) bool {
	le := binary.LittleEndian
	for i := range k.addr {
		if le.Uint64(k.addr[i][:8]) != le.Uint64(o.addr[i][:8]) || le.Uint64(k.addr[i][8:]) != le.Uint64(o.addr[i][8:]) {
			return false
		}
	}
	return k.port == o.port && k.ctx == o.ctx && k.proto == o.proto && k.ver == o.ver
}

func compareEndpoint(a *[16]byte, ap uint16, b *[16]byte, bp uint16) int {
	if c := compareAddr(a, b); c != 0 {
		return c
	}
	switch {
	case ap < bp:
		return -1
	case ap > bp:
		return 1
	}
	return 0
}

func compareAddr(a, b *[16]byte) int {
	for i := range a {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

func (a *analyzer) newFlow(k flowKey, node *ctxNode, ep uint8, at int64) *flow {
	if a.flows.Len() >= a.maxFlows {
		a.evict()
	}
	var f *flow
	switch {
	case k.proto != 6:
		f = &flow{}
	case len(a.free) > 0:
		f = a.free[len(a.free)-1]
		a.free = a.free[:len(a.free)-1]
		f.reset()
	default:
		f = newTCPFlow()
	}
	f.key, f.node, f.client, f.first, f.last = k, node, ep, at, at
	if f.tcp != nil {
		f.tcp.rtxBudget = &a.rtxBudget
		if len(a.o.Record) > 0 {
			a.recording(f)
		}
	}
	a.flows.put(f, -1)
	if a.inner != nil {
		a.index(f)
	}
	a.res.FlowsSeen++
	if t := node.innerTunnel(); t != nil {
		t.out.Flows++
	}
	return f
}

// innerTunnel is the innermost tunnel around a context.
func (n *ctxNode) innerTunnel() *tunnelState {
	for x := n; x != nil; x = x.parent {
		if x.tunnel != nil {
			return x.tunnel
		}
	}
	return nil
}

// evict makes room in a full flow table: closed flows go first, then the
// idlest eighth. Their counts move to the totals; the worst are kept for
// the flow list.
func (a *analyzer) evict() {
	lasts := a.lasts[:0]
	for k, f := range a.flows.all() {
		if !f.closed && *k == f.key {
			lasts = append(lasts, f.last)
		}
	}
	a.lasts = lasts
	cut := int64(-1 << 63)
	if n := a.flows.Len() / 8; a.flows.Len()-len(lasts) < n && len(lasts) > 0 {
		slices.Sort(lasts)
		cut = lasts[min(n-(a.flows.Len()-len(lasts)), len(lasts)-1)]
	}
	victims := a.tableFlows(func(f *flow) bool { return f.closed || f.last <= cut })
	for _, f := range victims {
		a.retire(f, retireEvicted)
		if f.tcp != nil && len(a.free) < a.maxFlows/4 {
			a.free = append(a.free, f)
		}
	}
	n := uint64(len(victims))
	a.last = nil
	a.res.FlowsEvicted += n
}

// tableFlows lists the flows in the table that keep, once each (not per
// path), in the order of their first packets: the order they retire in
// decides the order of their warnings and of equal flows in the list,
// which must not follow the table's.
func (a *analyzer) tableFlows(keep func(*flow) bool) []*flow {
	var out []*flow
	for k, f := range a.flows.all() {
		if *k == f.key && keep(f) { // another path of a flow goes with it
			out = append(out, f)
		}
	}
	slices.SortFunc(out, func(x, y *flow) int { return cmp.Or(cmp.Compare(x.first, y.first), x.key.compare(&y.key)) })
	return out
}

func (k *flowKey) compare(o *flowKey) int {
	return cmp.Or(cmp.Compare(k.ctx, o.ctx), cmp.Compare(k.proto, o.proto), cmp.Compare(k.ver, o.ver),
		compareEndpoint(&k.addr[0], k.port[0], &o.addr[0], o.port[0]), compareEndpoint(&k.addr[1], k.port[1], &o.addr[1], o.port[1]))
}

// replace ends flow f because a packet starts a new connection on its
// 4-tuple, and returns the new flow in its place.
func (a *analyzer) replace(f *flow, k flowKey, node *ctxNode, ep uint8, at int64) *flow {
	a.retire(f, retireReplaced)
	nf := a.newFlow(k, node, ep, at)
	a.last, a.lastKey = nf, k
	return nf
}

// Why a flow leaves the table.
const (
	retireEnd      = iota // the end of the capture
	retireEvicted         // pushed out of a full table
	retireReplaced        // a new connection on its 4-tuple
)

// retire finishes a flow and takes it out of the table: its counts go
// into the totals and its tunnel. A flow replaced by a new connection is
// kept for the list; one evicted only when it had problems.
func (a *analyzer) retire(f *flow, why int) {
	a.flows.remove(f)
	ik := f.key
	ik.ctx = 0
	if a.inner != nil && a.inner[ik] == f {
		delete(a.inner, ik)
	}
	if a.last == f {
		a.last = nil
	}
	f.finalize()
	if f.tcp != nil {
		a.totals.TCPFlows++
		for i := range f.tcp.d {
			a.totals.TCP.add(&f.tcp.d[i].st)
			if l := f.tcp.d[i].rtx; l != nil {
				a.rtxBudget += l.extra()
			}
		}
		if t := f.node.innerTunnel(); t != nil {
			for i := range f.tcp.d {
				t.out.Inner.add(&f.tcp.d[i].st)
			}
		}
		a.flowWarnings(f)
		if f.tcp.d[0].rec != nil {
			a.recorded(f)
		}
	} else {
		a.totals.UDPFlows++
	}
	if why == retireReplaced || why == retireEvicted && f.score() > 0 {
		out := f.result()
		out.Evicted = why == retireEvicted
		a.kept = append(a.kept, out)
		if len(a.kept) > 2*maxKeptEvicted {
			sortFlows(a.kept)
			a.kept = a.kept[:maxKeptEvicted]
		}
	}
}

// maxFlowWarnings bounds the flows named in warnings, per kind.
const maxFlowWarnings = 8

// flowWarnings names a flow whose counts the capture could not fully
// support: sequence anomalies (where the first was), and hole fillers
// nothing decided.
func (a *analyzer) flowWarnings(f *flow) {
	t := f.tcp
	name := func() string {
		return "tcp " + f.endpoint(f.client).String() + " > " + f.endpoint(1-f.client).String() + ": "
	}
	if n := t.d[0].st.Anomalies + t.d[1].st.Anomalies; n > 0 {
		if a.anomalyFlows++; a.anomalyFlows <= maxFlowWarnings {
			a.res.Warnings = append(a.res.Warnings, name()+strconv.FormatUint(n, 10)+" sequence anomalies (a sequence or acknowledgement number "+
				"jumped beyond any window or stood alone; the first at "+t.firstAnomaly.String()+"): damaged or crafted packets, "+
				"or a stretch the capture missed; they are left out of the counts (see sequence_anomalies)")
		}
	}
	if n := t.d[0].st.Decided.Undecided + t.d[1].st.Decided.Undecided; n > 0 {
		if a.undecidedFlows++; a.undecidedFlows <= maxFlowWarnings {
			a.res.Warnings = append(a.res.Warnings, name()+"undecided: "+strconv.FormatUint(n, 10)+" segments filled a gap with nothing to tell "+
				"a late original from a retransmission (no TCP timestamps, IPv4 IDs absent, 0 or random, no round trip): "+
				"counted neither as reordered nor as retransmitted (see hole_decisions.undecided)")
		}
	}
}

func (a *analyzer) finish(stop error) *Result {
	res := &a.res
	res.Complete = stop == nil
	if a.firstNS != 0 {
		res.First, res.Last = time.Unix(0, a.firstNS).UTC(), time.Unix(0, a.lastNS).UTC()
	}
	// Rank the flows still in the table on their own counters and build
	// reports only for those listed: a table of a million clean flows
	// must not be copied whole.
	live := a.tableFlows(func(*flow) bool { return true })
	for _, f := range live {
		a.retire(f, retireEnd)
	}
	a.last = nil
	if a.anomalyFlows > maxFlowWarnings {
		res.Warnings = append(res.Warnings, strconv.FormatUint(a.anomalyFlows-maxFlowWarnings, 10)+" more flows had sequence anomalies: see sequence_anomalies")
	}
	if a.undecidedFlows > maxFlowWarnings {
		res.Warnings = append(res.Warnings, strconv.FormatUint(a.undecidedFlows-maxFlowWarnings, 10)+" more flows had undecided segments: see hole_decisions.undecided")
	}
	sort.SliceStable(live, func(i, j int) bool {
		si, sj := live[i].score(), live[j].score()
		if si != sj {
			return si > sj
		}
		if pi, pj := live[i].packets(), live[j].packets(); pi != pj {
			return pi > pj
		}
		return live[i].first < live[j].first
	})
	limit := a.o.ListFlows
	if limit <= 0 {
		limit = DefaultListFlows
	}
	flows := make([]*Flow, 0, min(len(live), limit)+len(a.kept))
	for _, f := range live[:min(len(live), limit)] {
		flows = append(flows, f.result())
	}
	flows = append(flows, a.kept...)
	sortFlows(flows)
	res.Flows = flows[:min(len(flows), limit)]
	res.Totals = a.totals
	sortRecorded(res.Recorded)
	for _, t := range a.tunnels {
		res.Tunnels = append(res.Tunnels, t.result())
	}
	if r := res.Totals.TCP.Reorder; r != nil {
		res.Totals.Reorder = *r
	}
	faults := make([]faultTally, 0, len(a.undecoded))
	for f, t := range a.undecoded {
		faults = append(faults, faultTally{f.String(), t})
	}
	sort.Slice(faults, func(i, j int) bool {
		if faults[i].n != faults[j].n {
			return faults[i].n > faults[j].n
		}
		return faults[i].reason < faults[j].reason
	})
	for _, x := range faults {
		res.Undecoded = append(res.Undecoded, Count{Reason: x.reason, Packets: x.n})
	}
	if res.FlowsEvicted > 0 {
		res.Warnings = append(res.Warnings, strconv.FormatUint(res.FlowsEvicted, 10)+" of "+strconv.FormatUint(res.FlowsSeen, 10)+
			" flows were evicted: the flow table reached its limit of "+strconv.FormatUint(uint64(a.maxFlows), 10)+
			" flows, so the idlest were pushed out; their counts are in the totals and the worst of them in the flow list (raise --max-flows to keep them all)")
	}
	a.faultWarnings(faults)
	res.Interfaces = a.src.interfaces(a.ifPackets)
	for _, intf := range res.Interfaces {
		if !intf.Supported {
			a.warn("link"+intf.LinkType, "interface "+strconv.FormatUint(uint64(intf.Index), 10)+" ("+intf.Name+") has link type "+
				intf.LinkType+", which netdx does not decode; its packets are counted as undecoded")
		}
	}
	if stop != nil {
		a.res.Warnings = append(a.res.Warnings, stopWarning(stop))
	}
	return res
}

func stopWarning(err error) string {
	msg := err.Error()
	var ie *InputError
	if errors.As(err, &ie) {
		msg = ie.Position() // the report prefixes warnings with the name
	}
	switch {
	case errors.Is(err, ErrCutShort):
		return msg + ": the capture was cut short (the capturing process was killed or the disk filled); the analysis covers the records before it"
	case errors.Is(err, ErrDamaged):
		return msg + ": reading stopped there; the analysis covers the records before it"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return "the analysis was stopped before the end of the capture; it covers the records read so far"
	}
	return err.Error()
}

// sortFlows orders flows worst first, then by packets, then by first
// packet, so the order is stable.
func sortFlows(fs []*Flow) {
	sort.SliceStable(fs, func(i, j int) bool {
		si, sj := fs[i].Score(), fs[j].Score()
		if si != sj {
			return si > sj
		}
		pi, pj := fs[i].Packets(), fs[j].Packets()
		if pi != pj {
			return pi > pj
		}
		if !fs[i].First.Equal(fs[j].First) {
			return fs[i].First.Before(fs[j].First)
		}
		return fs[i].Client.String() < fs[j].Client.String()
	})
}

// Packets counts the flow's packets in both directions.
func (f *Flow) Packets() uint64 { return f.Dir[0].Packets + f.Dir[1].Packets }

// Score ranks flows for the worst-first list: the share of segments that
// were retransmitted, reordered or lost, with 10 added to the denominator
// so a flow of three packets does not outrank one of a million.
func (f *Flow) Score() float64 { return score(&f.Dir[0], &f.Dir[1]) }

func score(a, b *Direction) float64 {
	var bad, segs uint64
	for _, d := range [2]*Direction{a, b} {
		bad += d.Retransmission.Packets + d.LostSegments
		if d.Reorder != nil {
			bad += d.Reorder.Reordered
		}
		segs += d.Segments
	}
	return float64(bad) / float64(segs+10)
}
