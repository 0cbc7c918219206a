package collectors

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strings"
)

// Ethtool is what netdx asks a NIC's driver through the ethtool ioctl.
// Every method's error is compatible with errors.Is(err,
// errors.ErrUnsupported) when the driver does not implement the request,
// and with fs.ErrPermission when the caller may not make it.
type Ethtool interface {
	DriverInfo(iface string) (DriverInfo, error)
	// Stats is `ethtool -S`: every driver statistic by the driver's name.
	Stats(iface string) (map[string]uint64, error)
	// Ring is `ethtool -g`.
	Ring(iface string) (Ring, error)
	// Channels is `ethtool -l`.
	Channels(iface string) (Channels, error)
	// Features is `ethtool -k`: each feature's active state, by the
	// kernel's feature name ("rx-gro", "tx-tcp-segmentation").
	Features(iface string) (map[string]bool, error)
	// LinkSettings is the negotiated speed and duplex.
	LinkSettings(iface string) (LinkSettings, error)
	Close()
}

// NIC is what the driver says about one interface. A nil part is one the
// driver does not support (named in NIC.Unsupported) or that could not be
// read (named in Snapshot.Skipped).
type NIC struct {
	Driver *DriverInfo `json:"driver,omitempty"`
	// Stats are every `ethtool -S` statistic; ClassifyStat recognises the
	// drop and per-queue ones across drivers.
	Stats    map[string]uint64 `json:"stats,omitempty"`
	Ring     *Ring             `json:"ring,omitempty"`
	Channels *Channels         `json:"channels,omitempty"`
	// Offloads holds the active state of the offloads that batch or split
	// packets (GRO, GSO, TSO, LRO), by feature name.
	Offloads map[string]bool `json:"offloads,omitempty"`
	// Unsupported lists the ethtool requests this driver does not
	// implement ("rings", "statistics").
	Unsupported []string `json:"unsupported,omitempty"`
}

// DriverInfo is `ethtool -i`.
type DriverInfo struct {
	Driver   string `json:"driver"`
	Version  string `json:"version,omitempty"`
	Firmware string `json:"firmware,omitempty"`
	// BusInfo is the PCI address or bus of hardware; empty for virtual
	// devices.
	BusInfo string `json:"bus_info,omitempty"`
}

// Ring is a NIC's descriptor ring sizes: current and the driver's maximum.
type Ring struct {
	RxPending uint32 `json:"rx"`
	RxMax     uint32 `json:"rx_max"`
	TxPending uint32 `json:"tx"`
	TxMax     uint32 `json:"tx_max"`
}

// Channels is a NIC's queue counts: current and maximum.
type Channels struct {
	Rx          uint32 `json:"rx"`
	Tx          uint32 `json:"tx"`
	Other       uint32 `json:"other"`
	Combined    uint32 `json:"combined"`
	MaxRx       uint32 `json:"max_rx"`
	MaxTx       uint32 `json:"max_tx"`
	MaxOther    uint32 `json:"max_other"`
	MaxCombined uint32 `json:"max_combined"`
}

// LinkSettings is the negotiated speed (0 when unknown) and duplex.
type LinkSettings struct {
	SpeedMbps int64
	Duplex    string
}

// offloadFeatures are the features kept in NIC.Offloads.
var offloadFeatures = []string{
	"rx-gro", "rx-gro-hw", "rx-gro-list", "rx-lro", "rx-udp-gro-forwarding",
	"tx-generic-segmentation", "tx-tcp-segmentation", "tx-tcp6-segmentation", "tx-udp-segmentation",
}

// nic reads ethtool for every interface but loopback.
type nic struct{}

func init() { Register(nic{}) }

func (nic) Name() string { return "nic" }

// After: nic walks the interface list links reads, and replaces it with a
// copy that adds the speed and duplex ethtool reports.
func (nic) After() []string { return []string{"links"} }

