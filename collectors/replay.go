package collectors

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Replay reads a recorded host instead of the live one: root/proc and
// root/sys are procfs and sysfs trees, root/netlink holds what netlink
// returned (links.json, qdiscs.json, listeners.json, as the Link, Qdisc
// and Listener types marshal; tcp_conns.nl, the sock_diag dump of TCP
// sockets as the kernel sent it, or in older recordings tcp_drops.json,
// the TCPSocket list), and
// root/ethtool/IFACE holds the text `ethtool -i`, `-S`, `-g`, `-l`, `-k`
// and plain `ethtool IFACE` printed (driver, statistics, ring, channels,
// features, settings). A missing recording stands for a source the host
// did not offer: the driver or kernel does not support it.
func Replay(root string) (*Sources, error) {
	src, err := NewSources(filepath.Join(root, "proc"), filepath.Join(root, "sys"), nil)
	if err != nil {
		return nil, err
	}
	src.Netlink = replayNetlink{filepath.Join(root, "netlink")}
	dir := filepath.Join(root, "ethtool")
	src.OpenEthtool = func() (Ethtool, error) { return replayEthtool{dir}, nil }
	return src, nil
}

// notRecorded is the error for a source a recording does not have.
func notRecorded(source string) error {
	return &SourceError{Source: source, Err: notOffered("not recorded")}
}

type replayNetlink struct{ dir string }

func (r replayNetlink) load(name, source string, v any) error {
	b, err := os.ReadFile(filepath.Join(r.dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return notRecorded(source)
	}
	if err != nil {
		return &SourceError{Source: source, Err: err}
	}
	if err := json.Unmarshal(b, v); err != nil {
		return &ParseError{Path: filepath.Join(r.dir, name), Msg: err.Error()}
	}
	return nil
}

func (r replayNetlink) Links() ([]Link, error) {
	var out []Link
	return out, r.load("links.json", "netlink links", &out)
}

func (r replayNetlink) Qdiscs() ([]Qdisc, error) {
	var out []Qdisc
	return out, r.load("qdiscs.json", "netlink qdiscs", &out)
}

// TCPConns replays tcp_conns.nl, the kernel's own sock_diag answer, when
// recorded; otherwise tcp_drops.json, the sockets with drops as the
// TCPSocket type marshals, from recordings made before netdx read
// tcp_info.
func (r replayNetlink) TCPConns() (*TCPConns, error) {
	const source = "sock_diag TCP sockets"
	path := filepath.Join(r.dir, "tcp_conns.nl")
	b, err := os.ReadFile(path)
	if err == nil {
		out, err := decodeTCPDump(b)
		if err != nil {
			return nil, &ParseError{Path: path, Msg: err.Error()}
		}
		return out, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, &SourceError{Source: source, Err: err}
	}
	var drops []TCPSocket
	if err := r.load("tcp_drops.json", source, &drops); err != nil {
		return nil, err
	}
	out := &TCPConns{dropsOnly: true}
	for _, d := range drops {
		local, err1 := netip.ParseAddrPort(d.Local)
		remote, err2 := netip.ParseAddrPort(d.Remote)
		state, ok := tcpStateNumbers[d.State]
		if err := errors.Join(err1, err2); err != nil || !ok {
			return nil, &ParseError{Path: filepath.Join(r.dir, "tcp_drops.json"), Msg: fmt.Sprintf("socket %s → %s in state %q: %v", d.Local, d.Remote, d.State, err)}
		}
		out.Conns = append(out.Conns, TCPConn{Local: local, Remote: remote, State: state, Inode: d.Inode, UID: d.UID,
			RecvQ: uint32(d.RecvQ), HaveMem: true, Drops: d.Drops, RcvBuf: d.RcvBuf})
	}
	return out, nil
}

func (r replayNetlink) Listeners() ([]Listener, error) {
	out := []Listener{}
	return out, r.load("listeners.json", "sock_diag TCP listeners", &out)
}

// replayEthtool answers from recorded ethtool output.
type replayEthtool struct{ dir string }

func (replayEthtool) Close() {}

// field is one "key: value" line of a recording.
type field struct {
	k, v string
	line int
}

// fields reads a recorded "key: value" file, one pair per line; lines
// without a colon are skipped.
func (r replayEthtool) fields(iface, name, what string) ([]field, error) {
	path := filepath.Join(r.dir, iface, name)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, notRecorded("ethtool " + what + " " + iface)
	}
	if err != nil {
		return nil, &SourceError{Source: path, Err: err}
	}
	var out []field
	sc := bufio.NewScanner(bytes.NewReader(b))
	for line := 1; sc.Scan(); line++ {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		out = append(out, field{strings.TrimSpace(k), strings.TrimSpace(v), line})
	}
	return out, nil
}

