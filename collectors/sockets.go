package collectors

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"strconv"
	"strings"

	"github.com/netdx/netdx/internal/caps"
	"github.com/netdx/netdx/internal/owners"
)

// Sockets holds the sockets that can overflow: listening TCP sockets with
// their accept queues, and UDP sockets that dropped datagrams.
type Sockets struct {
	// Listeners is nil when sock_diag could not be read.
	Listeners []Listener `json:"listeners"`
	// UDP lists the UDP sockets that have dropped datagrams or hold
	// unread ones; nil when /proc/net/udp could not be read.
	UDP []UDPSocket `json:"udp"`
	// UDPTotal counts every UDP socket read, listed or not.
	UDPTotal int `json:"udp_total"`
	// TCP lists the TCP connections that have dropped received data
	// (their own drop counter is not zero); nil when sock_diag could not
	// be read.
	TCP []TCPSocket `json:"tcp"`
}

// TCPSocket is one TCP connection with drops, from sock_diag.
type TCPSocket struct {
	Local  string `json:"local"`
	Remote string `json:"remote"`
	State  string `json:"state"`
	// RecvQ is the bytes received and not yet read by the application.
	RecvQ uint64 `json:"recv_q_bytes"`
	// Drops counts the segments this socket dropped since it was created
	// (no receive buffer or memory, backlog full, out of window).
	Drops uint64 `json:"drops"`
	// RcvBuf is the socket's receive buffer size now.
	RcvBuf  uint32   `json:"rcvbuf_bytes"`
	Inode   uint64   `json:"inode"`
	UID     uint32   `json:"uid"`
	Process *Process `json:"process,omitempty"`
}

// Listener is one listening TCP socket, from sock_diag.
type Listener struct {
	// Local is the bound address and port ("0.0.0.0:80", "[::]:443").
	Local string `json:"local"`
	Port  int    `json:"port"`
	// AcceptQueue is the number of established connections waiting for
	// accept() now (sk_ack_backlog).
	AcceptQueue uint64 `json:"accept_queue"`
	// Backlog is the accept queue's limit (sk_max_ack_backlog): the
	// listen() backlog, capped by net.core.somaxconn when listen() ran.
	Backlog uint64 `json:"backlog"`
	// Drops counts the connections this socket dropped since it was
	// created (SK_MEMINFO_DROPS: accept queue overflows and SYN drops);
	// nil on kernels that do not report it.
	Drops *uint64 `json:"drops,omitempty"`
	// SynRecv is the number of half-open connections in the listener's
	// SYN queue now (request sockets in SYN-RECV for its address and
	// port; listeners sharing both through SO_REUSEPORT each show the
	// group's); nil when not read. With SYN cookies in use the kernel
	// keeps none: the queue stays empty under a flood.
	SynRecv *uint64  `json:"syn_recv,omitempty"`
	Inode   uint64   `json:"inode"`
	UID     uint32   `json:"uid"`
	Process *Process `json:"process,omitempty"`
}

// UDPSocket is one UDP socket, from /proc/net/udp or udp6.
type UDPSocket struct {
	Local  string `json:"local"`
	Remote string `json:"remote,omitempty"`
	// RxQueue and TxQueue are bytes queued now.
	RxQueue uint64 `json:"rx_queue_bytes"`
	TxQueue uint64 `json:"tx_queue_bytes"`
	// Drops counts datagrams dropped since the socket was created, mostly
	// because its receive buffer was full.
	Drops   uint64   `json:"drops"`
	Inode   uint64   `json:"inode"`
	UID     uint32   `json:"uid"`
	Process *Process `json:"process,omitempty"`
}

// Process owns a socket.
type Process = owners.Process

type sockets struct{}

func init() { Register(sockets{}) }

func (sockets) Name() string { return "sockets" }

func (sockets) Collect(_ context.Context, src *Sources, snap *Snapshot) error {
	s := &Sockets{}
	if err := src.liveOnly("sock_diag listening sockets"); err != nil {
		snap.AddSkip("sockets", err)
	} else if ls, err := src.Netlink.Listeners(); err != nil {
		snap.AddSkip("sockets", err)
	} else {
		s.Listeners = ls
		if conns, err := src.Netlink.TCPConns(); err != nil {
			snap.AddSkip("sockets", err)
		} else {
			s.TCP = conns.dropping()
			conns.countSynRecv(s.Listeners)
			if !conns.dropsOnly {
				snap.TCPConns = conns
			}
		}
	}
	for _, name := range []string{"udp", "udp6"} {
		path := src.netFile(name)
		b, err := readFile(path)
		var socks []UDPSocket
		var n int
		if err == nil {
			socks, n, err = parseProcUDP(bytes.NewReader(b), path)
		}
		if err != nil {
			if !(name == "udp6" && errors.Is(err, fs.ErrNotExist)) {
				snap.AddSkip("sockets", err)
			}
			continue
		}
		if s.UDP == nil {
			s.UDP = []UDPSocket{}
		}
		s.UDP = append(s.UDP, socks...)
		s.UDPTotal += n
	}
	if s.Listeners == nil && s.UDP == nil && s.TCP == nil {
		return nil
	}
	resolveOwners(src, snap, s)
	snap.Sockets = s
	return nil
}

