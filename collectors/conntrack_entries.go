package collectors

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/netdx/netdx/internal/caps"
)

// What fills the connection tracking table, and whether its limit can be
// changed from here: a fix that shortens TCP timeouts does nothing for a
// table of UDP entries, and one that raises nf_conntrack_max cannot be
// applied in a child namespace, where the kernel makes it read-only.

// ConntrackCountLimit caps how many entries are read to count them by
// protocol. The kernel lists them in hash order, so on a larger table the
// first ones are a fair sample: the shares hold, the counts do not.
const ConntrackCountLimit = 8192

// ctnetlink message types (include/uapi/linux/netfilter/nfnetlink.h and
// nfnetlink_conntrack.h).
const (
	nfnlSubsysCTNetlink = 1
	ctMsgNew            = 0
	ctMsgGet            = 1
)

// conntrackProtoNames names the L4 protocols of conntrack entries.
var conntrackProtoNames = map[uint8]string{1: "icmp", 6: "tcp", 17: "udp", 33: "dccp", 47: "gre", 58: "icmpv6", 132: "sctp", 136: "udplite"}

// conntrackProtoName names protocol number p ("udp", or "proto 99").
func conntrackProtoName(p uint8) string {
	if n, ok := conntrackProtoNames[p]; ok {
		return n
	}
	return "proto " + strconv.Itoa(int(p))
}

// readConntrackDetail fills what ct holds besides the /proc files: whether
// nf_conntrack_max is writable here, and the entries by protocol.
// Both describe the namespace being read, so neither is read from a
// recording or from a container that could not enter the host's
// namespace.
func readConntrackDetail(ctx context.Context, src *Sources, snap *Snapshot, ct *Conntrack) {
	if _, live := src.Netlink.(liveNetlink); !live || src.liveOnly("") != nil {
		return
	}
	// The file's mode is the kernel's own answer: 0644 in the initial
	// namespace, 0444 in any other.
	if ct.Max != nil {
		w := sysctlWritable(filepath.Join(src.ProcPath, "sys", "net", "netfilter", "nf_conntrack_max"))
		ct.MaxWritable = &w
	}
	if ct.Count == nil || *ct.Count == 0 {
		return
	}
	by, n, err := countConntrackEntries(ctx, ConntrackCountLimit)
	if err != nil {
		se := &SourceError{Source: "conntrack entries (ctnetlink)", Err: err}
		if errors.Is(err, fs.ErrPermission) {
			se.Fix = "grant CAP_NET_ADMIN (or run as root) to count the tracked connections by protocol"
			se.Capability = caps.NetAdmin.String()
		}
		snap.AddSkip("conntrack", se)
		return
	}
	ct.ByProto, ct.Counted = by, n
}

// countConntrackEntries dumps the namespace's conntrack table over
// ctnetlink and counts the entries by the protocol of their original
// direction, stopping after limit entries (the socket is closed, so the
// kernel stops too). It returns the counts and how many were counted.
func countConntrackEntries(ctx context.Context, limit int) (map[string]uint64, uint64, error) {
	s, err := netlinkSocket(ctx, unix.NETLINK_NETFILTER)
	if err != nil {
		return nil, 0, err
	}
	defer s.Close()
	req := nl.NewNetlinkRequest(nfnlSubsysCTNetlink<<8|ctMsgGet, unix.NLM_F_DUMP)
	req.AddData(&nl.Nfgenmsg{NfgenFamily: unix.AF_UNSPEC, Version: nl.NFNETLINK_V0})
	if err := s.Send(req); err != nil {
		return nil, 0, err
	}
	byNum := map[uint8]uint64{}
	var n uint64
	for n < uint64(limit) {
		msgs, _, err := s.Receive()
		if err != nil {
			return nil, 0, err
		}
		done := false
		for _, m := range msgs {
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				done = true
			case unix.NLMSG_ERROR:
				if len(m.Data) >= 4 {
					if errno := -int32(binary.NativeEndian.Uint32(m.Data)); errno != 0 {
						return nil, 0, unix.Errno(errno)
					}
				}
				done = true
			case nfnlSubsysCTNetlink<<8 | ctMsgNew:
				if n == uint64(limit) {
					continue // the rest of this read; the loop ends
				}
				p, ok := conntrackProto(m.Data)
				if !ok {
					return nil, 0, fmt.Errorf("%w: conntrack entry without its protocol", errMPTCPMalformed)
				}
				byNum[p]++
				n++
			}
		}
		if done {
			break
		}
	}
	out := make(map[string]uint64, len(byNum))
	for p, c := range byNum {
		out[conntrackProtoName(p)] = c
	}
	return out, n, nil
}

// conntrackProto finds CTA_TUPLE_ORIG → CTA_TUPLE_PROTO → CTA_PROTO_NUM in
// a ctnetlink entry (behind its 4-byte nfgenmsg).
func conntrackProto(b []byte) (uint8, bool) {
	if len(b) < nl.SizeofNfgenmsg {
		return 0, false
	}
	var proto uint8
	found := false
	inside := func(b []byte, typ uint16, fn func([]byte)) {
		_ = walkAttrs(b, func(t uint16, v []byte) {
			if t == typ {
				fn(v)
			}
		})
	}
	inside(b[nl.SizeofNfgenmsg:], nl.CTA_TUPLE_ORIG, func(tuple []byte) {
		inside(tuple, nl.CTA_TUPLE_PROTO, func(p []byte) {
			inside(p, nl.CTA_PROTO_NUM, func(num []byte) {
				if len(num) >= 1 {
					proto, found = num[0], true
				}
			})
		})
	})
	return proto, found
}
