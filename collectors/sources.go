package collectors

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"

	"github.com/prometheus/procfs"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/netdx/netdx/internal/caps"
)

// Sources says where collectors read from: the procfs and sysfs roots, the
// network namespace, and the netlink and ethtool back ends (live, or
// replayed from a recorded host in tests).
type Sources struct {
	// Proc is the procfs root (/proc, or the host's /proc mounted in a
	// container, or a fixture tree in tests). Sysctls and processes are
	// read through it.
	Proc procfs.FS
	// ProcPath and SysPath are the roots Proc and sysfs reads use.
	ProcPath, SysPath string
	// NetPath is the directory of the per-namespace files (netstat, snmp,
	// dev, sockstat, udp, stat/nf_conntrack): ProcPath/net for the
	// caller's own namespace, ProcPath/thread-self/net on the thread
	// switched into another one, ProcPath/1/net for a host /proc seen from
	// a container that cannot enter the host's namespace.
	NetPath string
	// Ifaces, when not empty, limits per-interface sources to these names.
	Ifaces []string
	// Netlink lists links, qdiscs and listening sockets.
	Netlink Netlink
	// OpenEthtool opens an ethtool handle in the namespace being read.
	OpenEthtool func() (Ethtool, error)
	// NetNS names the network namespace read; empty for the caller's own.
	NetNS string
	// SysfsNet reports whether SysPath/class/net shows the namespace being
	// read. sysfs shows the namespace of whoever mounted it, so it is false
	// for --netns.
	SysfsNet bool
	// Warnings are things the reader of the report must know about these
	// sources (a container that could not enter the host's namespace).
	Warnings []string
	// Log receives per-collector diagnostics; nil discards them.
	Log *slog.Logger

	// ns is the namespace Take switches into, when switch is set;
	// otherwise it reads the caller's own.
	ns       netns.NsHandle
	switchNS bool
	// notLive, when set, says why the netlink, ethtool, socket and sysctl
	// sources would show a different namespace from the /proc files, so
	// they are left out.
	notLive string
	// notLiveCaps are the capabilities that would let netdx enter the
	// host's namespace, comma-separated.
	notLiveCaps string
}

// NewSources reads procPath and sysPath in the caller's own network
// namespace, with live netlink and ethtool.
func NewSources(procPath, sysPath string, log *slog.Logger) (*Sources, error) {
	pfs, err := procfs.NewFS(procPath)
	if err != nil {
		return nil, fmt.Errorf("open procfs at %s: %w", procPath, err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Sources{
		Proc: pfs, ProcPath: procPath, SysPath: sysPath, NetPath: filepath.Join(procPath, "net"),
		Netlink: liveNetlink{}, OpenEthtool: openEthtool, SysfsNet: true, Log: log,
	}, nil
}

// Options say what netdx diag reads.
type Options struct {
	// Proc and Sys are the procfs and sysfs roots; empty means /proc and /sys.
	Proc, Sys string
	// NetNS is a namespace name under /run/netns or a path to a namespace
	// file; empty reads the caller's own (or, with a Proc other than
	// /proc, the namespace of that procfs's PID 1: the host's).
	NetNS  string
	Ifaces []string
	Log    *slog.Logger
}

// ErrNoNetNS is returned by Open when the named namespace does not exist.
var ErrNoNetNS = errors.New("no such network namespace")

// Open prepares the sources for o. A namespace that cannot be entered for
// lack of privilege is not an error here: Take records it as a skip, so
// the report says what was needed.
func Open(o Options) (*Sources, error) {
	if o.Proc == "" {
		o.Proc = "/proc"
	}
	if o.Sys == "" {
		o.Sys = "/sys"
	}
	src, err := NewSources(o.Proc, o.Sys, o.Log)
	if err != nil {
		return nil, err
	}
	src.Ifaces = o.Ifaces
	switch {
	case o.NetNS != "":
		path := o.NetNS
		if !strings.Contains(path, "/") {
			path = filepath.Join("/run/netns", path)
		}
		h, err := netns.GetFromPath(path)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("%w %q (%s); `ip netns list` lists them", ErrNoNetNS, o.NetNS, path)
			}
			return nil, &SourceError{Source: "network namespace " + path, Err: err, Fix: "opening another network namespace needs CAP_SYS_ADMIN: run as root", Capability: caps.SysAdmin.String()}
		}
		src.enter(h, o.NetNS)
		src.SysfsNet = false
	case filepath.Clean(o.Proc) != "/proc":
		src.hostFromContainer()
	}
	return src, nil
}

