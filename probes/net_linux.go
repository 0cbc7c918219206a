//go:build linux

package probes

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// OpenOptions tune how Open picks sockets.
type OpenOptions struct {
	// Unprivileged skips raw sockets even when the process may open them.
	Unprivileged bool
}

// linuxNet is the Network over Linux sockets. In raw mode one raw ICMP
// socket receives every ICMP error and the matcher keeps what is ours. In
// datagram mode the kernel routes errors to the probe's own socket, which
// reads them from its error queue (IP_RECVERR).
type linuxNet struct {
	cfg  Config
	v6   bool
	kind string
	m    *matcher
	dst  unix.Sockaddr
	size int // payload bytes of ICMP and UDP probes

	sendFd int // the socket probes leave by, -1 for datagram TCP
	fds    []int
	// readers are polled by one goroutine; tcp probes poll on their own.
	readers map[int]func(buf, oob []byte, from unix.Sockaddr, errq bool, at time.Time)

	// netns is the network namespace Open ran in; per-probe sockets are
	// made there even when Send runs on a thread in another one.
	netns        *os.File
	wakeR, wakeW int
	replies      chan Reply
	done         chan struct{}
	closed       atomic.Bool
	wg           sync.WaitGroup
	dropped      atomic.Int64
}

// Open prepares the sockets for tracing cfg.Target with cfg.Method. It
// uses raw sockets when the process may (CAP_NET_RAW); otherwise ICMP
// datagram sockets (when net.ipv4.ping_group_range admits the user), UDP
// sockets reading ICMP errors from their error queue, or one non-blocking
// TCP connect per probe. A *PrivilegeError says none was allowed.
func Open(cfg Config, o OpenOptions) (Network, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	n := &linuxNet{cfg: cfg, v6: cfg.Target.Is6() && !cfg.Target.Is4In6(), sendFd: -1,
		readers: map[int]func([]byte, []byte, unix.Sockaddr, bool, time.Time){},
		replies: make(chan Reply, 1024), done: make(chan struct{})}
	n.dst = sockaddr(cfg.Target, 0)
	src := cfg.Source
	if !src.IsValid() {
		if src, err = routeSource(cfg); err != nil {
			return nil, err
		}
	}
	ipHdr := 20
	if n.v6 {
		ipHdr = 40
	}
	size := cfg.Size
	if size == 0 {
		size = 64
	}
	n.size = max(size-ipHdr-8, 6)

	var b [10]byte
	_, _ = rand.Read(b[:])
	n.m = newMatcher(cfg, src, binary.BigEndian.Uint16(b[0:2]), binary.BigEndian.Uint32(b[2:6]), 0, binary.BigEndian.Uint32(b[6:10]))

	var pipe [2]int
	if err := unix.Pipe2(pipe[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return nil, fmt.Errorf("create wake pipe: %w", err)
	}
	n.wakeR, n.wakeW = pipe[0], pipe[1]
	if n.netns, err = os.Open("/proc/thread-self/ns/net"); err != nil {
		n.netns = nil
	}

	err = errPermission
	if !o.Unprivileged {
		err = n.openRaw()
	}
	if isPermission(err) {
		n.closeFds()
		n.kind = KindDatagram
		err = n.openDatagram()
		if isPermission(err) {
			err = &PrivilegeError{Method: cfg.Method, Err: err}
		}
	} else if err == nil {
		n.kind = KindRaw
	}
	if err != nil {
		n.closeFds()
		unix.Close(n.wakeR)
		unix.Close(n.wakeW)
		return nil, err
	}
	n.wg.Add(1)
	go n.readLoop()
	return n, nil
}

var errPermission = unix.EPERM

func isPermission(err error) bool {
	return errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES)
}

func (n *linuxNet) Kind() string { return n.kind }

func (n *linuxNet) family() int {
	if n.v6 {
		return unix.AF_INET6
	}
	return unix.AF_INET
}

func (n *linuxNet) icmpProto() int {
	if n.v6 {
		return unix.IPPROTO_ICMPV6
	}
	return unix.IPPROTO_ICMP
}

// socket opens a socket with the trace's common options: bound to the
// source address and interface, with the requested TOS.
func (n *linuxNet) socket(typ, proto int, port int) (int, error) {
	fd, err := unix.Socket(n.family(), typ|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, proto)
	if err != nil {
		return -1, err
	}
	if err := n.setup(fd, port); err != nil {
		unix.Close(fd)
		return -1, err
	}
	n.fds = append(n.fds, fd)
	return fd, nil
}

