package collectors

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Link is one network interface: its attributes and its kernel counters.
type Link struct {
	Name  string `json:"name"`
	Index int    `json:"index,omitempty"`
	// Kind is the netlink link kind: "device" for hardware, or "veth",
	// "vxlan", "tuntap", "bond", "bridge", ...; empty when netlink was
	// not read.
	Kind        string `json:"kind,omitempty"`
	MTU         int    `json:"mtu,omitempty"`
	TxQueueLen  *int   `json:"txqueuelen,omitempty"`
	OperState   string `json:"operstate,omitempty"`
	Master      string `json:"master,omitempty"`
	NumTxQueues int    `json:"num_tx_queues,omitempty"`
	NumRxQueues int    `json:"num_rx_queues,omitempty"`
	// SpeedMbps is the negotiated link speed; nil when the driver does not
	// say (virtual devices) or the link is down.
	SpeedMbps *int64 `json:"speed_mbps,omitempty"`
	Duplex    string `json:"duplex,omitempty"`
	// CarrierChanges counts link up/down transitions since the device was
	// created (sysfs carrier_changes).
	CarrierChanges *uint64 `json:"carrier_changes,omitempty"`
	// Stats are the interface counters under the kernel's
	// rtnl_link_stats64 names (rx_packets, rx_dropped, rx_missed_errors,
	// tx_dropped, ...).
	Stats map[string]uint64 `json:"stats"`
	// StatsSource is "netlink" (every rtnl_link_stats64 field, 64-bit), or
	// "/proc/net/dev" when netlink was not read: there rx_dropped also
	// counts rx_missed_errors, rx_frame_errors the length, overrun and CRC
	// errors, and tx_carrier_errors the aborted, window and heartbeat ones.
	StatsSource string `json:"stats_source"`
}

// Stat returns one counter and whether this source has it.
func (l *Link) Stat(name string) (uint64, bool) {
	v, ok := l.Stats[name]
	return v, ok
}

type links struct{}

func init() { Register(links{}) }

func (links) Name() string { return "links" }

func (links) Collect(_ context.Context, src *Sources, snap *Snapshot) error {
	path := src.netFile("dev")
	b, err := readFile(path)
	var dev map[string]map[string]uint64
	if err == nil {
		dev, err = parseNetDev(bytes.NewReader(b), path)
	}
	if err != nil {
		snap.AddSkip("links", err)
	}
	byName := map[string]*Link{}
	for name, st := range dev {
		byName[name] = &Link{Name: name, Stats: st, StatsSource: "/proc/net/dev"}
	}
	if err := src.liveOnly("netlink links"); err != nil {
		snap.AddSkip("links", err)
	} else if nl, err := src.Netlink.Links(); err != nil {
		snap.AddSkip("links", err)
	} else {
		for _, l := range nl {
			if old := byName[l.Name]; old != nil && l.Stats == nil {
				l.Stats, l.StatsSource = old.Stats, old.StatsSource
			}
			byName[l.Name] = &l
		}
	}
	if len(byName) == 0 {
		return nil
	}
	for _, want := range src.Ifaces {
		if byName[want] == nil {
			snap.AddSkip("links", &SourceError{Source: "interface " + want, Err: notOffered(fmt.Sprintf("no interface %q in this namespace", want))})
		}
	}
	out := make([]Link, 0, len(byName))
	for name, l := range byName {
		if !src.wants(name) {
			continue
		}
		if src.SysfsNet {
			readLinkSysfs(src.SysPath, l)
		}
		out = append(out, *l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	snap.Links = out
	return nil
}

// netDevNames maps /proc/net/dev column names to rtnl_link_stats64 names,
// receive side then transmit side.
var netDevNames = [2]map[string]string{
	{"bytes": "rx_bytes", "packets": "rx_packets", "errs": "rx_errors", "drop": "rx_dropped", "fifo": "rx_fifo_errors",
		"frame": "rx_frame_errors", "compressed": "rx_compressed", "multicast": "multicast"},
	{"bytes": "tx_bytes", "packets": "tx_packets", "errs": "tx_errors", "drop": "tx_dropped", "fifo": "tx_fifo_errors",
		"colls": "collisions", "carrier": "tx_carrier_errors", "compressed": "tx_compressed"},
}

// parseNetDev parses /proc/net/dev by its header: the second line names
// the receive and transmit columns between "|" separators.
func parseNetDev(r io.Reader, path string) (map[string]map[string]uint64, error) {
	sc := bufio.NewScanner(r)
	var cols []string
	out := map[string]map[string]uint64{}
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if err := checkText(path, line, text); err != nil {
			return nil, err
		}
		switch line {
		case 1:
			continue
		case 2:
			parts := strings.Split(text, "|")
			if len(parts) != 3 {
				return nil, parseErr(path, line, "header does not have receive and transmit parts")
			}
			for side, part := range parts[1:] {
				for _, n := range strings.Fields(part) {
					name, ok := netDevNames[side][n]
					if !ok {
						name = [2]string{"rx_", "tx_"}[side] + n
					}
					cols = append(cols, name)
				}
			}
			continue
		}
		name, rest, ok := strings.Cut(text, ":")
		if !ok {
			return nil, parseErr(path, line, "no \"interface:\" prefix")
		}
		f := strings.Fields(rest)
		if len(f) != len(cols) {
			return nil, parseErr(path, line, "%d values for %d columns", len(f), len(cols))
		}
		st := make(map[string]uint64, len(cols))
		for i, s := range f {
			v, err := parseCount(s, 10, 64)
			if err != nil {
				return nil, parseErr(path, line, "%s: %v", cols[i], err)
			}
			st[cols[i]] = v
		}
		out[strings.TrimSpace(name)] = st
	}
	if err := sc.Err(); err != nil {
		return nil, parseErr(path, line+1, "%v", err)
	}
	switch {
	case line == 0:
		return nil, emptyFile(path)
	case line < 2:
		return nil, parseErr(path, line, "no header")
	case len(out) == 0:
		return nil, parseErr(path, line, "a header without interface rows; every network namespace has at least lo")
	}
	return out, nil
}

// readLinkSysfs adds what only sysfs says: speed, duplex and carrier
// changes. Virtual devices and links that are down have no speed; that is
// not an error.
func readLinkSysfs(sys string, l *Link) {
	dir := filepath.Join(sys, "class", "net", l.Name)
	if s, ok := sysfsString(filepath.Join(dir, "speed")); ok {
		if v, err := strconv.ParseInt(s, 10, 64); err == nil && v > 0 && l.SpeedMbps == nil {
			l.SpeedMbps = &v
		}
	}
	if s, ok := sysfsString(filepath.Join(dir, "duplex")); ok && s != "unknown" && l.Duplex == "" {
		l.Duplex = s
	}
	if s, ok := sysfsString(filepath.Join(dir, "carrier_changes")); ok {
		if v, err := strconv.ParseUint(s, 10, 64); err == nil {
			l.CarrierChanges = &v
		}
	}
}

func sysfsString(path string) (string, bool) {
	b, err := readFile(path)
	if err != nil {
		return "", false
	}
	return strings.TrimSpace(string(b)), true
}