// parseProcUDP reads /proc/net/udp or udp6 and returns the sockets with
// drops or queued data, and how many sockets there were. The header must
// end with "drops" (kernel 2.6.27 and later).
func parseProcUDP(r io.Reader, path string) ([]UDPSocket, int, error) {
	sc := bufio.NewScanner(r)
	// The buffer starts at bufio's 4 KiB and grows as lines need, up to
	// 1 MiB: a 64 KiB one from the start is fresh memory every snapshot.
	sc.Buffer(nil, 1024*1024)
	var out []UDPSocket
	line, n := 0, 0
	for sc.Scan() {
		line++
		f := strings.Fields(sc.Text())
		if line == 1 {
			if len(f) == 0 || f[len(f)-1] != "drops" {
				return nil, 0, parseErr(path, line, "header does not end with \"drops\"")
			}
			continue
		}
		if len(f) == 0 {
			continue
		}
		// sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
		if len(f) < 13 {
			return nil, 0, parseErr(path, line, "%d fields, want 13", len(f))
		}
		n++
		local, err1 := parseHexAddr(f[1])
		remote, err2 := parseHexAddr(f[2])
		txs, rxs, ok := strings.Cut(f[4], ":")
		tx, err3 := strconv.ParseUint(txs, 16, 64)
		rx, err4 := strconv.ParseUint(rxs, 16, 64)
		uid, err5 := strconv.ParseUint(f[7], 10, 32)
		inode, err6 := strconv.ParseUint(f[9], 10, 64)
		drops, err7 := strconv.ParseUint(f[12], 10, 64)
		if err := errors.Join(err1, err2, err3, err4, err5, err6, err7); err != nil || !ok {
			return nil, 0, parseErr(path, line, "bad socket line: %v", err)
		}
		if drops == 0 && rx == 0 {
			continue
		}
		s := UDPSocket{Local: local, RxQueue: rx, TxQueue: tx, Drops: drops, Inode: inode, UID: uint32(uid)}
		if !strings.HasSuffix(remote, ":0") {
			s.Remote = remote
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, 0, parseErr(path, line+1, "%v", err)
	}
	if line == 0 {
		return nil, 0, parseErr(path, 0, "empty")
	}
	return out, n, nil
}

// parseHexAddr decodes the kernel's "0100007F:0035" (IPv4) or 32-digit
// IPv6 form: the address is printed as 32-bit words in host byte order,
// the port in hex.
func parseHexAddr(s string) (string, error) {
	a, p, ok := strings.Cut(s, ":")
	if !ok {
		return "", fmt.Errorf("address %q has no port", s)
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return "", fmt.Errorf("address %q: bad port", s)
	}
	raw, err := hex.DecodeString(a)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return "", fmt.Errorf("address %q: bad IP", s)
	}
	for i := 0; i < len(raw); i += 4 {
		binary.BigEndian.PutUint32(raw[i:], binary.NativeEndian.Uint32(raw[i:]))
	}
	ip, _ := netip.AddrFromSlice(raw)
	return netip.AddrPortFrom(ip.Unmap(), uint16(port)).String(), nil
}

// resolveOwners names the processes that hold the listed sockets. A
// process whose descriptors could not be read is recorded as a skip.
func resolveOwners(src *Sources, snap *Snapshot, s *Sockets) {
	want := map[uint64]**Process{}
	for i := range s.Listeners {
		want[s.Listeners[i].Inode] = &s.Listeners[i].Process
	}
	for i := range s.UDP {
		want[s.UDP[i].Inode] = &s.UDP[i].Process
	}
	for i := range s.TCP {
		want[s.TCP[i].Inode] = &s.TCP[i].Process
	}
	if err := nameOwners(src, want); err != nil {
		snap.AddSkip("socket owners", err)
	}
}

// nameOwners sets *want[inode] to the process holding each socket inode
// (owners.Name), turning its errors into the skip that says what would
// name the rest.
func nameOwners(src *Sources, want map[uint64]**Process) error {
	err := owners.Name(src.ProcPath, want)
	var denied *owners.DeniedError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &denied):
		return &SourceError{
			Source: "/proc/*/fd",
			Err:    fmt.Errorf("%w: %w", denied, fs.ErrPermission),
			Fix:    "grant CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE (or run as root) to name every socket's process",
			// Listing another user's /proc/PID/fd needs the first, reading
			// its links the kernel's ptrace read check, so the second.
			Capability: caps.DacReadSearch.String() + "," + caps.SysPtrace.String(),
		}
	}
	return &SourceError{Source: src.ProcPath, Err: unwrapPathError(err)}
}
