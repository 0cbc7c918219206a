package drops

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// nsInfo is what is known of one namespace.
type nsInfo struct {
	name, process string
	path          string // a file to setns(2) to: /run/netns/NAME, /proc/PID/ns/net
	current, host bool
	found         time.Time // when it was looked for
}

// relookAfter is how long a namespace found nowhere waits before it is
// looked for again (it may be named, or get a process, later).
const relookAfter = 10 * time.Second

// namer names namespaces and their interfaces. Names are looked up on a
// namespace's first sight and kept: a namespace is identified by its
// cookie, which is never reused, so a name once found stays right. (Its
// inode is reused after it dies; it is only the way in when cookies
// cannot be read.) A namespace found nowhere is looked for again after
// relookAfter.
type namer struct {
	netnsDir, procDir string
	self              uint64 // this process's namespace cookie
	selfInode         uint32
	hostInode         uint32 // the namespace of process 1
	byCookie          map[uint64]*nsInfo
	ifnames           map[ifKey]string
	noCookies         bool // setns is refused: match by inode instead
}

type ifKey struct {
	cookie  uint64
	ifindex uint32
}

func newNamer(netnsDir, procDir string) *namer {
	n := &namer{netnsDir: netnsDir, procDir: procDir, byCookie: map[uint64]*nsInfo{}, ifnames: map[ifKey]string{}}
	n.self, _ = currentNetnsCookie()
	n.selfInode, _ = inodeOf(filepath.Join(procDir, "thread-self/ns/net"))
	n.hostInode, _ = inodeOf(filepath.Join(procDir, "1/ns/net"))
	return n
}

// currentNetnsCookie is the net cookie of the calling thread's namespace:
// SO_NETNS_COOKIE (Linux 5.14) on a socket made there.
func currentNetnsCookie() (uint64, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	cookie, err := unix.GetsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_NETNS_COOKIE)
	if err != nil {
		return 0, os.NewSyscallError("getsockopt SO_NETNS_COOKIE", err)
	}
	return cookie, nil
}

// cookieAt is the cookie of the namespace bound at path, read from a
// socket made inside it (needs CAP_SYS_ADMIN).
func cookieAt(path string) (uint64, error) {
	var cookie uint64
	err := inNetns(path, func() (err error) {
		cookie, err = currentNetnsCookie()
		return err
	})
	return cookie, err
}

// inNetns runs fn on a locked thread switched into the namespace bound
// at path (setns(2), needs CAP_SYS_ADMIN), then switches back.
func inNetns(path string, fn func() error) error {
	target, err := netns.GetFromPath(path)
	if err != nil {
		return err
	}
	defer target.Close()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	if err := netns.Set(target); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("setns %s: %w", path, err)
	}
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		// The thread is stuck in the wrong namespace: it stays locked,
		// so it ends with its goroutine rather than go back to the
		// scheduler.
		return fmt.Errorf("return from %s: %w", path, err)
	}
	runtime.UnlockOSThread()
	return ferr
}

// lookup returns what is known of the namespace, reading the named and
// the processes' namespaces when it is new.
func (n *namer) lookup(cookie uint64, inode uint32) *nsInfo {
	if cookie == 0 && inode == 0 {
		return nil
	}
	if (cookie != 0 && cookie == n.self) || (cookie == 0 && inode == n.selfInode) {
		return &nsInfo{current: true, host: n.selfInode != 0 && n.selfInode == n.hostInode}
	}
	info, ok := n.byCookie[cookie]
	if ok && cookie != 0 && (info.path != "" || time.Since(info.found) < relookAfter) {
		return info
	}
	info = n.find(cookie, inode)
	info.found = time.Now()
	if cookie != 0 {
		n.byCookie[cookie] = info
	}
	return info
}

// named reads the cookie of every /run/netns entry and keeps its name:
// the namespaces netdx can enter by name, by cookie. Entries whose
// cookie cannot be read (setns refused) are left out.
func (n *namer) named() map[uint64]*nsInfo {
	out := map[uint64]*nsInfo{}
	entries, _ := os.ReadDir(n.netnsDir)
	for _, e := range entries {
		path := filepath.Join(n.netnsDir, e.Name())
		cookie, err := cookieAt(path)
		if err != nil || cookie == 0 {
			continue
		}
		info := &nsInfo{name: e.Name(), path: path, found: time.Now()}
		n.byCookie[cookie] = info
		out[cookie] = info
	}
	return out
}

// find looks for the namespace among /run/netns, then among the
// processes' namespaces.
func (n *namer) find(cookie uint64, inode uint32) *nsInfo {
	entries, _ := os.ReadDir(n.netnsDir)
	for _, e := range entries {
		path := filepath.Join(n.netnsDir, e.Name())
		if n.matches(path, cookie, inode) {
			return &nsInfo{name: e.Name(), path: path}
		}
	}
	procs, _ := os.ReadDir(n.procDir)
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		path := filepath.Join(n.procDir, p.Name(), "ns", "net")
		// The link reads "net:[4026531840]": no setns needed to
		// compare inodes; the cookie check follows.
		link, err := os.Readlink(path)
		if err != nil || link != "net:["+strconv.FormatUint(uint64(inode), 10)+"]" {
			continue
		}
		if !n.matches(path, cookie, inode) {
			continue
		}
		comm, _ := os.ReadFile(filepath.Join(n.procDir, p.Name(), "comm"))
		return &nsInfo{process: strings.TrimSpace(string(comm)) + "[" + strconv.Itoa(pid) + "]", path: path}
	}
	return &nsInfo{}
}

// matches says whether the namespace at path is the one sought: by
// cookie when setns is allowed, else by inode.
func (n *namer) matches(path string, cookie uint64, inode uint32) bool {
	if cookie != 0 && !n.noCookies {
		c, err := cookieAt(path)
		if err == nil {
			return c == cookie
		}
		if errors.Is(err, os.ErrPermission) {
			n.noCookies = true
		}
	}
	ino, err := inodeOf(path)
	return err == nil && ino == inode
}

// inodeOf is the inode of the namespace file at path (namespace inodes
// are 32-bit, net->ns.inum).
func inodeOf(path string) (uint32, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	return uint32(st.Ino), nil
}

// ifname names the interface ifindex of the namespace, through a netlink
// socket opened in it. "" when it cannot be read or is gone.
func (n *namer) ifname(cookie uint64, info *nsInfo, ifindex uint32) string {
	if ifindex == 0 || info == nil {
		return ""
	}
	k := ifKey{cookie, ifindex}
	if name, ok := n.ifnames[k]; ok {
		return name
	}
	var name string
	if info.current {
		if ifc, err := net.InterfaceByIndex(int(ifindex)); err == nil {
			name = ifc.Name
		}
	} else if info.path != "" {
		name = linkNameAt(info.path, int(ifindex))
	}
	if name != "" {
		n.ifnames[k] = name
	}
	return name
}

func linkNameAt(path string, ifindex int) string {
	h, err := netns.GetFromPath(path)
	if err != nil {
		return ""
	}
	defer h.Close()
	nl, err := netlink.NewHandleAt(h)
	if err != nil {
		return ""
	}
	defer nl.Close()
	l, err := nl.LinkByIndex(ifindex)
	if err != nil {
		return ""
	}
	return l.Attrs().Name
}
