package netlab

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
	"unsafe"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// MaxSnap is the largest frame a Recorder stores whole: libpcap's
// MAXIMUM_SNAPLEN, above the 64 KiB of a TSO/GSO super-segment.
const MaxSnap = 262144

// RecordStats says what a Recorder wrote and what the kernel counted on
// its packet socket, so a test can prove the recording is whole: Drops 0
// and Written equal to Kernel.
type RecordStats struct {
	// Written counts frames written to the file; Bytes their lengths on
	// the wire (a super-segment counts its whole length).
	Written, Bytes uint64
	// Outgoing and Incoming split Written by direction on the interface.
	Outgoing, Incoming uint64
	// Kernel counts the frames the kernel handed to the socket (its
	// PACKET_STATISTICS tp_packets, drops included); Drops those it
	// discarded because the socket's buffer was full (tp_drops).
	Kernel, Drops uint64
	// Largest is the longest frame seen on the wire.
	Largest int
}

// Recorder captures every frame crossing one interface of a namespace,
// both directions, into a nanosecond pcap file (link type Ethernet). It
// reads an AF_PACKET socket bound to the interface: no libpcap, no
// tcpdump. Frames are recorded as the interface carries them, so with
// segmentation offloads on a sender's capture holds TSO/GSO super-segments
// and a receiver's GRO-merged frames.
type Recorder struct {
	Path  string
	iface string
	index int
	sock  *os.File
	out   *os.File
	bw    *bufio.Writer
	w     *pcapgo.Writer
	buf   []byte
	oob   []byte
	done  chan error
	once  sync.Once
	stats RecordStats
	err   error
}

// recordBuffer is the socket's receive buffer: room for a few hundred
// super-segments while the writer catches up.
const recordBuffer = 64 << 20

// Record starts capturing on iface inside n into a new pcap file at path.
// snap cuts stored frames to that many bytes (0 stores them whole, up to
// MaxSnap); their true lengths are kept in the records, as tcpdump -s
// does. Stop ends the recording.
func (n *NS) Record(iface, path string, snap int) (*Recorder, error) {
	if snap <= 0 || snap > MaxSnap {
		snap = MaxSnap
	}
	link, err := n.nl.LinkByName(iface)
	if err != nil {
		return nil, fmt.Errorf("record on %s in %s: %w", iface, n.Name, err)
	}
	var fd int
	err = n.Do(func() (err error) {
		// Protocol 0 receives nothing until bind names the interface:
		// no frame of another interface slips in before.
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("packet socket in %s: %w", n.Name, err)
	}
	if err := setupPacketSocket(fd, link.Attrs().Index, snap); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("packet socket on %s in %s: %w", iface, n.Name, err)
	}
	out, err := os.Create(path)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	r := &Recorder{Path: path, iface: iface, index: link.Attrs().Index, sock: os.NewFile(uintptr(fd), "packet:"+iface), out: out,
		buf: make([]byte, snap), oob: make([]byte, 256), done: make(chan error, 1)}
	r.bw = bufio.NewWriterSize(out, 1<<20)
	r.w = pcapgo.NewWriterNanos(r.bw)
	if err := r.w.WriteFileHeader(uint32(snap), layers.LinkTypeEthernet); err != nil {
		r.sock.Close()
		out.Close()
		return nil, err
	}
	go func() { r.done <- r.loop() }()
	return r, nil
}

func setupPacketSocket(fd, ifindex, snap int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, recordBuffer); err != nil {
		return fmt.Errorf("receive buffer: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
		return fmt.Errorf("timestamps: %w", err)
	}
	// The auxiliary data carries each frame's length before the snap.
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1); err != nil {
		return fmt.Errorf("auxdata: %w", err)
	}
	if snap < MaxSnap {
		// A filter that accepts every frame, cut to snap bytes in the
		// kernel: the socket's buffer holds only what is stored.
		prog, err := bpf.Assemble([]bpf.Instruction{bpf.RetConstant{Val: uint32(snap)}})
		if err != nil {
			return err
		}
		f := make([]unix.SockFilter, len(prog))
		for i, ins := range prog {
			f[i] = unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
		}
		if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER,
			&unix.SockFprog{Len: uint16(len(f)), Filter: &f[0]}); err != nil {
			return fmt.Errorf("snap filter: %w", err)
		}
	}
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}
	if err := unix.Bind(fd, sa); err != nil {
		return fmt.Errorf("bind: %w", err)
	}
	return nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// loop reads frames until Stop sets a read deadline.