func (n *linuxNet) setup(fd, port int) error {
	if n.cfg.Interface != "" {
		if err := unix.BindToDevice(fd, n.cfg.Interface); err != nil {
			return fmt.Errorf("bind to interface %s: %w", n.cfg.Interface, err)
		}
	}
	if n.cfg.TOS != 0 {
		var err error
		if n.v6 {
			err = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_TCLASS, n.cfg.TOS)
		} else {
			err = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TOS, n.cfg.TOS)
		}
		if err != nil {
			return fmt.Errorf("set TOS: %w", err)
		}
	}
	if n.cfg.Source.IsValid() || port >= 0 {
		addr := n.cfg.Source
		if !addr.IsValid() {
			addr = unspecified(n.v6)
		}
		if err := unix.Bind(fd, sockaddr(addr, max(port, 0))); err != nil {
			return fmt.Errorf("bind to %s: %w", addr, err)
		}
	}
	return nil
}

// recvErr asks the kernel to queue ICMP errors and report the TTL of
// what arrives.
func (n *linuxNet) recvErr(fd int) error {
	// A round's burst of errors must fit in the receive buffer; the
	// forced size needs CAP_NET_ADMIN, the plain one is capped by
	// net.core.rmem_max.
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
	}
	if n.v6 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVERR, 1); err != nil {
			return err
		}
		return unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVHOPLIMIT, 1)
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_RECVERR, 1); err != nil {
		return err
	}
	return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_RECVTTL, 1)
}

func (n *linuxNet) openRaw() error {
	rawICMP, err := n.socket(unix.SOCK_RAW, n.icmpProto(), -1)
	if err != nil {
		return err
	}
	if n.v6 {
		if err := unix.SetsockoptInt(rawICMP, unix.IPPROTO_IPV6, unix.IPV6_RECVHOPLIMIT, 1); err != nil {
			return err
		}
	}
	n.readers[rawICMP] = n.handleRawICMP
	switch n.cfg.Method {
	case ICMP:
		n.sendFd = rawICMP
	case UDP:
		fd, err := n.socket(unix.SOCK_DGRAM, unix.IPPROTO_UDP, 0)
		if err != nil {
			return err
		}
		n.sendFd = fd
		if err := n.learnPort(fd); err != nil {
			return err
		}
	case TCP:
		// A bound TCP socket reserves the source port, so no other
		// socket uses it while the kernel resets our half-open probes.
		res, err := n.socket(unix.SOCK_STREAM, unix.IPPROTO_TCP, 0)
		if err != nil {
			return err
		}
		if err := n.learnPort(res); err != nil {
			return err
		}
		raw, err := n.socket(unix.SOCK_RAW, unix.IPPROTO_TCP, -1)
		if err != nil {
			return err
		}
		if n.v6 {
			if err := unix.SetsockoptInt(raw, unix.IPPROTO_IPV6, unix.IPV6_RECVHOPLIMIT, 1); err != nil {
				return err
			}
		}
		n.sendFd = raw
		n.readers[raw] = n.handleRawTCP
	}
	return nil
}

func (n *linuxNet) openDatagram() error {
	switch n.cfg.Method {
	case ICMP:
		fd, err := n.socket(unix.SOCK_DGRAM, n.icmpProto(), 0)
		if err != nil {
			return err
		}
		if err := n.recvErr(fd); err != nil {
			return err
		}
		// The kernel writes the socket's port as the echo identifier.
		if err := n.learnEchoID(fd); err != nil {
			return err
		}
		n.sendFd = fd
		n.readers[fd] = n.handleDgram
	case UDP:
		fd, err := n.socket(unix.SOCK_DGRAM, unix.IPPROTO_UDP, 0)
		if err != nil {
			return err
		}
		if err := n.recvErr(fd); err != nil {
			return err
		}
		if err := n.learnPort(fd); err != nil {
			return err
		}
		n.sendFd = fd
		n.readers[fd] = n.handleDgram
	case TCP:
		// One socket per probe, opened in Send.
	}
	return nil
}

