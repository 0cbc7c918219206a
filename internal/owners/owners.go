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
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/procfs"
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
// scanning the descriptors of every process of proc for
// "socket:[inode]". Entries already set are kept. It stops as soon as
// every socket is named. Inode 0 (a socket no process holds) is never
// looked for. A process whose descriptors cannot be read leaves its
// sockets unnamed, and the error is a *DeniedError; an error listing the
// processes is returned as it is.
func Name(proc procfs.FS, want map[uint64]**Process) error {
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
	procs, err := proc.AllProcs()
	if err != nil {
		return err
	}
	denied := 0
	for _, p := range procs {
		targets, err := p.FileDescriptorTargets()
		if err != nil {
			if errors.Is(err, fs.ErrPermission) {
				denied++
			}
			continue
		}
		// Listing another user's descriptors can succeed where reading
		// their links does not (a ptrace check): procfs leaves those
		// targets empty.
		if slices.Contains(targets, "") {
			denied++
		}
		for _, t := range targets {
			ino, ok := SocketInode(t)
			if !ok {
				continue
			}
			dst, ok := want[ino]
			if !ok || *dst != nil {
				continue
			}
			comm, _ := p.Comm()
			*dst = &Process{PID: p.PID, Comm: comm}
			left--
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

// SocketInode parses a descriptor target "socket:[12345]".
func SocketInode(target string) (uint64, bool) {
	rest, ok := strings.CutPrefix(target, "socket:[")
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseUint(strings.TrimSuffix(rest, "]"), 10, 64)
	return v, err == nil
}