func (r *Recorder) loop() error {
	rc, err := r.sock.SyscallConn()
	if err != nil {
		return err
	}
	for {
		var got bool
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			got, rerr = r.take(int(fd))
			return got || rerr != nil
		})
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, os.ErrClosed) {
				return nil
			}
			return err
		}
		if rerr != nil {
			return rerr
		}
	}
}

// take reads one frame from the socket and writes it; false when none is
// queued.
func (r *Recorder) take(fd int) (bool, error) {
	n, oobn, _, from, err := unix.Recvmsg(fd, r.buf, r.oob, unix.MSG_TRUNC)
	if errors.Is(err, unix.EAGAIN) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read %s: %w", r.iface, err)
	}
	ci := gopacket.CaptureInfo{Length: n}
	msgs, err := unix.ParseSocketControlMessage(r.oob[:oobn])
	if err != nil {
		return false, err
	}
	for _, m := range msgs {
		switch {
		case m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS &&
			len(m.Data) >= int(unsafe.Sizeof(unix.Timespec{})):
			ts := (*unix.Timespec)(unsafe.Pointer(&m.Data[0]))
			ci.Timestamp = time.Unix(ts.Unix())
		case m.Header.Level == unix.SOL_PACKET && m.Header.Type == unix.PACKET_AUXDATA &&
			len(m.Data) >= int(unsafe.Sizeof(unix.TpacketAuxdata{})):
			aux := (*unix.TpacketAuxdata)(unsafe.Pointer(&m.Data[0]))
			ci.Length = int(aux.Len)
		}
	}
	if ci.Timestamp.IsZero() {
		ci.Timestamp = time.Now()
	}
	ci.CaptureLength = min(n, len(r.buf), ci.Length)
	if err := r.w.WritePacket(ci, r.buf[:ci.CaptureLength]); err != nil {
		return false, fmt.Errorf("write %s: %w", r.Path, err)
	}
	st := &r.stats
	st.Written++
	st.Bytes += uint64(ci.Length)
	st.Largest = max(st.Largest, ci.Length)
	if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
		st.Outgoing++
	} else {
		st.Incoming++
	}
	return true, nil
}

// Stop ends the recording: it unhooks the socket from the interface (no
// new frame is queued after that), reads every frame already queued, and
// reads the kernel's counts last, so every frame the kernel counted is one
// the recorder read or saw dropped. Then it closes the socket and the
// file. Later calls return the same result.
func (r *Recorder) Stop() (RecordStats, error) {
	r.once.Do(func() {
		rc, err := r.sock.SyscallConn()
		if err != nil {
			r.err = err
			return
		}
		// Binding to protocol 0 unregisters the socket's hook and waits
		// for frames being delivered to it.
		cerr := rc.Control(func(fd uintptr) {
			err = unix.Bind(int(fd), &unix.SockaddrLinklayer{Ifindex: r.index})
		})
		if err = errors.Join(err, cerr); err != nil {
			r.err = fmt.Errorf("unhook packet socket: %w", err)
		}
		if err := r.sock.SetReadDeadline(time.Now()); err != nil && r.err == nil {
			r.err = err
		}
		if err := <-r.done; err != nil && r.err == nil {
			r.err = err
		}
		// The deadline can win a race with a frame's wake-up: read what
		// is still queued directly.
		cerr = rc.Control(func(fd uintptr) {
			for r.err == nil {
				got, err := r.take(int(fd))
				if err != nil {
					r.err = err
				}
				if !got {
					break
				}
			}
		})
		if cerr != nil && r.err == nil {
			r.err = cerr
		}
		cerr = rc.Control(func(fd uintptr) {
			var ks *unix.TpacketStats
			ks, err = unix.GetsockoptTpacketStats(int(fd), unix.SOL_PACKET, unix.PACKET_STATISTICS)
			if err == nil {
				r.stats.Kernel, r.stats.Drops = uint64(ks.Packets), uint64(ks.Drops)
			}
		})
		if err = errors.Join(err, cerr); err != nil && r.err == nil {
			r.err = fmt.Errorf("packet statistics: %w", err)
		}
		r.sock.Close()
		if err := r.bw.Flush(); err != nil && r.err == nil {
			r.err = err
		}
		if err := r.out.Close(); err != nil && r.err == nil {
			r.err = err
		}
	})
	return r.stats, r.err
}
