package collectors

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
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
	// The buffer starts at bufio's 4 KiB and grows as lines need, up to
	// 1 MiB: a 64 KiB one from the start is fresh memory every snapshot.
	sc.Buffer(nil, 1024*1024)
	line, pairs, counters := 0, 0, 0
	for sc.Scan() {
		line++
		header := sc.Text()
		if strings.TrimSpace(header) == "" {
			continue
		}
		if err := checkText(path, line, header); err != nil {
			return err
		}
		if !sc.Scan() {
			if _, rest, ok := strings.Cut(header, ":"); ok && allNumbers(rest) {
				return parseErr(path, line, "value line without a header line")
			}
			return parseErr(path, line, "header line without a value line")
		}
		line++
		values := sc.Text()
		if err := checkText(path, line, values); err != nil {
			return err
		}
		pairs++
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
			v, err := parseCount(nums[i], 10, 64)
			if err != nil {
				return parseErr(path, line, "%s.%s: %v", hs, name, err)
			}
			c.set(hs, name, v)
			counters++
		}
	}
	if err := sc.Err(); err != nil {
		return parseErr(path, line+1, "%v", err)
	}
	if pairs == 0 {
		return emptyFile(path)
	}
	if counters == 0 {
		return noCounters(path)
	}
	return nil
}

// allNumbers reports whether s holds only decimal numbers (a value line).
func allNumbers(s string) bool {
	f := strings.Fields(s)
	for _, x := range f {
		if !isBaseDigits(strings.TrimPrefix(x, "-"), 10) {
			return false
		}
	}
	return len(f) > 0
}

// parseSnmp6 parses /proc/net/snmp6: one "Ip6InReceives 123" per line. The
// section is the name up to its first "6" (Ip6, Icmp6, Udp6, UdpLite6).
func parseSnmp6(r io.Reader, path string, c NetCounters) error {
	sc := bufio.NewScanner(r)
	line, n := 0, 0
	for sc.Scan() {
		line++
		if err := checkText(path, line, sc.Text()); err != nil {
			return err
		}
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		n++
		if len(f) != 2 {
			return parseErr(path, line, "want \"name value\", got %d fields", len(f))
		}
		i := strings.IndexByte(f[0], '6')
		if i <= 0 || i == len(f[0])-1 {
			return parseErr(path, line, "counter %q has no section prefix", f[0])
		}
		v, err := parseCount(f[1], 10, 64)
		if err != nil {
			return parseErr(path, line, "%s: %v", f[0], err)
		}
		c.set(f[0][:i+1], f[0][i+1:], v)
	}
	if err := sc.Err(); err != nil {
		return parseErr(path, line+1, "%v", err)
	}
	if n == 0 {
		return emptyFile(path)
	}
	return nil
}

func firstField(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return ""
}