// enter makes Take read namespace h, named name.
func (s *Sources) enter(h netns.NsHandle, name string) {
	s.ns, s.switchNS, s.NetNS = h, true, name
	s.NetPath = filepath.Join(s.ProcPath, "thread-self", "net")
	s.Netlink = liveNetlink{}
}

// hostFromContainer handles a host /proc mounted in a container: the
// per-namespace files under ProcPath/net follow the reading process, so
// they would show the container's namespace. netdx enters the namespace
// of the host's PID 1 when it may; otherwise it reads ProcPath/1/net and
// leaves out the sources that can only show the container's namespace.
func (s *Sources) hostFromContainer() {
	hostPath := filepath.Join(s.ProcPath, "1", "ns", "net")
	var host, own unix.Stat_t
	if err := unix.Stat(hostPath, &host); err != nil {
		// Only a process allowed to trace PID 1 may look at its
		// namespace link. Without that, PID 1's routes and addresses,
		// which it may read, tell whether the namespace is netdx's own
		// (hostNetwork); when they differ it reads PID 1's files.
		if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) {
			if sameNetNS(filepath.Join(s.ProcPath, "1", "net"), "/proc/thread-self/net") {
				return
			}
			s.hostFilesOnly(fmt.Errorf("%s: %w", hostPath, err), caps.SysAdmin.String()+","+caps.SysPtrace.String())
		}
		return // otherwise a fixture tree, or no PID 1 to follow: read ProcPath/net
	}
	if unix.Stat("/proc/thread-self/ns/net", &own) != nil {
		return
	}
	if host.Ino == own.Ino && host.Dev == own.Dev {
		return // already in the host's namespace (hostNetwork)
	}
	h, err := netns.GetFromPath(hostPath)
	if err == nil {
		err = probeEnter(h)
	}
	if err == nil {
		s.enter(h, "")
		return
	}
	if h.IsOpen() {
		h.Close()
	}
	s.hostFilesOnly(err, caps.SysAdmin.String())
}

// hostFilesOnly reads the host's per-namespace files from ProcPath/1/net
// and leaves out the sources that would show netdx's own namespace; err
// says why it could not enter the host's, need names the capabilities
// that would let it.
func (s *Sources) hostFilesOnly(err error, need string) {
	s.NetPath = filepath.Join(s.ProcPath, "1", "net")
	s.notLiveCaps = need
	s.notLive = "could not enter the network namespace of the host's PID 1 (" + err.Error() + ")"
	s.Warnings = append(s.Warnings, "Reading the host's /proc files from "+s.NetPath+"; interface attributes, qdiscs, ethtool, sockets and sysctls are left out because from this container they would show the container's own namespace. Run with hostNetwork (or "+strings.ReplaceAll(need, ",", " and ")+") to read them.")
}

// sameNetNS reports whether two net directories of /proc (PROC/PID/net)
// show one network namespace: their route and if_inet6 tables, which hold
// no counters, are identical and not empty. It is the test left when the
// namespace links themselves may not be compared.
func sameNetNS(a, b string) bool {
	same := false
	for _, name := range []string{"route", "if_inet6"} {
		x, errA := os.ReadFile(filepath.Join(a, name))
		y, errB := os.ReadFile(filepath.Join(b, name))
		switch {
		case errA != nil || errB != nil:
			continue
		case !bytes.Equal(x, y):
			return false
		case bytes.Count(x, []byte("\n")) > 1:
			same = true // more than route's header, or than the loopback address
		}
	}
	return same
}

// probeEnter checks that the calling process may switch into h.
func probeEnter(h netns.NsHandle) error {
	return runIn(h, func() {})
}

// Close releases the namespace handle.
func (s *Sources) Close() error {
	if s.switchNS {
		s.switchNS = false
		return s.ns.Close()
	}
	return nil
}

// liveOnly returns an error when the live (netlink, ethtool, sysctl)
// sources would show another namespace than the one being read.
func (s *Sources) liveOnly(source string) error {
	if s.notLive == "" {
		return nil
	}
	return &SourceError{Source: source, Err: fmt.Errorf("%s: %w", s.notLive, fs.ErrPermission), Fix: "run the container with hostNetwork, or with " +
		strings.ReplaceAll(s.notLiveCaps, ",", " and ") + " so netdx can enter the host's network namespace",
		Capability: s.notLiveCaps}
}

