package netlab

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"time"
)

// Listen opens a listener inside the namespace (net.Listen semantics). The
// socket stays in the namespace; accept from any goroutine.
func (n *NS) Listen(network, address string) (net.Listener, error) {
	var l net.Listener
	err := n.Do(func() (err error) {
		l, err = net.Listen(network, address)
		return err
	})
	return l, err
}

// Dial connects from inside the namespace.
func (n *NS) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	var c net.Conn
	err := n.Do(func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, address)
		return err
	})
	return c, err
}

// ReadNetFile reads a file under the namespace's /proc/net, such as "snmp"
// or "netstat" for its TCP counters (TcpRetransSegs...).
func (n *NS) ReadNetFile(name string) ([]byte, error) {
	var b []byte
	err := n.Do(func() (err error) {
		// /proc/net follows the process's first thread; thread-self
		// follows the thread Do switched.
		b, err = os.ReadFile("/proc/thread-self/net/" + name)
		return err
	})
	return b, err
}

// Start starts cmd inside the namespace: the child inherits the namespace
// of the thread that forks it.
func (n *NS) Start(cmd *exec.Cmd) error {
	return n.Do(cmd.Start)
}

// Transfer is the outcome of a bulk TCP transfer.
type Transfer struct {
	Bytes    int64
	Duration time.Duration
}

// BulkTCP sends size bytes over one TCP connection from a client in `from`
// to a server it starts in `to` listening on addr (an address of `to`),
// and returns when the server has read them all. The payload is a
// counter, so a capture of it has distinct segments.
func BulkTCP(ctx context.Context, from, to *NS, addr netip.AddrPort, size int64) (Transfer, error) {
	l, err := to.Listen("tcp", addr.String())
	if err != nil {
		return Transfer{}, fmt.Errorf("listen in %s: %w", to.Name, err)
	}
	defer l.Close()
	type result struct {
		n   int64
		err error
	}
	got := make(chan result, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			got <- result{err: err}
			return
		}
		defer c.Close()
		if d, ok := ctx.Deadline(); ok {
			_ = c.SetDeadline(d)
		}
		n, err := io.Copy(io.Discard, c)
		got <- result{n, err}
	}()
	start := time.Now()
	c, err := from.Dial(ctx, "tcp", addr.String())
	if err != nil {
		return Transfer{}, fmt.Errorf("dial %s from %s: %w", addr, from.Name, err)
	}
	if d, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(d)
	}
	_, werr := io.CopyN(c, &counter{}, size)
	cerr := c.Close()
	if werr != nil {
		return Transfer{}, fmt.Errorf("send: %w", werr)
	}
	if cerr != nil {
		return Transfer{}, fmt.Errorf("close: %w", cerr)
	}
	select {
	case r := <-got:
		if r.err != nil {
			return Transfer{}, fmt.Errorf("receive: %w", r.err)
		}
		if r.n != size {
			return Transfer{}, fmt.Errorf("server read %d bytes, want %d", r.n, size)
		}
		return Transfer{Bytes: r.n, Duration: time.Since(start)}, nil
	case <-ctx.Done():
		return Transfer{}, ctx.Err()
	}
}

// counter is an endless stream of big-endian 64-bit counters.
type counter struct {
	i uint64
	b [8]byte
}

func (c *counter) Read(p []byte) (int, error) {
	for n := range p {
		if c.i%8 == 0 {
			binary.BigEndian.PutUint64(c.b[:], c.i/8)
		}
		p[n] = c.b[c.i%8]
		c.i++
	}
	return len(p), nil
}

// TCPDataTo matches IPv4 or IPv6 TCP segments that carry data to port: use
// it as Impairment.Match to impair one direction of a transfer and leave
// its ACKs alone.
func TCPDataTo(port uint16) func([]byte) bool {
	return func(pkt []byte) bool {
		var proto int
		var l4 []byte
		switch {
		case len(pkt) >= 20 && pkt[0]>>4 == 4:
			ihl := int(pkt[0]&0x0f) * 4
			if len(pkt) < ihl+20 {
				return false
			}
			proto, l4 = int(pkt[9]), pkt[ihl:]
		case len(pkt) >= 60 && pkt[0]>>4 == 6:
			proto, l4 = int(pkt[6]), pkt[40:]
		default:
			return false
		}
		if proto != 6 || binary.BigEndian.Uint16(l4[2:4]) != port {
			return false
		}
		hdr := int(l4[12]>>4) * 4
		return len(l4) > hdr
	}
}
