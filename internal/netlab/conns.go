package netlab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// ConnLab is a client and a server namespace joined by one veth link
// (198.18.1.1 and 198.18.1.2, 2001:db8:0:1::1 and ::2), or by a path of
// routers, for tests of what limits individual TCP connections.
// Impairments are nftables rules at the server's input, so each
// connection can get its own, or the routers' relays.
type ConnLab struct {
	Client, Server *NS
	// ClientAddr and ServerAddr are the client's and the server's
	// addresses on their links.
	ClientAddr, ServerAddr Addrs
	// Path is the topology.
	Path *Path
}

// NewConnLab builds the lab with routers between client and server (none:
// one link); everything is removed when t ends.
func NewConnLab(t testing.TB, routers ...RouterSpec) *ConnLab {
	t.Helper()
	p := NewPath(t, PathSpec{Routers: routers})
	return &ConnLab{Client: p.Prober, Server: p.Target, ClientAddr: p.ProberAddr, ServerAddr: p.TargetAddr, Path: p}
}

// DropToPort makes the server drop percent % of the TCP segments that
// arrive for port, chosen at random (nftables numgen random), as a lossy
// path would. The client's retransmissions to that port are the truth a
// test checks.
func (l *ConnLab) DropToPort(port uint16, percent int) error {
	return l.Server.NFT(fmt.Sprintf(`table inet netdx_drop_%d {
	chain input {
		type filter hook input priority 0;
		tcp dport %d numgen random mod 100 < %d drop
	}
}
`, port, port, percent))
}

// FlowSpec is one TCP connection from the client to the server.
type FlowSpec struct {
	// Port is the server's port; every flow needs its own.
	Port uint16
	// V6 makes the connection over IPv6.
	V6 bool
	// Rate is what the client writes, in bytes per second, in 16 KiB
	// writes; 0 writes as fast as the connection takes it.
	Rate int
	// ServerStalls makes the server accept the connection and never read
	// it, so its receive window closes.
	ServerStalls bool
	// SndBuf sets the client's SO_SNDBUF (the kernel doubles it) when not 0.
	SndBuf int
}

// Flow is a running connection; it stops when the test ends.
type Flow struct {
	// Conn is the client's end.
	Conn *net.TCPConn
	// Local and Remote are the client's and the server's addresses.
	Local, Remote netip.AddrPort
	done          chan struct{}
	wg            sync.WaitGroup
}

// StartFlow opens the connection and starts writing.
func (l *ConnLab) StartFlow(t testing.TB, spec FlowSpec) *Flow {
	t.Helper()
	addr := l.ServerAddr.V4
	if spec.V6 {
		addr = l.ServerAddr.V6
	}
	remote := netip.AddrPortFrom(addr, spec.Port)
	ln, err := l.Server.Listen("tcp", remote.String())
	if err != nil {
		t.Fatalf("netlab: listen on %s: %v", remote, err)
	}
	f := &Flow{Remote: remote, done: make(chan struct{})}
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		ln.Close()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
		if !spec.ServerStalls {
			_, _ = io.Copy(io.Discard, c)
		}
	}()
	err = l.Client.Do(func() error {
		d := net.Dialer{Timeout: 5 * time.Second}
		if spec.SndBuf > 0 {
			d.Control = func(_, _ string, rc syscall.RawConn) error {
				var serr error
				err := rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF, spec.SndBuf) })
				return errors.Join(err, serr)
			}
		}
		c, err := d.DialContext(context.Background(), "tcp", remote.String())
		if err != nil {
			return err
		}
		f.Conn = c.(*net.TCPConn)
		return nil
	})
	if err != nil {
		ln.Close()
		t.Fatalf("netlab: connect to %s: %v", remote, err)
	}
	f.Local = netip.MustParseAddrPort(f.Conn.LocalAddr().String())
	server := <-accepted
	t.Cleanup(func() {
		close(f.done)
		f.Conn.Close()
		if server != nil {
			server.Close()
		}
		f.wg.Wait()
	})
	f.wg.Add(1)
	go f.write(spec.Rate)
	return f
}

// write sends until the flow stops: 16 KiB writes, paced to rate bytes
// per second when rate is not 0.
func (f *Flow) write(rate int) {
	defer f.wg.Done()
	buf := make([]byte, 16<<10)
	var tick <-chan time.Time
	if rate > 0 {
		t := time.NewTicker(time.Duration(float64(time.Second) * float64(len(buf)) / float64(rate)))
		defer t.Stop()
		tick = t.C
	}
	for {
		if tick != nil {
			select {
			case <-f.done:
				return
			case <-tick:
			}
		}
		select {
		case <-f.done:
			return
		default:
		}
		if _, err := f.Conn.Write(buf); err != nil {
			return
		}
	}
}

// Info reads the client socket's own tcp_info (getsockopt TCP_INFO): the
// kernel's truth for this connection.
func (f *Flow) Info() (*unix.TCPInfo, error) {
	rc, err := f.Conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	var info *unix.TCPInfo
	var gerr error
	if err := rc.Control(func(fd uintptr) { info, gerr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) }); err != nil {
		return nil, err
	}
	return info, gerr
}
