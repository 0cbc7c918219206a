package netlab

import (
	"fmt"

	"github.com/safchain/ethtool"
)

// Segmentation offloads as the kernel names its features: TSO (IPv4,
// IPv6, ECN, mangled-ID variants), GSO and GRO. With them on, a sender's
// stack hands the interface super-segments of up to 64 KiB and a
// receiver's merges segments before a capture sees them.
var segmentationOffloads = []string{
	"tx-tcp-segmentation", "tx-tcp6-segmentation", "tx-tcp-ecn-segmentation",
	"tx-tcp-mangleid-segmentation", "tx-generic-segmentation", "rx-gro",
}

// Offloads reports iface's segmentation offload features inside n.
func (n *NS) Offloads(iface string) (map[string]bool, error) {
	out := map[string]bool{}
	err := n.Do(func() error {
		e, err := ethtool.NewEthtool()
		if err != nil {
			return err
		}
		defer e.Close()
		all, err := e.Features(iface)
		if err != nil {
			return err
		}
		for _, name := range segmentationOffloads {
			if v, ok := all[name]; ok {
				out[name] = v
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("offloads of %s in %s: %w", iface, n.Name, err)
	}
	return out, nil
}

// SetOffloads turns iface's segmentation offloads (TSO, GSO, GRO) on or
// off inside n, as `ethtool -K IFACE tso off gso off gro off` would, and
// checks that the kernel took the change.
func (n *NS) SetOffloads(iface string, on bool) error {
	err := n.Do(func() error {
		e, err := ethtool.NewEthtool()
		if err != nil {
			return err
		}
		defer e.Close()
		all, err := e.Features(iface)
		if err != nil {
			return err
		}
		change := map[string]bool{}
		for _, name := range segmentationOffloads {
			if _, ok := all[name]; ok {
				change[name] = on
			}
		}
		return e.Change(iface, change)
	})
	if err != nil {
		return fmt.Errorf("set offloads of %s in %s: %w", iface, n.Name, err)
	}
	got, err := n.Offloads(iface)
	if err != nil {
		return err
	}
	for name, v := range got {
		if v != on && name != "rx-gro" {
			return fmt.Errorf("set offloads of %s in %s: %s stayed %v", iface, n.Name, name, v)
		}
	}
	return nil
}
