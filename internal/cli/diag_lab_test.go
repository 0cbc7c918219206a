package cli

import (
	"bufio"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/netdx/netdx/internal/netlab"
	"github.com/netdx/netdx/report"
)

// lab is a namespace with 198.18.0.1 on its loopback and a TCP listener
// there that never accepts.
type lab struct {
	ns       *netlab.NS
	listenFD int
	port     int
}

func newLab(t *testing.T, backlog int) *lab {
	t.Helper()
	ns := netlab.NewNS(t, "diag")
	lo, err := ns.Netlink().LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := ns.Netlink().AddrAdd(lo, &netlink.Addr{IPNet: &net.IPNet{IP: net.IPv4(198, 18, 0, 1), Mask: net.CIDRMask(32, 32)}}); err != nil {
		t.Fatal(err)
	}
	l := &lab{ns: ns, listenFD: -1}
	err = ns.Do(func() error {
		var err error
		if l.listenFD, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0); err != nil {
			return err
		}
		if err := unix.Bind(l.listenFD, &unix.SockaddrInet4{Addr: [4]byte{198, 18, 0, 1}}); err != nil {
			return err
		}
		return unix.Listen(l.listenFD, backlog)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(l.listenFD) })
	sa, err := unix.Getsockname(l.listenFD)
	if err != nil {
		t.Fatal(err)
	}
	l.port = sa.(*unix.SockaddrInet4).Port
	return l
}

// flood opens a non-blocking connection to the listener every few
// milliseconds from inside the namespace until stop is called; the sockets
// are closed then.
func (l *lab) flood(t *testing.T) (stop func()) {
	var (
		mu   sync.Mutex
		fds  []int
		done = make(chan struct{})
		wg   sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			err := l.ns.Do(func() error {
				fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
				if err != nil {
					return err
				}
				mu.Lock()
				fds = append(fds, fd)
				mu.Unlock()
				err = unix.Connect(fd, &unix.SockaddrInet4{Addr: [4]byte{198, 18, 0, 1}, Port: l.port})
				if err != nil && err != unix.EINPROGRESS {
					return err
				}
				return nil
			})
			if err != nil {
				t.Errorf("flood: %v", err)
				return
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, fd := range fds {
			unix.Close(fd)
		}
	}
}

// listenOverflows reads TcpExt.ListenOverflows inside the namespace: the
// ground truth the report is checked against.
func (l *lab) listenOverflows(t *testing.T) uint64 {
	t.Helper()
	var v uint64
	err := l.ns.Do(func() error {
		f, err := os.Open("/proc/thread-self/net/netstat")
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			names := strings.Fields(sc.Text())
			if !sc.Scan() || len(names) == 0 || names[0] != "TcpExt:" {
				continue
			}
			vals := strings.Fields(sc.Text())
			for i, n := range names {
				if n == "ListenOverflows" {
					v, err = strconv.ParseUint(vals[i], 10, 64)
					return err
				}
			}
		}
		return sc.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestDiagListenOverflowInNetNS provokes accept queue overflows in a
// namespace (backlog 1, never accepted, flooded) and runs `netdx diag
// --netns` against it: the report must name that listener, this process,
// and the cap, and its count must agree with the kernel's.
func TestDiagListenOverflowInNetNS(t *testing.T) {
	l := newLab(t, 1)
	truthBefore := l.listenOverflows(t)
	stop := l.flood(t)
	time.Sleep(200 * time.Millisecond) // fill the queue first

	a, out, errb := testApp()
	a.Now = time.Now
	code := execute(t, a, nil, "diag", "--netns", l.ns.Name, "--interval", "1s", "--json", "--fail-on", "none")
	stop()
	truthAfter := l.listenOverflows(t)
	if code != exitOK {
		t.Fatalf("exit %d; stderr %s", code, errb)
	}
	var rep report.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Host.NetNS != l.ns.Name {
		t.Errorf("host netns = %q", rep.Host.NetNS)
	}
	var f *report.Finding
	for i := range rep.Findings {
		if rep.Findings[i].ID == "tcp.listen_overflow" {
			f = &rep.Findings[i]
		}
	}
	if f == nil {
		t.Fatalf("no tcp.listen_overflow; findings %+v; overflows %d→%d", rep.Findings, truthBefore, truthAfter)
	}
	want := "198.18.0.1:" + strconv.Itoa(l.port) + " (" + filepath.Base(os.Args[0])[:min(15, len(filepath.Base(os.Args[0])))] + "[" + strconv.Itoa(os.Getpid()) + "])"
	if f.Subject != want {
		t.Errorf("subject %q, want %q", f.Subject, want)
	}
	if !strings.Contains(strings.Join(f.Fix, "\n"), "asked listen() for a backlog of 1, below net.core.somaxconn=4096, so raising somaxconn alone will not help") {
		t.Errorf("fix does not say the application's backlog is the cap:\n%s", strings.Join(f.Fix, "\n"))
	}
	// The reported growth happened between our two readings of the truth.
	got := rep.Diag.Netstat["TcpExt"]["ListenOverflows"]
	if got.Delta == nil || *got.Delta == 0 || *got.Delta > truthAfter-truthBefore {
		t.Errorf("reported ListenOverflows delta %v, kernel grew %d over the whole run", got.Delta, truthAfter-truthBefore)
	}
	if got.Total < truthBefore || got.Total > truthAfter {
		t.Errorf("reported total %d outside the kernel's %d..%d", got.Total, truthBefore, truthAfter)
	}
	// The listener's own drop counter tells the same story.
	var listener *report.DiagListener
	for i := range rep.Diag.Sockets.Listeners {
		if rep.Diag.Sockets.Listeners[i].Port == l.port {
			listener = &rep.Diag.Sockets.Listeners[i]
		}
	}
	if listener == nil || listener.Backlog != 1 || listener.Drops == nil || listener.Drops.Delta == nil || *listener.Drops.Delta == 0 {
		t.Errorf("listener = %+v", listener)
	}
	if len(rep.Diag.Sockets.Listeners) != 1 {
		t.Errorf("the namespace has one listener, report has %d", len(rep.Diag.Sockets.Listeners))
	}
}

// runAsNobody runs this test binary as the netdx command under uid 65534
// and returns its exit status, stdout and stderr.
func runAsNobody(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	dir := searchableTempDir(t)
	bin := filepath.Join(dir, "netdx")
	b, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"NETDX_TEST_MAIN=1", "PATH=/usr/bin:/bin"}
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, stdout.String(), stderr.String()
}

// searchableTempDir is a t.TempDir that other users may enter: the
// testing package makes its directories private.
func searchableTempDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for d := dir; strings.HasPrefix(d, os.TempDir()+"/"); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