func (n *linuxNet) learnPort(fd int) error {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return err
	}
	_, port := fromSockaddr(sa)
	n.m.srcPort = uint16(port)
	return nil
}

func (n *linuxNet) learnEchoID(fd int) error {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return err
	}
	_, port := fromSockaddr(sa)
	n.m.echoID = uint16(port)
	return nil
}

func (n *linuxNet) setTTL(fd, ttl int) error {
	if n.v6 {
		return unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, ttl)
	}
	return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TTL, ttl)
}

// Send implements Network.
func (n *linuxNet) Send(_ context.Context, p Probe) error {

	if n.closed.Load() {
		return ErrClosed
	}
	if p.To.IsValid() && n.cfg.Method != ICMP {
		return fmt.Errorf("echo to %s: only ICMP traces send echo witnesses", p.To)
	}
	switch n.cfg.Method {
	case ICMP:
		var typ icmp.Type = ipv4.ICMPTypeEcho
		if n.v6 {
			typ = ipv6.ICMPTypeEchoRequest
		}
		msg := icmp.Message{Type: typ, Body: &icmp.Echo{ID: int(n.m.echoID), Seq: int(p.Seq), Data: n.m.payload(p.Seq, n.size)}}
		b, err := msg.Marshal(nil)
		if err != nil {
			return err
		}
		if p.To.IsValid() {
			return n.sendTo(n.sendFd, p.TTL, b, sockaddr(p.To, 0))
		}
		return n.sendTo(n.sendFd, p.TTL, b, n.dst)
	case UDP:
		dport := n.m.udpDstPort(p.Seq)
		payload := n.m.payload(p.Seq, n.size)
		if n.cfg.Paris {
			d := n.m.udpDatagram(dport, payload)
			n.m.rememberChecksum(binary.BigEndian.Uint16(d[6:8]), p.Seq)
		}
		return n.sendTo(n.sendFd, p.TTL, payload, sockaddr(n.cfg.Target, int(dport)))
	case TCP:
		if n.kind == KindRaw {
			return n.sendTo(n.sendFd, p.TTL, n.m.tcpSYN(p.Seq), n.dst)
		}
		return n.connectProbe(p)
	}
	return fmt.Errorf("unknown method %q", n.cfg.Method)
}

func (n *linuxNet) sendTo(fd, ttl int, b []byte, to unix.Sockaddr) error {
	if err := n.setTTL(fd, ttl); err != nil {
		return fmt.Errorf("set TTL %d: %w", ttl, err)
	}
	err := unix.Sendto(fd, b, 0, to)
	// A datagram socket reports the last ICMP error it received on its
	// next send, and errors keep arriving while probes are in flight:
	// clear the pending one (reading SO_ERROR does) and send again.
	for try := 0; err != nil && n.kind == KindDatagram && try < 8; try++ {
		_, _ = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
		err = unix.Sendto(fd, b, 0, to)
	}
	if err != nil {
		return fmt.Errorf("send to %s: %w", n.cfg.Target, err)
	}
	return nil
}

// connectProbe sends one TCP SYN by starting a non-blocking connect on a
// socket of its own, and waits for its fate in a goroutine.
func (n *linuxNet) connectProbe(p Probe) error {
	fd, err := n.nsSocket(unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.IPPROTO_TCP)
	if err != nil {
		return err
	}
	fail := func(err error) error {
		unix.Close(fd)
		return err
	}
	if err := n.setup(fd, -1); err != nil {
		return fail(err)
	}
	if err := n.recvErr(fd); err != nil {
		return fail(err)
	}
	if err := n.setTTL(fd, p.TTL); err != nil {
		return fail(err)
	}
	// Close with a reset rather than a FIN handshake.
	if err := unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0}); err != nil {
		return fail(err)
	}
	if err := unix.Connect(fd, sockaddr(n.cfg.Target, n.cfg.Port)); err != nil && !errors.Is(err, unix.EINPROGRESS) {
		return fail(fmt.Errorf("connect to %s: %w", n.cfg.Target, err))
	}
	n.wg.Add(1)
	go n.waitConnect(fd, p.Seq)
	return nil
}

