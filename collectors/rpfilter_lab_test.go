package collectors

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/netdx/netdx/internal/netlab"
)

// TestRPFilterLab sends datagrams that arrive on one interface while the
// route back leaves by another, under each rp_filter setting: the
// receiver's TcpExt.IPReversePathFilter counts the drops, and the
// collectors read every setting that decides them. The kernel applies the
// larger of conf.all and the arrival interface's value (1 strict, 2
// loose); the way back's own value plays no part.
func TestRPFilterLab(t *testing.T) {
	const sent = 50
	for _, tc := range []struct {
		all, in, back int
		dropped       bool
	}{
		{0, 0, 0, false},
		{0, 1, 0, true},  // strict on the way in
		{0, 2, 0, false}, // loose: some route back exists
		{1, 0, 0, true},  // conf.all strict wins over the interface's 0
		{2, 1, 0, false}, // max(2, 1): loose
		{1, 2, 0, false}, // max(1, 2): loose
		{0, 0, 1, false}, // strict on the way back only: no effect
	} {
		t.Run(fmt.Sprintf("all=%d,in=%d,back=%d", tc.all, tc.in, tc.back), func(t *testing.T) {
			a := netlab.NewAsymmetric(t)
			for _, kv := range []struct {
				conf string
				v    int
			}{{"all", tc.all}, {a.In, tc.in}, {a.Back, tc.back}} {
				if err := a.Receiver.SetSysctl("net/ipv4/conf/"+kv.conf+"/rp_filter", strconv.Itoa(kv.v)); err != nil {
					t.Fatal(err)
				}
			}
			var fd int
			err := a.Receiver.Do(func() (err error) {
				if fd, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0); err != nil {
					return err
				}
				return unix.Bind(fd, &unix.SockaddrInet4{Addr: a.Target.As4(), Port: 9999})
			})
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			before, err := a.Receiver.Counters()
			if err != nil {
				t.Fatal(err)
			}
			if err := a.SendUDP(9999, sent); err != nil {
				t.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond)
			after, err := a.Receiver.Counters()
			if err != nil {
				t.Fatal(err)
			}
			d := after.Sub(before)
			received := int64(0)
			for {
				if _, _, err := unix.Recvfrom(fd, make([]byte, 64), 0); err != nil {
					break
				}
				received++
			}
			t.Logf("all=%d %s=%d %s=%d: IPReversePathFilter +%d, Ip.InReceives +%d, Ip.InDelivers +%d, received %d",
				tc.all, a.In, tc.in, a.Back, tc.back, d["TcpExt.IPReversePathFilter"], d["Ip.InReceives"], d["Ip.InDelivers"], received)
			wantDrops, wantIn := int64(0), int64(sent)
			if tc.dropped {
				wantDrops, wantIn = sent, 0
			}
			if d["TcpExt.IPReversePathFilter"] != wantDrops || received != wantIn || d["Ip.InReceives"] != sent {
				t.Errorf("IPReversePathFilter +%d, datagrams received %d of %d arrived; want %d and %d", d["TcpExt.IPReversePathFilter"], received, d["Ip.InReceives"], wantDrops, wantIn)
			}
			snap, _ := takeIn(t, a.Receiver)
			for conf, v := range map[string]int{"all": tc.all, a.In: tc.in, a.Back: tc.back, "default": 0} {
				name := "net.ipv4.conf." + conf + ".rp_filter"
				if got, ok := snap.Sysctls.Int(name); !ok || got != int64(v) {
					t.Errorf("%s read %d (%v), set %d", name, got, ok, v)
				}
			}
			if got, ok := snap.Netstat.Get("TcpExt", "IPReversePathFilter"); !ok || int64(got) != after["TcpExt.IPReversePathFilter"] {
				t.Errorf("snapshot IPReversePathFilter %d (%v), the namespace's %d", got, ok, after["TcpExt.IPReversePathFilter"])
			}
		})
	}
}
