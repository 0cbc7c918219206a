package collectors

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// MPTCP recordings (testdata/mptcp/*.txt) hold the kernel's answers to the
// collector, one message a line as hex, so decoder tests replay a real
// kernel. TestMPTCPRecord writes them from the lab.

func writeMPTCPRecording(path, comment string, raw *mptcpRaw) error {
	var b bytes.Buffer
	for _, l := range strings.Split(comment, "\n") {
		fmt.Fprintf(&b, "# %s\n", l)
	}
	names := make([]string, 0, len(raw.Sysctls))
	for k := range raw.Sysctls {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Fprintf(&b, "sysctl %s %s\n", k, raw.Sysctls[k])
	}
	if raw.PMRead {
		fmt.Fprintf(&b, "pm\nlimits %x\n", raw.Limits)
		for _, m := range raw.Endpoints {
			fmt.Fprintf(&b, "endpoint %x\n", m)
		}
	}
	if raw.SocksRead {
		b.WriteString("socks\n")
		for _, m := range raw.MPTCPSocks {
			fmt.Fprintf(&b, "mptcp_sock %x\n", m)
		}
		for _, m := range raw.TCPSocks {
			fmt.Fprintf(&b, "tcp_sock %x\n", m)
		}
	}
	if raw.LinksRead {
		b.WriteString("links\n")
		for _, l := range raw.Links {
			state := "down"
			if l.Up {
				state = "up"
			}
			addrs := make([]string, 0, len(l.Addrs))
			for _, a := range l.Addrs {
				addrs = append(addrs, a.String())
			}
			fmt.Fprintf(&b, "link %d %s %s %s\n", l.Index, l.Name, state, strings.Join(addrs, ","))
		}
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

func readMPTCPRecording(t testing.TB, path string) *mptcpRaw {
	t.Helper()
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("skipped: the recordings hold little-endian netlink messages and this machine is big-endian")
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	raw := &mptcpRaw{Sysctls: map[string]string{}}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		kind, rest, _ := strings.Cut(line, " ")
		msg := func() []byte {
			b, err := hex.DecodeString(rest)
			if err != nil {
				t.Fatalf("%s:%d: %v", path, n, err)
			}
			return b
		}
		switch kind {
		case "sysctl":
			k, v, _ := strings.Cut(rest, " ")
			raw.Sysctls[k] = v
		case "pm":
			raw.PMRead = true
		case "limits":
			raw.Limits = msg()
		case "endpoint":
			raw.Endpoints = append(raw.Endpoints, msg())
		case "socks":
			raw.SocksRead = true
		case "mptcp_sock":
			raw.MPTCPSocks = append(raw.MPTCPSocks, msg())
		case "tcp_sock":
			raw.TCPSocks = append(raw.TCPSocks, msg())
		case "links":
			raw.LinksRead = true
		case "link":
			f := strings.Fields(rest)
			if len(f) < 3 {
				t.Fatalf("%s:%d: short link line", path, n)
			}
			idx, err := strconv.Atoi(f[0])
			if err != nil {
				t.Fatalf("%s:%d: %v", path, n, err)
			}
			l := mptcpLink{Index: idx, Name: f[1], Up: f[2] == "up"}
			if len(f) > 3 {
				for _, a := range strings.Split(f[3], ",") {
					l.Addrs = append(l.Addrs, netip.MustParseAddr(a))
				}
			}
			raw.Links = append(raw.Links, l)
		default:
			t.Fatalf("%s:%d: unknown line kind %q", path, n, kind)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return raw
}
