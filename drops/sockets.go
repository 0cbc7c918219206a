package drops

import (
	"net/netip"
	"path/filepath"
	"strconv"
	"time"

	"github.com/prometheus/procfs"

	"github.com/netdx/netdx/internal/owners"
)

// sockets names the sockets drops happened at: the process holding each
// (owners.Name, a scan of /proc/*/fd) and the socket's local address
// (that process's /proc/PID/net/udp, udp6, tcp, tcp6: the files of its
// own namespace). A socket is looked up on first sight and kept; one
// found nowhere is looked for again after relookAfter, so a window with
// many drops costs one scan, not one per snapshot.
type sockets struct {
	procDir string
	known   map[uint64]*sockInfo
}

type sockInfo struct {
	process *owners.Process
	local   string
	found   time.Time
}

func newSockets(procDir string) *sockets {
	return &sockets{procDir: procDir, known: map[uint64]*sockInfo{}}
}

// name fills the process and address of every socket of ds, looking up
// the sockets not known yet; nsPath gives the file to enter a drop's
// namespace by ("" for netdx's own or one it cannot enter). The error
// says why some have no process (an *owners.DeniedError when processes
// could not be read).
func (s *sockets) name(ds []Drop, nsPath func(Netns) string) error {
	want := map[uint64]**owners.Process{}
	where := map[uint64]Netns{}
	for _, d := range ds {
		if d.Socket == nil || d.Socket.Inode == 0 {
			continue
		}
		if info, ok := s.known[d.Socket.Inode]; ok && (info.process != nil || time.Since(info.found) < relookAfter) {
			continue
		}
		if _, ok := want[d.Socket.Inode]; !ok {
			want[d.Socket.Inode] = new(*owners.Process)
			where[d.Socket.Inode] = d.Netns
		}
	}
	var err error
	if len(want) > 0 {
		err = owners.Name(s.procDir, want)
		for ino, p := range want {
			info := &sockInfo{process: *p, found: time.Now()}
			if info.process != nil {
				info.local = s.localAddr(where[ino], nsPath(where[ino]), info.process.PID, ino)
			}
			s.known[ino] = info
		}
	}
	for i := range ds {
		if ds[i].Socket == nil {
			continue
		}
		if info := s.known[ds[i].Socket.Inode]; info != nil {
			ds[i].Socket.Process, ds[i].Socket.Local = info.process, info.local
		}
	}
	return err
}

// localAddr is the local address of socket inode, "" when it is not
// found: read from the socket tables of the drop's namespace (entered by
// path), of netdx's own, or else of the process holding the socket
// (whose main thread may be in another namespace than the socket).
func (s *sockets) localAddr(ns Netns, path string, pid int, inode uint64) string {
	var local string
	switch {
	case ns.Current:
		local = findAddr(filepath.Join(s.procDir, "thread-self"), inode)
	case path != "":
		_ = inNetns(path, func() error {
			local = findAddr(filepath.Join(s.procDir, "thread-self"), inode)
			return nil
		})
	}
	if local == "" {
		local = findAddr(filepath.Join(s.procDir, strconv.Itoa(pid)), inode)
	}
	return local
}

// findAddr looks for the socket in the udp, udp6, tcp and tcp6 tables
// under dir/net.
func findAddr(dir string, inode uint64) string {
	fs, err := procfs.NewFS(dir)
	if err != nil {
		return ""
	}
	tables := []func() (procfs.NetUDP, error){fs.NetUDP, fs.NetUDP6,
		func() (procfs.NetUDP, error) { l, err := fs.NetTCP(); return procfs.NetUDP(l), err },
		func() (procfs.NetUDP, error) { l, err := fs.NetTCP6(); return procfs.NetUDP(l), err },
	}
	for _, read := range tables {
		lines, _ := read()
		for _, l := range lines {
			if l.Inode != inode {
				continue
			}
			a, ok := netip.AddrFromSlice(l.LocalAddr)
			if !ok {
				return ""
			}
			return netip.AddrPortFrom(a.Unmap(), uint16(l.LocalPort)).String()
		}
	}
	return ""
}