// inNetNS runs fn on an OS thread switched into the namespace being read,
// or directly when that is the caller's own.
func (s *Sources) inNetNS(fn func()) error {
	if !s.switchNS {
		fn()
		return nil
	}
	err := runIn(s.ns, fn)
	if err != nil {
		return &SourceError{Source: s.nsLabel(), Err: err, Fix: "entering another network namespace needs CAP_SYS_ADMIN: run as root",
			Capability: caps.SysAdmin.String()}
	}
	return nil
}

// nsLabel names the namespace being read, for messages.
func (s *Sources) nsLabel() string {
	if s.NetNS == "" {
		return "the host's network namespace (" + filepath.Join(s.ProcPath, "1", "ns", "net") + ")"
	}
	return "network namespace " + s.NetNS
}

// outside runs fn in the caller's own namespace, for host-global sources
// a child namespace does not show (net.core.netdev_max_backlog). A new
// goroutine never runs on the locked thread Take switched.
func (s *Sources) outside(fn func()) {
	if !s.switchNS {
		fn()
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	<-done
}

// runIn runs fn on a locked OS thread switched into h, then switches back.
// If switching back fails the thread stays locked, so the runtime retires
// it rather than reuse a thread in the wrong namespace.
func runIn(h netns.NsHandle, fn func()) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	if err := netns.Set(h); err != nil {
		runtime.UnlockOSThread()
		if errors.Is(err, syscall.EPERM) {
			return fmt.Errorf("setns: %w", err)
		}
		return err
	}
	fn()
	if err := netns.Set(orig); err != nil {
		return fmt.Errorf("return to the original namespace: %w", err)
	}
	runtime.UnlockOSThread()
	return nil
}

// fillDefaults completes Sources built as a literal: the live back ends,
// a discarding logger, and the namespace's files under ProcPath/net.
func (s *Sources) fillDefaults() {
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	if s.Netlink == nil {
		s.Netlink = liveNetlink{}
	}
	if s.OpenEthtool == nil {
		s.OpenEthtool = openEthtool
	}
	if s.NetPath == "" {
		s.NetPath = filepath.Join(s.ProcPath, "net")
	}
}

// netFile is the path of a per-namespace file under NetPath.
func (s *Sources) netFile(name string) string { return filepath.Join(s.NetPath, name) }

// wants reports whether per-interface sources should read iface.
func (s *Sources) wants(iface string) bool {
	if len(s.Ifaces) == 0 {
		return true
	}
	for _, n := range s.Ifaces {
		if n == iface {
			return true
		}
	}
	return false
}

// readFile reads a whole kernel file, wrapping open errors in SourceError
// so they classify as permission, absent or unsupported.
func readFile(path string) ([]byte, error) { return readFileStat(path, nil) }

// readFileStat is readFile that also fills st, when not nil, from the open
// file. It makes no other system call than open, read and close (and
// fstat for st): os.ReadFile would also ask the size, which /proc and
// /sys do not know, and try to register the file with the poller, which
// a kernel file refuses, five calls more for each of the many small files
// a snapshot reads.
func readFileStat(path string, st *unix.Stat_t) ([]byte, error) {
	fd, err := ignoringEINTR(func() (int, error) { return unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0) })
	if err != nil {
		return nil, &SourceError{Source: path, Err: err}
	}
	defer unix.Close(fd)
	if st != nil {
		if err := unix.Fstat(fd, st); err != nil {
			return nil, &SourceError{Source: path, Err: err}
		}
	}
	b := make([]byte, 0, 512)
	for {
		if len(b) == cap(b) {
			b = slices.Grow(b, cap(b))
		}
		n, err := ignoringEINTR(func() (int, error) { return unix.Read(fd, b[len(b):cap(b)]) })
		switch {
		case err != nil:
			return nil, &SourceError{Source: path, Err: err}
		case n == 0:
			return b, nil
		}
		b = b[:len(b)+n]
	}
}

// ignoringEINTR retries a system call a signal interrupted.
func ignoringEINTR(call func() (int, error)) (int, error) {
	for {
		n, err := call()
		if err != unix.EINTR {
			return n, err
		}
	}
}

// unwrapPathError returns the errno inside a *fs.PathError so messages
// do not repeat the path.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