func (n *linuxNet) waitConnect(fd int, seq uint16) {
	defer n.wg.Done()
	defer unix.Close(fd)
	deadline := time.Now().Add(n.cfg.Timeout + time.Second)
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}, {Fd: int32(n.wakeR), Events: unix.POLLIN}}
	for time.Now().Before(deadline) {
		_, err := unix.Poll(pfd, int(time.Until(deadline)/time.Millisecond)+1)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return
		}
		if pfd[1].Revents != 0 || n.closed.Load() {
			return
		}
		if pfd[0].Revents == 0 {
			continue
		}
		at := time.Now()
		// An ICMP error is queued before the connection fails.
		buf, oob := make([]byte, 512), make([]byte, 512)
		if nb, noob, _, from, err := unix.Recvmsg(fd, buf, oob, unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT); err == nil {
			if rep, ok := n.errQueueReply(buf[:nb], oob[:noob], from, at); ok {
				rep.Seq = seq
				n.deliver(rep)
			}
			return
		}
		serr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if err != nil {
			return
		}
		rep := Reply{Seq: seq, From: n.cfg.Target, Type: -1, Received: at}
		switch unix.Errno(serr) {
		case 0:
			rep.Kind = KindTCPSynAck
		case unix.ECONNREFUSED:
			rep.Kind = KindTCPReset
		default:
			return
		}
		n.deliver(rep)
		return
	}
}

func (n *linuxNet) deliver(rep Reply) {
	select {
	case n.replies <- rep:
	default:
		n.dropped.Add(1)
	}
}

// Recv implements Network.
func (n *linuxNet) Recv(ctx context.Context) (Reply, error) {
	select {
	case rep := <-n.replies:
		return rep, nil
	case <-ctx.Done():
		return Reply{}, ctx.Err()
	case <-n.done:
		return Reply{}, ErrClosed
	}
}

// Close implements Network.
func (n *linuxNet) Close() error {
	if n.closed.Swap(true) {
		return nil
	}
	close(n.done)
	unix.Close(n.wakeW) // every poller sees the pipe hang up
	n.wg.Wait()
	unix.Close(n.wakeR)
	n.closeFds()
	if n.netns != nil {
		n.netns.Close()
	}
	return nil
}

// nsSocket opens a socket in the namespace Open ran in. Switching
// namespaces needs CAP_SYS_ADMIN, so it only switches when the calling
// thread is in another one (tests that trace inside a lab namespace).
func (n *linuxNet) nsSocket(typ, proto int) (int, error) {
	if n.netns == nil || sameNetns(n.netns) {
		return unix.Socket(n.family(), typ, proto)
	}
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return -1, err
	}
	defer orig.Close()
	if err := unix.Setns(int(n.netns.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return -1, fmt.Errorf("enter the trace's network namespace: %w", err)
	}
	fd, serr := unix.Socket(n.family(), typ, proto)
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		// Leave the thread locked: it dies with its goroutine rather
		// than run other code in the wrong namespace.
		if serr == nil {
			unix.Close(fd)
		}
		return -1, err
	}
	runtime.UnlockOSThread()
	return fd, serr
}

// sameNetns reports whether the calling thread is in the namespace f.
func sameNetns(f *os.File) bool {
	var a, b unix.Stat_t
	if unix.Fstat(int(f.Fd()), &a) != nil || unix.Stat("/proc/thread-self/ns/net", &b) != nil {
		return false
	}
	return a.Dev == b.Dev && a.Ino == b.Ino
}

func (n *linuxNet) closeFds() {
	for _, fd := range n.fds {
		unix.Close(fd)
	}
	n.fds = nil
	clear(n.readers)
}

