package collectors

import (
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// StatClass says what one `ethtool -S` statistic counts. Drivers name their
// statistics freely; ClassifyStat recognises the per-queue forms and the
// drop counters of ixgbe, igb/igc, i40e/ice, mlx5, virtio_net, ena and veth
// by pattern rather than by a list per driver version.
type StatClass struct {
	// Queue is the queue (or channel) number of a per-queue statistic, -1
	// for a device-wide one.
	Queue int
	// Dir is "rx", "tx", or "" when the name does not say.
	Dir string
	// Base is the name without its queue part ("drops", "packets").
	Base string
	// Drop is true for a statistic that counts packets lost by the NIC or
	// its driver, with Kind saying where.
	Drop bool
	// Kind is, for drops: "ring" (no host buffer or descriptor: the ring
	// was too small or the CPU too slow to refill it), "port" (the
	// adapter's own buffer overflowed: PCIe or adapter congestion), "tx"
	// (dropped on transmit), "allowance" (a cloud instance's bandwidth,
	// packet or connection allowance), "other". For TX ring pressure that
	// loses nothing (queue stopped, restarted, busy): "tx_pressure".
	Kind string
	// XDP is true for statistics of an XDP program (its drops are the
	// program's decision, not loss).
	XDP bool
}

// The patterns are compiled when a statistic is first classified, not in
// every netdx process (--version, pcap analyze).
var queueStatPatterns = sync.OnceValue(func() []*regexp.Regexp {
	return []*regexp.Regexp{
		regexp.MustCompile(`^(rx|tx)_queue_(\d+)_(.+)$`), // igb, ice, veth, virtio_net (older)
		regexp.MustCompile(`^queue_(\d+)_(rx|tx)_(.+)$`), // ena
		regexp.MustCompile(`^(rx|tx)-(\d+)[._](.+)$`),    // i40e "rx-0.packets"
		regexp.MustCompile(`^(rx|tx)q?(\d+)_(.+)$`),      // mlx5 "rx0_packets", virtio_net "rx0_drops"
		regexp.MustCompile(`^\[(\d+)\]: (rx|tx)_(.+)$`),  // bnxt "[0]: rx_discards"
		regexp.MustCompile(`^ch(\d+)_(.+)$`),             // mlx5 channel statistics
	}
})

var (
	dropWords = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`drop|discard|miss|no_?buf|out_of_buffer|fifo|alloc_fail|alloc_err|allowance_exceeded|rx_over|length_err`)
	})
	pressureWords = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`restart|busy|queue_stop|stopped|timeout`)
	})
)

// ClassifyStat classifies one ethtool statistic by its name.
func ClassifyStat(name string) StatClass {
	c := StatClass{Queue: -1, Base: name}
	for _, re := range queueStatPatterns() {
		m := re.FindStringSubmatch(name)
		if m == nil {
			continue
		}
		for _, g := range m[1:] {
			switch {
			case g == "rx" || g == "tx":
				c.Dir = g
			case isBaseDigits(g, 10):
				c.Queue, _ = strconv.Atoi(g)
			default:
				c.Base = g
			}
		}
		break
	}
	lower := strings.ToLower(name)
	if c.Dir == "" {
		switch {
		case strings.Contains(lower, "rx_") || strings.HasPrefix(lower, "rx") || strings.Contains(lower, "_in_"):
			c.Dir = "rx"
		case strings.Contains(lower, "tx_") || strings.HasPrefix(lower, "tx") || strings.Contains(lower, "_out_"):
			c.Dir = "tx"
		}
	}
	c.XDP = strings.Contains(lower, "xdp") || strings.Contains(lower, "xsk")
	switch {
	case c.XDP:
	case strings.Contains(lower, "allowance_exceeded"):
		c.Drop, c.Kind = true, "allowance"
	case dropWords().MatchString(lower) && !strings.Contains(lower, "bytes"):
		c.Drop = true
		switch {
		case strings.Contains(lower, "phy") || strings.HasPrefix(lower, "port."):
			c.Kind = "port"
		case c.Dir == "tx":
			c.Kind = "tx"
		case strings.Contains(lower, "steer") || strings.Contains(lower, "length_err"):
			c.Kind = "other"
		default:
			c.Kind = "ring"
		}
	case c.Dir == "tx" && pressureWords().MatchString(lower):
		c.Kind = "tx_pressure"
	}
	return c
}
