package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/netdx/netdx/diagnose"
	"github.com/netdx/netdx/drops"
	"github.com/netdx/netdx/report"
)

// reasonSource is what the commands read drop reasons from: a
// drops.Source, or a scripted one in tests.
type reasonSource interface {
	Start(ctx context.Context) error
	Kind() drops.Kind
	Snapshot() (drops.Window, error)
	Close() error
}

// newReasonSource is the drop-reason source of diag, serve and drops;
// tests replace it.
var newReasonSource = func(proc string) reasonSource {
	return drops.New(drops.Options{ProcDir: proc})
}

// startReasons starts the drop-reason source: the best way in this
// kernel and these privileges allow, or none (its failures say why).
// Starting loads and attaches a BPF program, 0.1 to 0.3 s.
func startReasons(ctx context.Context, proc string) (reasonSource, error) {
	s := newReasonSource(proc)
	if err := s.Start(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// reasonsOf reads s twice, around the host's samples.
func reasonsOf(s reasonSource, netns uint32) *diagnose.Reasons {
	return &diagnose.Reasons{Take: func(int) (drops.Window, error) { return s.Snapshot() }, Netns: netns, Sleep: wait}
}

// netnsInode is the inode of the namespace --netns names (a name under
// /run/netns or a path), 0 for netdx's own.
func netnsInode(netns string) (uint32, error) {
	if netns == "" {
		return 0, nil
	}
	path := netns
	if !strings.Contains(netns, "/") {
		path = filepath.Join("/run/netns", netns)
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	return uint32(st.Ino), nil
}

// dropFilter keeps the drops --netns, --iface and --reason allow: an
// entry matches when it matches one value of each flag given. A
// namespace matches by name ("blue", "host", "self", "comm[pid]"),
// cookie or inode; a reason by its name or its family (socket_buffer,
// drops.socket_buffer), either in any case.
type dropFilter struct {
	netns, ifaces, reasons []string
}

func (f dropFilter) empty() bool { return len(f.netns)+len(f.ifaces)+len(f.reasons) == 0 }

func (f dropFilter) keep(d *drops.Drop) bool {
	return f.matchNetns(d.Netns) && matchAny(f.ifaces, d.Interface) && f.matchReason(d.Reason)
}

func (f dropFilter) matchNetns(n drops.Netns) bool {
	if len(f.netns) == 0 {
		return true
	}
	for _, v := range f.netns {
		if v == n.String() || (n.Name != "" && v == n.Name) || v == strconv.FormatUint(n.Cookie, 10) ||
			(n.Inode != 0 && v == strconv.FormatUint(uint64(n.Inode), 10)) {
			return true
		}
	}
	return false
}

func (f dropFilter) matchReason(r string) bool {
	if len(f.reasons) == 0 {
		return true
	}
	fam := diagnose.DropFamilyOf(r)
	for _, v := range f.reasons {
		v = strings.ToLower(v)
		if v == strings.ToLower(r) || (fam != "" && (v == fam || v == "drops."+fam)) {
			return true
		}
	}
	return false
}

func matchAny(vals []string, s string) bool {
	if len(vals) == 0 {
		return true
	}
	for _, v := range vals {
		if v == s {
			return true
		}
	}
	return false
}

// check refuses a --reason that is neither a family nor shaped like a
// kernel reason name.
func (f dropFilter) check() error {
	for _, r := range f.reasons {
		if diagnose.IsDropFamily(strings.TrimPrefix(strings.ToLower(r), "drops.")) {
			continue
		}
		for _, c := range r {
			if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '+') {
				return &usageError{fmt.Errorf("invalid --reason %q: give a reason (NO_SOCKET) or a family (%s)", r, strings.Join(diagnose.DropFamilyKeys(), ", "))}
			}
		}
	}
	return nil
}

// report is the filter as the report states it; nil when empty.
func (f dropFilter) report() *report.DropFilter {
	if f.empty() {
		return nil
	}
	return &report.DropFilter{Netns: f.netns, Ifaces: f.ifaces, Reasons: f.reasons}
}

// diagReasons starts the drop reasons of a live diag, reconciled in the
// namespace --netns reads; done closes the source.
func diagReasons(ctx context.Context, o *diagOptions) (*diagnose.Reasons, func(), error) {
	inode, err := netnsInode(o.netns)
	if err != nil {
		return nil, nil, &usageError{fmt.Errorf("--netns: %w", err)}
	}
	src, err := startReasons(ctx, o.proc)
	if err != nil {
		return nil, nil, err
	}
	return reasonsOf(src, inode), func() { src.Close() }, nil
}
