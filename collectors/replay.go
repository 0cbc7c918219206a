package collectors

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Replay reads a recorded host instead of the live one: root/proc and
// root/sys are procfs and sysfs trees, root/netlink holds the links,
// qdiscs and listeners netlink returned (links.json, qdiscs.json,
// listeners.json, as the Link, Qdisc and Listener types marshal), and
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
	return &SourceError{Source: source, Err: fmt.Errorf("not recorded: %w", syscall.EOPNOTSUPP)}
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

func (r replayNetlink) Listeners() ([]Listener, error) {
	out := []Listener{}
	return out, r.load("listeners.json", "sock_diag TCP listeners", &out)
}

// replayEthtool answers from recorded ethtool output.
type replayEthtool struct{ dir string }

func (replayEthtool) Close() {}

// fields reads a recorded "key: value" file, one pair per line; lines
// without a colon (titles) are skipped.
func (r replayEthtool) fields(iface, name, what string) ([][2]string, error) {
	path := filepath.Join(r.dir, iface, name)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, notRecorded("ethtool " + what + " " + iface)
	}
	if err != nil {
		return nil, &SourceError{Source: path, Err: err}
	}
	var out [][2]string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		out = append(out, [2]string{strings.TrimSpace(k), strings.TrimSpace(v)})
	}
	return out, nil
}

func (r replayEthtool) DriverInfo(iface string) (DriverInfo, error) {
	kv, err := r.fields(iface, "driver", "driver info")
	var d DriverInfo
	for _, p := range kv {
		switch p[0] {
		case "driver":
			d.Driver = p[1]
		case "version":
			d.Version = p[1]
		case "firmware-version":
			d.Firmware = p[1]
		case "bus-info":
			d.BusInfo = p[1]
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
	for i, p := range kv {
		v, err := strconv.ParseUint(p[1], 10, 64)
		if err != nil {
			return nil, &ParseError{Path: filepath.Join(r.dir, iface, "statistics"), Line: i + 2, Msg: fmt.Sprintf("%s: %q is not a number", p[0], p[1])}
		}
		out[p[0]] = v
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
		case strings.HasPrefix(p[0], "Current hardware settings"):
			into = cur
		case p[1] != "":
			v, _ := strconv.ParseUint(p[1], 10, 32)
			into[p[0]] = uint32(v)
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
	"rx-gro-hw":                    "rx-gro-hw",
}

func (r replayEthtool) Features(iface string) (map[string]bool, error) {
	kv, err := r.fields(iface, "features", "features")
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, p := range kv {
		name := p[0]
		if n, ok := ethtoolLegacyNames[name]; ok {
			name = n
		}
		out[name] = strings.HasPrefix(p[1], "on")
	}
	return out, nil
}

func (r replayEthtool) LinkSettings(iface string) (LinkSettings, error) {
	kv, err := r.fields(iface, "settings", "link settings")
	var s LinkSettings
	for _, p := range kv {
		switch p[0] {
		case "Speed":
			v, _ := strconv.ParseInt(strings.TrimSuffix(p[1], "Mb/s"), 10, 64)
			s.SpeedMbps = v
		case "Duplex":
			if d := strings.ToLower(p[1]); d == "full" || d == "half" {
				s.Duplex = d
			}
		}
	}
	return s, err
}
