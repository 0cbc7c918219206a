package netlab

import (
	"os"
	"strings"
	"testing"
)

func TestNSIsolatedAndRemoved(t *testing.T) {
	var path string
	t.Run("create", func(t *testing.T) {
		ns := NewNS(t, "base")
		path = ns.Path()
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("namespace not mounted: %v", err)
		}
		if err := ns.SetSysctl("net/ipv4/ip_forward", "1"); err != nil {
			t.Fatal(err)
		}
		var inside []byte
		err := ns.Do(func() (err error) {
			inside, err = os.ReadFile("/proc/sys/net/ipv4/ip_forward")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(string(inside)) != "1" {
			t.Errorf("ip_forward inside = %q, want 1", inside)
		}
		links, err := ns.Netlink().LinkList()
		if err != nil {
			t.Fatal(err)
		}
		if len(links) != 1 || links[0].Attrs().Name != "lo" {
			t.Errorf("new namespace has links %v, want only lo", links)
		}
	})
	if path == "" {
		return // skipped
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("namespace %s still mounted after the test ended (stat: %v)", path, err)
	}
}
