package netlab

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Counters are the namespace's protocol counters from /proc/net/snmp,
// /proc/net/snmp6 and /proc/net/netstat, keyed "Tcp.RetransSegs",
// "TcpExt.TCPFastRetrans", "Ip6.InReceives": the kernel's own truth about
// what its TCP did.
type Counters map[string]int64

// Sub returns c minus before, key by key.
func (c Counters) Sub(before Counters) Counters {
	out := Counters{}
	for k, v := range c {
		out[k] = v - before[k]
	}
	return out
}

// Counters reads the namespace's protocol counters.
func (n *NS) Counters() (Counters, error) {
	c := Counters{}
	for _, name := range []string{"snmp", "netstat"} {
		b, err := n.ReadNetFile(name)
		if err != nil {
			return nil, err
		}
		if err := parsePairedLines(b, c); err != nil {
			return nil, fmt.Errorf("/proc/net/%s in %s: %w", name, n.Name, err)
		}
	}
	b, err := n.ReadNetFile("snmp6")
	if err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) != 2 {
				continue
			}
			// "Ip6InReceives" -> "Ip6.InReceives", "Icmp6InMsgs" -> "Icmp6.InMsgs"
			i := strings.IndexByte(f[0], '6')
			if v, err := strconv.ParseInt(f[1], 10, 64); err == nil && i > 0 {
				c[f[0][:i+1]+"."+f[0][i+1:]] = v
			}
		}
	}
	return c, nil
}

// parsePairedLines reads the "Proto: names..." / "Proto: values..." line
// pairs of /proc/net/snmp and /proc/net/netstat.
func parsePairedLines(b []byte, c Counters) error {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var head []string
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if head == nil || head[0] != f[0] {
			head = f
			continue
		}
		if len(f) != len(head) {
			return fmt.Errorf("%s has %d values for %d names", f[0], len(f)-1, len(head)-1)
		}
		proto := strings.TrimSuffix(f[0], ":")
		for i := 1; i < len(f); i++ {
			if v, err := strconv.ParseInt(f[i], 10, 64); err == nil {
				c[proto+"."+head[i]] = v
			}
		}
		head = nil
	}
	return sc.Err()
}
