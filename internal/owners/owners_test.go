package owners

import (
	"net"
	"os"
	"testing"

	"github.com/prometheus/procfs"
	"golang.org/x/sys/unix"
)

func TestSocketInode(t *testing.T) {
	for in, want := range map[string]uint64{"socket:[12345]": 12345, "pipe:[7]": 0, "socket:[x]": 0, "/dev/null": 0} {
		got, ok := SocketInode(in)
		if got != want || ok != (want != 0) {
			t.Errorf("%q: %d %v, want %d", in, got, ok, want)
		}
	}
}

// TestNameOwnSocket names a socket this process holds, and leaves one
// no process holds (inode 1) unnamed without error.
func TestNameOwnSocket(t *testing.T) {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Skipf("skipped: no UDP socket: %v", err)
	}
	defer c.Close()
	f, err := c.(*net.UDPConn).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skipf("skipped: no /proc: %v", err)
	}
	var mine, nobody *Process
	err = Name("/proc", map[uint64]**Process{st.Ino: &mine, 1: &nobody})
	if mine == nil || mine.PID != os.Getpid() {
		t.Fatalf("own socket named %v (%v), want pid %d", mine, err, os.Getpid())
	}
	if nobody != nil {
		t.Errorf("inode 1 named %v", nobody)
	}
}

// TestNameAgreesWithProcfs names every socket of every process of this
// host and compares with procfs's reading of the same descriptors: the
// lowest PID holding a socket owns it, with its command name.
func TestNameAgreesWithProcfs(t *testing.T) {
	fs, err := procfs.NewFS("/proc")
	if err != nil {
		t.Skipf("skipped: no /proc: %v", err)
	}
	procs, err := fs.AllProcs()
	if err != nil {
		t.Fatal(err)
	}
	truth := map[uint64]Process{}
	for _, p := range procs {
		targets, err := p.FileDescriptorTargets()
		if err != nil {
			continue
		}
		for _, tg := range targets {
			if ino, ok := SocketInode(tg); ok {
				if _, seen := truth[ino]; !seen {
					comm, _ := p.Comm()
					truth[ino] = Process{PID: p.PID, Comm: comm}
				}
			}
		}
	}
	if len(truth) == 0 {
		t.Skip("no process's sockets are readable here")
	}
	want := map[uint64]**Process{}
	for ino := range truth {
		want[ino] = new(*Process)
	}
	if err := Name("/proc", want); err != nil {
		t.Logf("Name: %v", err)
	}
	for ino, p := range want {
		// A process may exit or close the socket between the two scans.
		if *p == nil {
			t.Logf("socket %d (of %v) unnamed: gone?", ino, truth[ino])
			continue
		}
		if **p != truth[ino] {
			t.Errorf("socket %d named %v, procfs says %v", ino, **p, truth[ino])
		}
	}
	t.Logf("%d sockets compared", len(truth))
}
