package collectors

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
)

// Conntrack is the netfilter connection tracking table's fill and its
// per-CPU statistics.
type Conntrack struct {
	// Count is the number of tracked connections in this namespace.
	Count *uint64 `json:"count,omitempty"`
	// Max is the table's limit (nf_conntrack_max, host-global).
	Max *uint64 `json:"max,omitempty"`
	// Buckets is the hash table size (nf_conntrack_buckets).
	Buckets *uint64 `json:"buckets,omitempty"`
	// Columns names the statistics of /proc/net/stat/nf_conntrack in the
	// order this kernel prints them (the set changed in 5.15: searched,
	// delete_list and others gave way to clashres and chainlength).
	Columns []string `json:"columns,omitempty"`
	// PerCPU holds one row of Columns per CPU: 32-bit counters, except
	// "entries", which repeats the global count on every row.
	PerCPU [][]uint64 `json:"per_cpu,omitempty"`
	// MaxWritable says whether nf_conntrack_max can be written from this
	// namespace (by root): false in a child namespace, where the kernel
	// makes it read-only and only the host can raise it; nil when unknown.
	MaxWritable *bool `json:"max_writable,omitempty"`
	// ByProto counts the namespace's entries by protocol ("tcp", "udp",
	// "icmp", ...), read over ctnetlink (CAP_NET_ADMIN); nil when not
	// read. Counted says how many entries were read: at most
	// ConntrackCountLimit, so on a larger table ByProto is a sample whose
	// shares, not counts, describe the table.
	ByProto map[string]uint64 `json:"by_proto,omitempty"`
	Counted uint64            `json:"counted,omitempty"`
}

// Stat returns a statistic summed over CPUs and whether this kernel has it.
func (c *Conntrack) Stat(name string) (uint64, bool) {
	i := c.column(name)
	if i < 0 || len(c.PerCPU) == 0 {
		return 0, false
	}
	if name == "entries" {
		return c.PerCPU[0][i], true
	}
	var sum uint64
	for _, row := range c.PerCPU {
		sum += row[i]
	}
	return sum, true
}

func (c *Conntrack) column(name string) int {
	if c == nil {
		return -1
	}
	for i, n := range c.Columns {
		if n == name {
			return i
		}
	}
	return -1
}

// ConntrackDelta is the change of statistic name from before to after,
// summed over CPUs with each CPU's 32-bit wrap handled. ok is false when
// either snapshot lacks it or the CPU count changed.
func ConntrackDelta(before, after *Conntrack, name string) (d uint64, reset, ok bool) {
	bi, ai := before.column(name), after.column(name)
	if bi < 0 || ai < 0 || len(before.PerCPU) != len(after.PerCPU) {
		return 0, false, false
	}
	for cpu := range after.PerCPU {
		x, r := Delta32(before.PerCPU[cpu][bi], after.PerCPU[cpu][ai])
		d += x
		reset = reset || r
	}
	return d, reset, true
}

type conntrack struct{}

func init() { Register(conntrack{}) }

func (conntrack) Name() string { return "conntrack" }

func (conntrack) Collect(ctx context.Context, src *Sources, snap *Snapshot) error {
	ct := &Conntrack{}
	sys := filepath.Join(src.ProcPath, "sys", "net", "netfilter")
	read := func(name string) *uint64 {
		s, ok := sysfsString(filepath.Join(sys, name))
		if !ok {
			return nil
		}
		v, err := parseCount(s, 10, 64)
		if err != nil {
			snap.AddSkip("conntrack", parseErr(filepath.Join(sys, name), 1, "%v", err))
			return nil
		}
		return &v
	}
	ct.Max = read("nf_conntrack_max")
	ct.Buckets = read("nf_conntrack_buckets")
	if src.liveOnly("") == nil {
		ct.Count = read("nf_conntrack_count")
	}
	path := src.netFile("stat/nf_conntrack")
	b, err := readFile(path)
	if err == nil {
		ct.Columns, ct.PerCPU, err = parseConntrackStat(bytes.NewReader(b), path)
	}
	if err != nil && (ct.Max != nil || !errors.Is(err, errors.ErrUnsupported)) {
		// Connection tracking is loaded but its statistics are missing or
		// broken: its drops cannot be judged.
		snap.AddSkip("conntrack", err)
	}
	if ct.Max == nil && ct.Columns == nil {
		return &SourceError{Source: "nf_conntrack", Err: notOffered("connection tracking is not loaded")}
	}
	readConntrackDetail(ctx, src, snap, ct)
	snap.Conntrack = ct
	return nil
}

// parseConntrackStat parses /proc/net/stat/nf_conntrack by its header: one
// row of hexadecimal values per CPU.
func parseConntrackStat(r io.Reader, path string) ([]string, [][]uint64, error) {
	sc := bufio.NewScanner(r)
	var cols []string
	var rows [][]uint64
	line := 0
	for sc.Scan() {
		line++
		if err := checkText(path, line, sc.Text()); err != nil {
			return nil, nil, err
		}
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if cols == nil {
			if allHex(f) {
				return nil, nil, parseErr(path, line, "a row of numbers where the column names should be")
			}
			cols = f
			continue
		}
		if len(f) != len(cols) {
			return nil, nil, parseErr(path, line, "%d values for %d columns", len(f), len(cols))
		}
		row := make([]uint64, len(f))
		for i, s := range f {
			v, err := parseCount(s, 16, 64)
			if err != nil {
				return nil, nil, parseErr(path, line, "%s: %v", cols[i], err)
			}
			row[i] = v
		}
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		return nil, nil, parseErr(path, line+1, "%v", err)
	}
	switch {
	case cols == nil:
		return nil, nil, emptyFile(path)
	case len(rows) == 0:
		return nil, nil, parseErr(path, line, "a header without per-CPU rows")
	}
	return cols, rows, nil
}

// allHex reports whether every field is a hexadecimal number.
func allHex(f []string) bool {
	for _, s := range f {
		if !isBaseDigits(s, 16) {
			return false
		}
	}
	return true
}
