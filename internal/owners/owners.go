// Package owners names the processes that hold sockets, by the socket's
// inode: the number /proc/PID/fd shows as "socket:[N]", sock_diag and
// /proc/net/udp report, and the drops engine reads from the socket a
// packet was dropped at. diag's socket tables and the drops engine share
// it.
package owners

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

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
// Each process's descriptors are read relative to its open fd directory
// (readlinkat), without building a path or a string per descriptor:
// most descriptors are not sockets, and most processes hold none of the
// sockets wanted.
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
	pids, err := processes(proc)
	if err != nil {
		return err
	}
	denied := 0
	var buf [64]byte // "socket:[N]" and anything longer is not one
	for _, pid := range pids {
		dir := filepath.Join(proc, strconv.Itoa(pid))
		fds, err := os.Open(filepath.Join(dir, "fd"))
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
				// reading their links does not (a ptrace check). A
				// descriptor closed since the listing is no denial.
				unreadable = unreadable || errors.Is(err, fs.ErrPermission)
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
			*dst = &Process{PID: pid, Comm: comm(dir)}
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

// processes lists the PIDs under the procfs root proc, in order.
func processes(proc string) ([]int, error) {
	d, err := os.Open(proc)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", proc, err)
	}
	var pids []int
	for _, n := range names {
		if pid, err := strconv.Atoi(n); err == nil {
			pids = append(pids, pid)
		}
	}
	slices.Sort(pids)
	return pids, nil
}

// comm is a process's command name ("" when it cannot be read: it may
// have exited).
func comm(dir string) string {
	b, _ := os.ReadFile(filepath.Join(dir, "comm"))
	return strings.TrimSpace(string(b))
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