// readLoop polls every reading socket and hands what arrives to its
// handler, until Close.
func (n *linuxNet) readLoop() {
	defer n.wg.Done()
	var pfd []unix.PollFd
	var handlers []func([]byte, []byte, unix.Sockaddr, bool, time.Time)
	for fd, h := range n.readers {
		pfd = append(pfd, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
		handlers = append(handlers, h)
	}
	pfd = append(pfd, unix.PollFd{Fd: int32(n.wakeR), Events: unix.POLLIN})
	buf, oob := make([]byte, 65536), make([]byte, 1024)
	for {
		if _, err := unix.Poll(pfd, -1); err != nil && !errors.Is(err, unix.EINTR) {
			return
		}
		if pfd[len(pfd)-1].Revents != 0 || n.closed.Load() {
			return
		}
		for i := range handlers {
			if pfd[i].Revents == 0 {
				continue
			}
			fd := int(pfd[i].Fd)
			for _, flags := range []int{unix.MSG_ERRQUEUE, 0} {
				for {
					nb, noob, _, from, err := unix.Recvmsg(fd, buf, oob, flags|unix.MSG_DONTWAIT)
					if err != nil {
						break
					}
					handlers[i](buf[:nb], oob[:noob], from, flags != 0, time.Now())
				}
			}
		}
	}
}

// handleRawICMP reads one packet from the raw ICMP socket: with its IPv4
// header, or (IPv6) the ICMPv6 message alone with the hop limit in oob.
func (n *linuxNet) handleRawICMP(b, oob []byte, from unix.Sockaddr, errq bool, at time.Time) {
	if errq {
		return
	}
	src, _ := fromSockaddr(from)
	b, ttl, ok := n.rawPayload(b, oob)
	if !ok {
		return
	}
	msg, err := ParseMessage(n.v6, b)
	if err != nil {
		return
	}
	if rep, ok := n.m.matchMessage(msg, src, ttl, at); ok {
		n.deliver(rep)
	}
}

// rawPayload strips the IPv4 header a raw socket delivers with each
// packet and returns the payload with the TTL it arrived with; on IPv6 the
// kernel strips the header itself and the hop limit comes as ancillary
// data. ok is false for a packet shorter than its header.
func (n *linuxNet) rawPayload(b, oob []byte) (payload []byte, ttl int, ok bool) {
	if n.v6 {
		return b, hopLimit(oob), true
	}
	if len(b) < 20 {
		return nil, 0, false
	}
	ihl := int(b[0]&0x0f) * 4
	if len(b) < ihl {
		return nil, 0, false
	}
	return b[ihl:], int(b[8]), true
}

// handleRawTCP reads one TCP segment from the raw TCP socket.
func (n *linuxNet) handleRawTCP(b, oob []byte, from unix.Sockaddr, errq bool, at time.Time) {
	if errq {
		return
	}
	src, _ := fromSockaddr(from)
	b, ttl, ok := n.rawPayload(b, oob)
	if !ok {
		return
	}
	if rep, ok := n.m.matchTCP(b, src, ttl, at); ok {
		n.deliver(rep)
	}
}

// handleDgram reads an ICMP or UDP datagram socket: echo replies from its
// normal queue, ICMP errors from its error queue.
func (n *linuxNet) handleDgram(b, oob []byte, from unix.Sockaddr, errq bool, at time.Time) {
	if !errq {
		if n.cfg.Method != ICMP {
			return
		}
		src, _ := fromSockaddr(from)
		msg, err := ParseMessage(n.v6, b)
		if err != nil || msg.Echo == nil {
			return
		}
		// The kernel already matched the identifier to this socket.
		msg.Echo.ID = n.m.echoID
		if rep, ok := n.m.matchMessage(msg, src, ttlFromOOB(oob, n.v6), at); ok {
			n.deliver(rep)
		}
		return
	}
	rep, ok := n.errQueueReply(b, oob, from, at)
	if !ok {
		return
	}
	switch n.cfg.Method {
	case ICMP:
		// The queued data starts at the quoted echo request's header.
		if len(b) < 8 || n.m.tokenMismatch(b[8:]) {
			return
		}
		rep.Seq = binary.BigEndian.Uint16(b[6:8])
	case UDP:
		// The queued data is the quoted UDP payload; the address is the
		// probe's destination with its port.
		if seq, ok := n.m.payloadSeq(b); ok {
			rep.Seq = seq
			break
		}
		if n.m.tokenMismatch(b) || n.cfg.Paris {
			return
		}
		_, port := fromSockaddr(from)
		seq, ok := n.m.udpSeq(uint16(port), 0)
		if !ok {
			return
		}
		rep.Seq = seq
	}
	n.deliver(rep)
}

// errQueueReply turns an error-queue message's control data into a reply
// (without its sequence).
func (n *linuxNet) errQueueReply(_, oob []byte, _ unix.Sockaddr, at time.Time) (Reply, bool) {
	cmsgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return Reply{}, false
	}
	rep := Reply{Received: at}
	found := false
	for _, c := range cmsgs {
		switch {
		case (c.Header.Level == unix.IPPROTO_IP && c.Header.Type == unix.IP_RECVERR) ||
			(c.Header.Level == unix.IPPROTO_IPV6 && c.Header.Type == unix.IPV6_RECVERR):
			if len(c.Data) < sizeofSockExtendedErr {
				continue
			}
			origin, typ, code := c.Data[4], c.Data[5], c.Data[6]
			if origin != unix.SO_EE_ORIGIN_ICMP && origin != unix.SO_EE_ORIGIN_ICMP6 {
				continue
			}
			rep.Type, rep.Code = int(typ), int(code)
			rep.Kind = kindOf(origin == unix.SO_EE_ORIGIN_ICMP6, rep.Type, rep.Code)
			rep.From = offender(c.Data[sizeofSockExtendedErr:])
			found = rep.Kind != "" && rep.From.IsValid()
		case c.Header.Level == unix.IPPROTO_IP && c.Header.Type == unix.IP_TTL,
			c.Header.Level == unix.IPPROTO_IPV6 && c.Header.Type == unix.IPV6_HOPLIMIT:
			if len(c.Data) >= 4 {
				rep.TTL = int(binary.NativeEndian.Uint32(c.Data))
			}
		}
	}
	return rep, found
}