func (nic) Collect(_ context.Context, src *Sources, snap *Snapshot) error {
	if err := src.liveOnly("ethtool"); err != nil {
		return err
	}
	if len(snap.Links) == 0 {
		return nil
	}
	et, err := src.OpenEthtool()
	if err != nil {
		return &SourceError{Source: "ethtool", Err: err}
	}
	defer et.Close()
	// Failures are grouped by request, reason and driver so fifty veths
	// without ring parameters make one line, not fifty.
	type failKey struct{ what, kind, driver, msg string }
	failed := map[failKey][]string{}
	var order []failKey
	fail := func(iface, driver, what string, err error) {
		s := skipFor("", err)
		k := failKey{what, string(s.Kind), driver, s.Message}
		if s.Kind == SkipUnsupported || s.Kind == SkipAbsent {
			k.msg = ""
		}
		if failed[k] == nil {
			order = append(order, k)
		}
		failed[k] = append(failed[k], iface)
	}
	nics := map[string]*NIC{}
	// The speed and duplex go into a copy: sysctl reads the same Links.
	links := slices.Clone(snap.Links)
	for i := range links {
		l := &links[i]
		if l.Name == "lo" {
			continue
		}
		n := &NIC{}
		driver := "unknown driver"
		if d, err := et.DriverInfo(l.Name); err == nil {
			n.Driver, driver = &d, d.Driver
		} else {
			fail(l.Name, driver, "driver info", err)
		}
		unsupported := func(what string, err error) {
			if errors.Is(err, errors.ErrUnsupported) {
				n.Unsupported = append(n.Unsupported, what)
			}
			fail(l.Name, driver, what, err)
		}
		if st, err := et.Stats(l.Name); err == nil {
			n.Stats = st
		} else {
			unsupported("statistics", err)
		}
		if r, err := et.Ring(l.Name); err == nil {
			n.Ring = &r
		} else {
			unsupported("rings", err)
		}
		if c, err := et.Channels(l.Name); err == nil {
			n.Channels = &c
		} else {
			unsupported("channels", err)
		}
		if readOffloads(l) {
			n.Offloads, err = offloads(et, l.Name)
			if err != nil {
				unsupported("features", err)
			}
		}
		if ls, err := et.LinkSettings(l.Name); err == nil {
			if ls.SpeedMbps > 0 {
				l.SpeedMbps = &ls.SpeedMbps
			}
			if ls.Duplex != "" {
				l.Duplex = ls.Duplex
			}
		}
		nics[l.Name] = n
	}
	for _, k := range order {
		ifaces := failed[k]
		reason := k.msg
		var base error
		switch SkipKind(k.kind) {
		case SkipUnsupported, SkipAbsent:
			reason, base = "not supported by "+k.driver, errors.ErrUnsupported
		case SkipPermission:
			base = fs.ErrPermission
		default:
			base = errors.New("failed")
		}
		// Permission: the ethtool ioctls netdx reads need CAP_NET_ADMIN
		// only on drivers that restrict them.
		like := skipFor("", base)
		snap.Skipped = append(snap.Skipped, Skip{
			Source:     fmt.Sprintf("ethtool %s %s", k.what, listNames(ifaces, 4)),
			Kind:       SkipKind(k.kind),
			Message:    reason,
			Fix:        like.Fix,
			Capability: like.Capability,
		})
	}
	snap.NICs, snap.Links = nics, links
	return nil
}

// offloads reads the active state of the offloadFeatures.
func offloads(et Ethtool, iface string) (map[string]bool, error) {
	f, err := et.Features(iface)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, name := range offloadFeatures {
		if on, ok := f[name]; ok {
			out[name] = on
		}
	}
	return out, nil
}

// readOffloads says whether to ask an interface for its offloads. The
// library allocates and clears a 1 MiB name buffer for every feature
// request (~3 ms of fresh memory each), so it asks only where the answer
// can change a finding: not veths and bridges (hosts run hundreds; their
// offloads batch nothing the findings look at), and not links that are
// down, which pass no packets.
func readOffloads(l *Link) bool {
	switch l.OperState {
	case "down", "lowerlayerdown", "notpresent":
		return false
	}
	return l.Kind != "veth" && l.Kind != "bridge"
}

// listNames joins names, eliding past max: "a, b, c and 12 more".
func listNames(names []string, max int) string {
	sort.Strings(names)
	if len(names) <= max {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:max], ", "), len(names)-max)
}