func (r replayEthtool) DriverInfo(iface string) (DriverInfo, error) {
	kv, err := r.fields(iface, "driver", "driver info")
	var d DriverInfo
	for _, p := range kv {
		switch p.k {
		case "driver":
			d.Driver = p.v
		case "version":
			d.Version = p.v
		case "firmware-version":
			d.Firmware = p.v
		case "bus-info":
			d.BusInfo = p.v
		}
	}
	return d, err
}

func (r replayEthtool) Stats(iface string) (map[string]uint64, error) {
	kv, err := r.fields(iface, "statistics", "statistics")
	if err != nil {
		return nil, err
	}
	out := make(map[string]uint64, len(kv))
	for _, p := range kv {
		if p.v == "" {
			continue // the "NIC statistics:" title
		}
		v, err := strconv.ParseUint(p.v, 10, 64)
		if err != nil {
			return nil, &ParseError{Path: filepath.Join(r.dir, iface, "statistics"), Line: p.line, Msg: fmt.Sprintf("%s: %q is not a number", p.k, p.v)}
		}
		out[p.k] = v
	}
	return out, nil
}

// maxCur reads the "Pre-set maximums" and "Current hardware settings"
// halves of `ethtool -g` and `-l` output; "n/a" reads as 0.
func (r replayEthtool) maxCur(iface, name, what string) (max, cur map[string]uint32, err error) {
	kv, err := r.fields(iface, name, what)
	if err != nil {
		return nil, nil, err
	}
	max, cur = map[string]uint32{}, map[string]uint32{}
	into := max
	for _, p := range kv {
		switch {
		case strings.HasPrefix(p.k, "Current hardware settings"):
			into = cur
		case p.v != "":
			v, _ := strconv.ParseUint(p.v, 10, 32)
			into[p.k] = uint32(v)
		}
	}
	return max, cur, nil
}

func (r replayEthtool) Ring(iface string) (Ring, error) {
	max, cur, err := r.maxCur(iface, "ring", "rings")
	return Ring{RxPending: cur["RX"], RxMax: max["RX"], TxPending: cur["TX"], TxMax: max["TX"]}, err
}

func (r replayEthtool) Channels(iface string) (Channels, error) {
	max, cur, err := r.maxCur(iface, "channels", "channels")
	return Channels{Rx: cur["RX"], Tx: cur["TX"], Other: cur["Other"], Combined: cur["Combined"],
		MaxRx: max["RX"], MaxTx: max["TX"], MaxOther: max["Other"], MaxCombined: max["Combined"]}, err
}

// ethtoolLegacyNames maps `ethtool -k`'s historical names to the kernel's
// feature names.
var ethtoolLegacyNames = map[string]string{
	"generic-receive-offload":      "rx-gro",
	"large-receive-offload":        "rx-lro",
	"generic-segmentation-offload": "tx-generic-segmentation",
}

func (r replayEthtool) Features(iface string) (map[string]bool, error) {
	kv, err := r.fields(iface, "features", "features")
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, p := range kv {
		name := p.k
		if n, ok := ethtoolLegacyNames[name]; ok {
			name = n
		}
		out[name] = strings.HasPrefix(p.v, "on")
	}
	return out, nil
}

func (r replayEthtool) LinkSettings(iface string) (LinkSettings, error) {
	kv, err := r.fields(iface, "settings", "link settings")
	var s LinkSettings
	for _, p := range kv {
		switch p.k {
		case "Speed":
			v, _ := strconv.ParseInt(strings.TrimSuffix(p.v, "Mb/s"), 10, 64)
			s.SpeedMbps = v
		case "Duplex":
			if d := strings.ToLower(p.v); d == "full" || d == "half" {
				s.Duplex = d
			}
		}
	}
	return s, err
}
