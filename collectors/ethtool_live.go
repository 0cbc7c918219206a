package collectors

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"runtime"
	"unsafe"

	"github.com/safchain/ethtool"
	"golang.org/x/sys/unix"
)

// liveEthtool asks the drivers through safchain/ethtool, and for the
// requests whose size depends on the driver (statistics, features)
// through its own socket, asking for exactly as many entries as the
// driver has. Both sockets live in the namespace of the thread that
// opened them.
type liveEthtool struct {
	e  *ethtool.Ethtool
	fd int
}

func openEthtool() (Ethtool, error) {
	e, err := ethtool.NewEthtool()
	if err != nil {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_IP)
	if err != nil {
		e.Close()
		return nil, err
	}
	return liveEthtool{e, fd}, nil
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

// Stats is `ethtool -S`: the names of the driver's statistics, then their
// values, both requests of the size the driver gave.
func (l liveEthtool) Stats(iface string) (map[string]uint64, error) {
	names, err := l.stringSet(iface, ethtool.ETH_SS_STATS)
	if err != nil {
		return nil, ethtoolErr(iface, "statistics", err)
	}
	req := make([]byte, 8+8*len(names)) // struct ethtool_stats: cmd, n_stats, data[n_stats]
	ne.PutUint32(req, ethtool.ETHTOOL_GSTATS)
	ne.PutUint32(req[4:], uint32(len(names)))
	if err := l.ioctl(iface, req); err != nil {
		return nil, ethtoolErr(iface, "statistics", err)
	}
	if n := ne.Uint32(req[4:]); n != uint32(len(names)) {
		return nil, ethtoolErr(iface, "statistics", fmt.Errorf("the driver changed its statistics while they were read (%d names, %d values)", len(names), n))
	}
	out := make(map[string]uint64, len(names))
	for i, name := range names {
		if name != "" {
			out[name] = ne.Uint64(req[8+8*i:])
		}
	}
	return out, nil
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

// Features is `ethtool -k`: the names of the device's features, then their
// state, each active or not.
func (l liveEthtool) Features(iface string) (map[string]bool, error) {
	names, err := l.stringSet(iface, ethtool.ETH_SS_FEATURES)
	if err != nil {
		return nil, ethtoolErr(iface, "features", err)
	}
	blocks := (len(names) + 31) / 32
	// struct ethtool_gfeatures: cmd, size, then per 32 features a block of
	// available, requested, active and never_changed bits.
	req := make([]byte, 8+16*blocks)
	ne.PutUint32(req, ethtool.ETHTOOL_GFEATURES)
	ne.PutUint32(req[4:], uint32(blocks))
	if err := l.ioctl(iface, req); err != nil {
		return nil, ethtoolErr(iface, "features", err)
	}
	out := make(map[string]bool, len(names))
	for i, name := range names {
		if name != "" {
			active := ne.Uint32(req[8+16*(i/32)+8:])
			out[name] = active&(1<<(i%32)) != 0
		}
	}
	return out, nil
}

// ne is the byte order of the ethtool structures: the host's.
var ne = binary.NativeEndian

// maxStrings bounds a string set, as safchain/ethtool does: 32,768 names.
const maxStrings = 32768

// stringSet reads the names of one string set (ETH_SS_STATS,
// ETH_SS_FEATURES) as the ethtool tool does: their count first
// (ETHTOOL_GSSET_INFO), then exactly that many (ETHTOOL_GSTRINGS).
// safchain/ethtool asks for the largest set any driver may have, a 1 MiB
// request, every time. A set the driver does not have is empty.
func (l liveEthtool) stringSet(iface string, set uint32) ([]string, error) {
	info := make([]byte, 16+4) // struct ethtool_sset_info: cmd, reserved, sset_mask, data[1]
	ne.PutUint32(info, ethtool.ETHTOOL_GSSET_INFO)
	ne.PutUint64(info[8:], 1<<set)
	if err := l.ioctl(iface, info); err != nil {
		return nil, err
	}
	if ne.Uint64(info[8:]) == 0 {
		return nil, nil
	}
	n := ne.Uint32(info[16:])
	if n > maxStrings {
		return nil, fmt.Errorf("the driver has %d names in string set %d, more than the %d netdx reads", n, set, maxStrings)
	}
	const nameLen = 32                     // ETH_GSTRING_LEN
	req := make([]byte, 12+nameLen*int(n)) // struct ethtool_gstrings: cmd, string_set, len, data[len][32]
	ne.PutUint32(req, ethtool.ETHTOOL_GSTRINGS)
	ne.PutUint32(req[4:], set)
	ne.PutUint32(req[8:], n)
	if err := l.ioctl(iface, req); err != nil {
		return nil, err
	}
	if got := ne.Uint32(req[8:]); got != n {
		return nil, fmt.Errorf("the driver changed string set %d while it was read (%d names, then %d)", set, n, got)
	}
	names := make([]string, n)
	for i := range names {
		b := req[12+nameLen*i:][:nameLen]
		if end := bytes.IndexByte(b, 0); end >= 0 {
			b = b[:end]
		}
		names[i] = string(b)
	}
	return names, nil
}

// ioctl makes the SIOCETHTOOL request req (its first word the command) on
// interface iface.
func (l liveEthtool) ioctl(iface string, req []byte) error {
	var ifr struct {
		name [unix.IFNAMSIZ]byte
		data unsafe.Pointer
		_    [16]byte // the rest of struct ifreq's union
	}
	if len(iface) >= len(ifr.name) {
		return fmt.Errorf("interface name %q is longer than %d bytes", iface, len(ifr.name)-1)
	}
	copy(ifr.name[:], iface)
	ifr.data = unsafe.Pointer(&req[0])
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(l.fd), ethtool.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	runtime.KeepAlive(req)
	if errno != 0 {
		return errno
	}
	return nil
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

func (l liveEthtool) Close() {
	l.e.Close()
	unix.Close(l.fd)
}
