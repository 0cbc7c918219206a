package drops

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
)

// field is a struct member the BPF program reads: its byte offset and
// load size, resolved from the running kernel's BTF so the same program
// works whatever the kernel's struct layout (what CO-RE relocations do
// for a compiled program).
type field struct {
	off  int16
	size asm.Size
}

// kernelFields are the members the tp_btf program reads.
type kernelFields struct {
	skbDev, skbSk, skbIif, skbProtocol, skbHead, skbNetworkHeader field
	devIfindex, devNet                                            field
	skNet, skSocket                                               field
	socketFile, fileInode, inodeIno                               field
	netCookie, netInum                                            field
	// rxSk is whether the tracepoint passes the receiving socket
	// (Linux 6.11+).
	rxSk bool
}

// resolveFields finds every member in spec. A kernel without one of them
// (an old net without net_cookie) cannot run the program.
func resolveFields(spec *btf.Spec) (*kernelFields, error) {
	var kf kernelFields
	var firstErr error
	get := func(dst *field, typ string, path string) {
		if firstErr != nil {
			return
		}
		var s *btf.Struct
		if err := spec.TypeByName(typ, &s); err != nil {
			firstErr = fmt.Errorf("struct %s: %w", typ, err)
			return
		}
		f, err := memberField(s, path)
		if err != nil {
			firstErr = fmt.Errorf("struct %s: %w", typ, err)
		}
		*dst = f
	}
	get(&kf.skbDev, "sk_buff", "dev")
	get(&kf.skbSk, "sk_buff", "sk")
	get(&kf.skbIif, "sk_buff", "skb_iif")
	get(&kf.skbProtocol, "sk_buff", "protocol")
	get(&kf.skbHead, "sk_buff", "head")
	get(&kf.skbNetworkHeader, "sk_buff", "network_header")
	get(&kf.devIfindex, "net_device", "ifindex")
	get(&kf.devNet, "net_device", "nd_net.net")
	get(&kf.skNet, "sock", "__sk_common.skc_net.net")
	get(&kf.skSocket, "sock", "sk_socket")
	get(&kf.socketFile, "socket", "file")
	get(&kf.fileInode, "file", "f_inode")
	get(&kf.inodeIno, "inode", "i_ino")
	get(&kf.netCookie, "net", "net_cookie")
	get(&kf.netInum, "net", "ns.inum")
	if firstErr != nil {
		return nil, firstErr
	}
	params, err := kfreeSkbParams(spec)
	if err != nil {
		return nil, err
	}
	// btf_trace_kfree_skb(void *ctx, skb, location, reason[, rx_sk]).
	if len(params) < 4 {
		return nil, fmt.Errorf("%w: kfree_skb passes %d arguments, not a reason", ErrNoReasons, len(params)-1)
	}
	kf.rxSk = len(params) >= 5
	return &kf, nil
}

// kfreeSkbParams is the kfree_skb tracepoint's prototype as tp_btf
// programs see it: the typedef btf_trace_kfree_skb.
func kfreeSkbParams(spec *btf.Spec) ([]btf.FuncParam, error) {
	var td *btf.Typedef
	if err := spec.TypeByName("btf_trace_kfree_skb", &td); err != nil {
		return nil, fmt.Errorf("no kfree_skb tracepoint in BTF: %w", err)
	}
	ptr, ok := td.Type.(*btf.Pointer)
	if !ok {
		return nil, errors.New("btf_trace_kfree_skb is not a function pointer")
	}
	proto, ok := ptr.Target.(*btf.FuncProto)
	if !ok {
		return nil, errors.New("btf_trace_kfree_skb is not a function pointer")
	}
	return proto.Params, nil
}

// memberField resolves a dotted member path ("nd_net.net") in s, looking
// through anonymous structs and unions as C does.
func memberField(s btf.Type, path string) (field, error) {
	var off uint32
	typ := s
	for name := range strings.SplitSeq(path, ".") {
		m, at, ok := findMember(typ, name)
		if !ok {
			return field{}, fmt.Errorf("no member %s", path)
		}
		if m.BitfieldSize != 0 {
			return field{}, fmt.Errorf("member %s is a bitfield", path)
		}
		off += at + m.Offset.Bytes()
		typ = m.Type
	}
	n, err := btf.Sizeof(typ)
	if err != nil {
		return field{}, fmt.Errorf("member %s: %w", path, err)
	}
	size, ok := map[int]asm.Size{1: asm.Byte, 2: asm.Half, 4: asm.Word, 8: asm.DWord}[n]
	if !ok || off > 1<<15-1 {
		return field{}, fmt.Errorf("member %s: %d bytes at %d cannot be loaded", path, n, off)
	}
	return field{off: int16(off), size: size}, nil
}

// findMember finds a named member of a struct or union, descending into
// anonymous members; at is the offset of the anonymous member that holds
// it.
func findMember(t btf.Type, name string) (btf.Member, uint32, bool) {
	var members []btf.Member
	switch c := btf.UnderlyingType(t).(type) {
	case *btf.Struct:
		members = c.Members
	case *btf.Union:
		members = c.Members
	default:
		return btf.Member{}, 0, false
	}
	for _, m := range members {
		if m.Name == name {
			return m, 0, true
		}
	}
	for _, m := range members {
		if m.Name != "" {
			continue
		}
		if inner, at, ok := findMember(m.Type, name); ok {
			return inner, at + m.Offset.Bytes(), true
		}
	}
	return btf.Member{}, 0, false
}
