// Package owners names the processes that hold sockets, by the socket's
// inode: the number /proc/PID/fd shows as "socket:[N]", sock_diag and
// /proc/net/udp report, and the drops engine reads from the socket a
// packet was dropped at. diag's socket tables and the drops engine share
// it.
package owners

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/procfs"
	"golang.org/x/sys/unix"
)

// Process holds a socket.
type Process struct {
	PID  int    `json:"pid"`
	Comm string `json:"comm"`
}

func (p *Process) String() string { return fmt.Sprintf("%s[%d]", p.Comm, p.PID) }

// DeniedError says some processes' descriptors could not be read (another
// user's, without CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE), so Left
// sockets have no owner named. It is errors.Is fs.ErrPermission.
type DeniedError struct {
	// Processes is how many processes could not be read; Left how many
	// sockets stayed unnamed.
	Processes, Left int
}

func (e *DeniedError) Error() string {
	return fmt.Sprintf("%d processes' descriptors were not readable, so %d sockets have no owner named", e.Processes, e.Left)
}

// Is makes a DeniedError a permission error.
func (e *DeniedError) Is(target error) bool { return target == fs.ErrPermission }

var _ error = &DeniedError{}

// Name sets *want[inode] to the process holding each socket inode by
// scanning the descriptors of every process under proc (the procfs root,
// "/proc"), in PID order, for "socket:[inode]". Entries already set are
// kept. It stops as soon as every socket is named. Inode 0 (a socket no
// process holds) is never looked for. A process whose descriptors cannot
// be read leaves its sockets unnamed, and the error is a *DeniedError; an
// error listing the processes is returned as it is.
//
// The processes and their names come from procfs; their descriptors are
// read here, relative to each open fd directory (readlinkat): procfs's
// FileDescriptorTargets turns every failed readlink into "", so a
// descriptor closed since the listing (netdx's own of that directory,
// any on a busy host) could not be told from a denied one; and it builds
// a path and a string per descriptor, most of which are not sockets.
func Name(proc string, want map[uint64]**Process) error {
	delete(want, 0)
	left := 0
	for _, p := range want {
		if *p == nil {
			left++
		}
	}
	if left == 0 {
		return nil
	}
	pfs, err := procfs.NewFS(proc)
	if err != nil {
		return err
	}
	procs, err := pfs.AllProcs()
	if err != nil {
		return err
	}
	slices.SortFunc(procs, func(a, b procfs.Proc) int { return cmp.Compare(a.PID, b.PID) })
	denied := 0
	var buf [64]byte // "socket:[N]" and anything longer is not one
	for _, p := range procs {
		fds, err := openDir(filepath.Join(proc, strconv.Itoa(p.PID), "fd"))
		if err != nil {
			if errors.Is(err, fs.ErrPermission) {
				denied++
			}
			continue
		}
		names, err := fds.Readdirnames(-1)
		if err != nil {
			fds.Close()
			if errors.Is(err, fs.ErrPermission) {
				denied++
			}
			continue
		}
		dfd := int(fds.Fd())
		unreadable := false
		for _, name := range names {
			n, err := unix.Readlinkat(dfd, name, buf[:])
			if err != nil {
				// Listing another user's descriptors can succeed where
				// reading their links does not (a ptrace check, made for
				// the process, so its other links are not tried). A
				// descriptor closed since the listing is no denial.
				if errors.Is(err, fs.ErrPermission) {
					unreadable = true
					break
				}
				continue
			}
			ino, ok := SocketInode(string(buf[:n]))
			if !ok {
				continue
			}
			dst, ok := want[ino]
			if !ok || *dst != nil {
				continue
			}
			comm, _ := p.Comm() // "" when it has exited since
			*dst = &Process{PID: p.PID, Comm: comm}
			left--
		}
		fds.Close()
		if unreadable {
			denied++
		}
		if left == 0 {
			return nil
		}
	}
	if denied > 0 {
		return &DeniedError{Processes: denied, Left: left}
	}
	return nil
}

// openDir opens a directory of /proc to list it. os.Open would also try
// to register it with the poller, which a directory refuses: four system
// calls more for each of the hundreds of processes a host may run.
func openDir(path string) (*os.File, error) {
	for {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return nil, &fs.PathError{Op: "open", Path: path, Err: err}
		}
		return os.NewFile(uintptr(fd), path), nil
	}
}

// SocketInode parses a descriptor target "socket:[12345]".
func SocketInode(target string) (uint64, bool) {
	rest, ok := strings.CutPrefix(target, "socket:[")
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseUint(strings.TrimSuffix(rest, "]"), 10, 64)
	return v, err == nil
}
