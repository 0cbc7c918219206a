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
	fs, err := procfs.NewFS("/proc")
	if err != nil {
		t.Skipf("skipped: no /proc: %v", err)
	}
	var mine, nobody *Process
	err = Name(fs, map[uint64]**Process{st.Ino: &mine, 1: &nobody})
	if mine == nil || mine.PID != os.Getpid() {
		t.Fatalf("own socket named %v (%v), want pid %d", mine, err, os.Getpid())
	}
	if nobody != nil {
		t.Errorf("inode 1 named %v", nobody)
	}
}
