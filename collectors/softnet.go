package collectors

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"strings"
)

// SoftnetCPU is one row of /proc/net/softnet_stat: one online CPU's packet
// receive work. The kernel prints 32-bit counters that wrap; judge them
// with Delta32.
type SoftnetCPU struct {
	// CPU is the CPU number from column 12 (kernel 5.10+); on older kernels
	// it is the row number, which differs from the CPU id when CPUs are
	// offline (CPUFromRow is then true).
	CPU        int  `json:"cpu"`
	CPUFromRow bool `json:"cpu_from_row,omitempty"`
	// Processed counts packets taken off the backlog or the NIC.
	Processed uint64 `json:"processed"`
	// Dropped counts packets dropped because the CPU's input backlog
	// (net.core.netdev_max_backlog) was full.
	Dropped uint64 `json:"dropped"`
	// TimeSqueeze counts NAPI runs that ended with work left because the
	// budget (netdev_budget, netdev_budget_usecs) ran out.
	TimeSqueeze uint64 `json:"time_squeeze"`
	// ReceivedRPS counts packets steered to this CPU by RPS/RFS (column 9).
	ReceivedRPS *uint64 `json:"received_rps,omitempty"`
	// FlowLimitCount counts packets dropped by the RPS flow limit (column 10).
	FlowLimitCount *uint64 `json:"flow_limit_count,omitempty"`
	// BacklogLen is the input plus process queue length now (column 11), a gauge.
	BacklogLen *uint64 `json:"backlog_len,omitempty"`
	// Columns is how many columns this kernel prints (9 to 15).
	Columns int `json:"columns"`
}

type softnet struct{}

func init() { Register(softnet{}) }

func (softnet) Name() string { return "softnet" }

func (softnet) Collect(_ context.Context, src *Sources, snap *Snapshot) error {
	path := src.netFile("softnet_stat")
	b, err := readFile(path)
	if err != nil {
		return err
	}
	cpus, err := parseSoftnet(bytes.NewReader(b), path)
	if err != nil {
		return err
	}
	snap.Softnet = cpus
	return nil
}

// parseSoftnet parses /proc/net/softnet_stat: hexadecimal columns, one row
// per online CPU. Kernels print 9 (2.6), 10 (received_rps, 2.6.39), 11
// (flow_limit_count, 3.11), 13 (backlog length and CPU id, 5.10) or 15
// (input and process queue lengths, 6.x) columns; extra columns from later
// kernels are ignored.
func parseSoftnet(r io.Reader, path string) ([]SoftnetCPU, error) {
	sc := bufio.NewScanner(r)
	var out []SoftnetCPU
	row := 0
	for sc.Scan() {
		if err := checkText(path, row+1, sc.Text()); err != nil {
			return nil, err
		}
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) < 9 {
			return nil, parseErr(path, row+1, "%d columns, want at least 9", len(f))
		}
		v := make([]uint64, len(f))
		for i, s := range f {
			n, err := parseCount(s, 16, 32)
			if err != nil {
				return nil, parseErr(path, row+1, "column %d: %v", i+1, err)
			}
			v[i] = n
		}
		c := SoftnetCPU{CPU: row, CPUFromRow: true, Processed: v[0], Dropped: v[1], TimeSqueeze: v[2], Columns: len(f)}
		if len(v) > 9 {
			c.ReceivedRPS = &v[9]
		}
		if len(v) > 10 {
			c.FlowLimitCount = &v[10]
		}
		if len(v) > 11 {
			c.BacklogLen = &v[11]
		}
		if len(v) > 12 {
			c.CPU, c.CPUFromRow = int(v[12]), false
		}
		out = append(out, c)
		row++
	}
	if err := sc.Err(); err != nil {
		return nil, parseErr(path, row+1, "%v", err)
	}
	if len(out) == 0 {
		return nil, emptyFile(path)
	}
	return out, nil
}