// offender reads the sockaddr_in or sockaddr_in6 that follows a
// sock_extended_err: the address that sent the ICMP error.
func offender(b []byte) netip.Addr {
	if len(b) < 2 {
		return netip.Addr{}
	}
	switch binary.NativeEndian.Uint16(b[0:2]) {
	case unix.AF_INET:
		if len(b) >= 8 {
			return netip.AddrFrom4([4]byte(b[4:8]))
		}
	case unix.AF_INET6:
		if len(b) >= 24 {
			return netip.AddrFrom16([16]byte(b[8:24])).Unmap()
		}
	}
	return netip.Addr{}
}

func hopLimit(oob []byte) int { return ttlFromOOB(oob, true) }

// ttlFromOOB reads IP_TTL or IPV6_HOPLIMIT from control data.
func ttlFromOOB(oob []byte, v6 bool) int {
	cmsgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0
	}
	for _, c := range cmsgs {
		if len(c.Data) < 4 {
			continue
		}
		if (v6 && c.Header.Level == unix.IPPROTO_IPV6 && c.Header.Type == unix.IPV6_HOPLIMIT) ||
			(!v6 && c.Header.Level == unix.IPPROTO_IP && c.Header.Type == unix.IP_TTL) {
			return int(binary.NativeEndian.Uint32(c.Data))
		}
	}
	return 0
}

// routeSource is the source address the kernel would use towards the
// target: connecting a UDP socket picks it without sending anything.
func routeSource(cfg Config) (netip.Addr, error) {
	v6 := cfg.Target.Is6() && !cfg.Target.Is4In6()
	fam := unix.AF_INET
	if v6 {
		fam = unix.AF_INET6
	}
	fd, err := unix.Socket(fam, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return netip.Addr{}, err
	}
	defer unix.Close(fd)
	if cfg.Interface != "" {
		if err := unix.BindToDevice(fd, cfg.Interface); err != nil {
			return netip.Addr{}, fmt.Errorf("bind to interface %s: %w", cfg.Interface, err)
		}
	}
	if err := unix.Connect(fd, sockaddr(cfg.Target, BasePort)); err != nil {
		return netip.Addr{}, fmt.Errorf("no route to %s: %w", cfg.Target, err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return netip.Addr{}, err
	}
	a, _ := fromSockaddr(sa)
	return a, nil
}

func unspecified(v6 bool) netip.Addr {
	if v6 {
		return netip.IPv6Unspecified()
	}
	return netip.IPv4Unspecified()
}

func sockaddr(a netip.Addr, port int) unix.Sockaddr {
	if a.Is4() || a.Is4In6() {
		return &unix.SockaddrInet4{Addr: a.Unmap().As4(), Port: port}
	}
	return &unix.SockaddrInet6{Addr: a.As16(), Port: port}
}

func fromSockaddr(sa unix.Sockaddr) (netip.Addr, int) {
	switch s := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrFrom4(s.Addr), s.Port
	case *unix.SockaddrInet6:
		return netip.AddrFrom16(s.Addr).Unmap(), s.Port
	}
	return netip.Addr{}, 0
}

// sizeofSockExtendedErr is sizeof(struct sock_extended_err).
const sizeofSockExtendedErr = 16
