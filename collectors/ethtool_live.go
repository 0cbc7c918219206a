package collectors

import (
	"github.com/safchain/ethtool"
)

// liveEthtool asks the drivers through safchain/ethtool. Its socket lives
// in the namespace of the thread that opened it.
type liveEthtool struct{ e *ethtool.Ethtool }

func openEthtool() (Ethtool, error) {
	e, err := ethtool.NewEthtool()
	if err != nil {
		return nil, err
	}
	return liveEthtool{e}, nil
}

func ethtoolErr(iface, what string, err error) error {
	return &SourceError{Source: "ethtool " + what + " " + iface, Err: err}
}

func (l liveEthtool) DriverInfo(iface string) (DriverInfo, error) {
	d, err := l.e.DriverInfo(iface)
	if err != nil {
		return DriverInfo{}, ethtoolErr(iface, "driver info", err)
	}
	return DriverInfo{Driver: d.Driver, Version: d.Version, Firmware: d.FwVersion, BusInfo: d.BusInfo}, nil
}

func (l liveEthtool) Stats(iface string) (map[string]uint64, error) {
	st, err := l.e.Stats(iface)
	if err != nil {
		return nil, ethtoolErr(iface, "statistics", err)
	}
	return st, nil
}

func (l liveEthtool) Ring(iface string) (Ring, error) {
	r, err := l.e.GetRing(iface)
	if err != nil {
		return Ring{}, ethtoolErr(iface, "rings", err)
	}
	return Ring{RxPending: r.RxPending, RxMax: r.RxMaxPending, TxPending: r.TxPending, TxMax: r.TxMaxPending}, nil
}

func (l liveEthtool) Channels(iface string) (Channels, error) {
	c, err := l.e.GetChannels(iface)
	if err != nil {
		return Channels{}, ethtoolErr(iface, "channels", err)
	}
	return Channels{Rx: c.RxCount, Tx: c.TxCount, Other: c.OtherCount, Combined: c.CombinedCount,
		MaxRx: c.MaxRx, MaxTx: c.MaxTx, MaxOther: c.MaxOther, MaxCombined: c.MaxCombined}, nil
}

func (l liveEthtool) Features(iface string) (map[string]bool, error) {
	f, err := l.e.Features(iface)
	if err != nil {
		return nil, ethtoolErr(iface, "features", err)
	}
	return f, nil
}

// LinkSettings uses the legacy ETHTOOL_GSET request: the library's
// GetLinkSettings prints warnings to stdout, which would corrupt --json.
func (l liveEthtool) LinkSettings(iface string) (LinkSettings, error) {
	var cmd ethtool.EthtoolCmd
	speed, err := l.e.CmdGet(&cmd, iface)
	if err != nil {
		return LinkSettings{}, ethtoolErr(iface, "link settings", err)
	}
	out := LinkSettings{}
	if speed != 0 && speed != ^uint32(0) {
		out.SpeedMbps = int64(speed)
	}
	switch cmd.Duplex {
	case 0:
		out.Duplex = "half"
	case 1:
		out.Duplex = "full"
	}
	return out, nil
}

func (l liveEthtool) Close() { l.e.Close() }
