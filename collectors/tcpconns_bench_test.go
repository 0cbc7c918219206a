package collectors

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/netdx/netdx/internal/netlab"
)

// tcpDump10k builds a dump of n connections from the recording's
// messages: each copy gets its own local port and cookie, and in a later
// dump (round > 0) every third one has retransmitted round*3 more segments
// of round*100 more sent, so groups form as on a busy host.
func tcpDump10k(t testing.TB, n, round int) []byte {
	rec, _ := loadTCPConnsRecording(t)
	var msgs [][]byte
	for b := rec; len(b) > 0; {
		l := int(binary.NativeEndian.Uint32(b))
		msgs = append(msgs, b[unix.SizeofNlMsghdr:l])
		b = b[(l+3)&^3:]
	}
	var out []byte
	for i := range n {
		m := append([]byte(nil), msgs[i%len(msgs)]...)
		binary.BigEndian.PutUint16(m[4:], uint16(1024+i%60000))
		binary.NativeEndian.PutUint64(m[44:], uint64(i+1))
		if round > 0 && i%3 == 0 {
			_ = walkAttrs(m[sizeofInetDiagMsg:], func(typ uint16, v []byte) {
				if typ == 2 { // INET_DIAG_INFO
					binary.NativeEndian.PutUint32(v[100:], binary.NativeEndian.Uint32(v[100:])+uint32(3*round))
					binary.NativeEndian.PutUint32(v[156:], binary.NativeEndian.Uint32(v[156:])+uint32(100*round))
				}
			})
		}
		out = appendNlMsg(out, m)
	}
	return out
}

// BenchmarkTCPConnView10k is the per-connection view's cost per sample on
// a host with 10,000 connections: decode the sample's sock_diag dump
// (recorded messages, replicated) and compare it with the previous one.
// The budget is 5 ms.
func BenchmarkTCPConnView10k(b *testing.B) {
	before, err := decodeTCPDump(tcpDump10k(b, 10000, 0))
	if err != nil {
		b.Fatal(err)
	}
	dump := tcpDump10k(b, 10000, 1)
	b.SetBytes(int64(len(dump)))
	b.ReportAllocs()
	var h *TCPHealth
	for b.Loop() {
		after, err := decodeTCPDump(dump)
		if err != nil {
			b.Fatal(err)
		}
		h = TCPHealthOf(before, after, 1, TCPHealthOptions{})
	}
	if h.Conns != 10000 || h.Group(TCPRetransmitting).More == 0 {
		b.Fatalf("view of %d connections, groups %+v", h.Conns, h.Limits)
	}
}

// BenchmarkTCPConnsLive10k dumps 10,000 real connections of a lab
// namespace (the client's ends of connections waiting in a server's
// accept queue) and compares each dump with the one before: the view's
// whole cost per sample, kernel included. Root only.
func BenchmarkTCPConnsLive10k(b *testing.B) {
	const n = 10000
	lab := netlab.NewConnLab(b)
	if err := lab.Server.SetSysctl("net/core/somaxconn", "16384"); err != nil {
		b.Fatal(err)
	}
	ln, err := lab.Server.Listen("tcp", netip.AddrPortFrom(lab.ServerAddr.V4, 5000).String())
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	var fds []int
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	to := &unix.SockaddrInet4{Addr: lab.ServerAddr.V4.As4(), Port: 5000}
	err = lab.Client.Do(func() error {
		for range n {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			fds = append(fds, fd)
			if err := unix.Connect(fd, to); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatalf("%d connections: %v", len(fds), err)
	}
	var prev *TCPConns
	var h *TCPHealth
	b.ResetTimer()
	for b.Loop() {
		err := lab.Client.Do(func() error {
			cur, err := liveNetlink{}.TCPConns()
			if err != nil {
				return err
			}
			h = TCPHealthOf(prev, cur, 1, TCPHealthOptions{})
			prev = cur
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if h.Conns != n {
		b.Fatalf("dumped %d connections, want %d", h.Conns, n)
	}
}
