package collectors

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
)

// netstat reads /proc/net/netstat, /proc/net/snmp and /proc/net/snmp6 of
// the namespace into Snapshot.Netstat, keeping every counter by the name
// the kernel prints, including names netdx does not know yet.
type netstat struct{}

func init() { Register(netstat{}) }

func (netstat) Name() string { return "netstat" }

func (netstat) Collect(_ context.Context, src *Sources, snap *Snapshot) error {
	c := NetCounters{}
	for _, f := range []struct {
		name  string
		parse func(io.Reader, string, NetCounters) error
	}{
		{"netstat", parseNetstat},
		{"snmp", parseNetstat},
		{"snmp6", parseSnmp6},
	} {
		path := src.netFile(f.name)
		b, err := readFile(path)
		if err == nil {
			err = f.parse(bytes.NewReader(b), path, c)
		}
		if err != nil {
			if f.name == "snmp6" && errors.Is(err, errors.ErrUnsupported) {
				// IPv6 is disabled: nothing to judge, nothing to report.
				continue
			}
			// Report each file that failed and keep the ones read.
			snap.AddSkip("netstat", err)
		}
	}
	if len(c) > 0 {
		snap.Netstat = c
	}
	return nil
}

// parseNetstat parses the paired-line format of /proc/net/netstat and
// /proc/net/snmp: a header line "Section: Name1 Name2 ..." followed by a
// value line "Section: 1 2 ...". Negative values (Tcp MaxConn is -1, "no
// limit") are constants, not counters, and are left out.
func parseNetstat(r io.Reader, path string, c NetCounters) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	line := 0
	for sc.Scan() {
		line++
		header := sc.Text()
		if strings.TrimSpace(header) == "" {
			continue
		}
		if !sc.Scan() {
			return parseErr(path, line, "header line without a value line")
		}
		line++
		values := sc.Text()
		hs, hn, ok1 := strings.Cut(header, ":")
		vs, vn, ok2 := strings.Cut(values, ":")
		if !ok1 || !ok2 || hs != vs {
			return parseErr(path, line, "value line does not follow its header %q", firstField(header))
		}
		names, nums := strings.Fields(hn), strings.Fields(vn)
		if len(names) != len(nums) {
			return parseErr(path, line, "%s has %d names but %d values", hs, len(names), len(nums))
		}
		for i, name := range names {
			if strings.HasPrefix(nums[i], "-") {
				continue
			}
			v, err := strconv.ParseUint(nums[i], 10, 64)
			if err != nil {
				return parseErr(path, line, "%s.%s: %q is not a number", hs, name, nums[i])
			}
			c.set(hs, name, v)
		}
	}
	if err := sc.Err(); err != nil {
		return parseErr(path, line+1, "%v", err)
	}
	return nil
}

// parseSnmp6 parses /proc/net/snmp6: one "Ip6InReceives 123" per line. The
// section is the name up to its first "6" (Ip6, Icmp6, Udp6, UdpLite6).
func parseSnmp6(r io.Reader, path string, c NetCounters) error {
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) != 2 {
			return parseErr(path, line, "want \"name value\", got %d fields", len(f))
		}
		i := strings.IndexByte(f[0], '6')
		if i <= 0 || i == len(f[0])-1 {
			return parseErr(path, line, "counter %q has no section prefix", f[0])
		}
		v, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			return parseErr(path, line, "%s: %q is not a number", f[0], f[1])
		}
		c.set(f[0][:i+1], f[0][i+1:], v)
	}
	if err := sc.Err(); err != nil {
		return parseErr(path, line+1, "%v", err)
	}
	return nil
}

func firstField(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return ""
}
