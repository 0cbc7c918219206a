package drops

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// The aggregation map's key, as the programs write it on the stack (at
// fp-keySize) and Go reads it back (decodeKey). The EtherType is stored
// in network byte order, as skb->protocol holds it.
const (
	keyCookie  = 0  // u64 net cookie
	keySock    = 8  // u64 socket inode
	keyReason  = 16 // u32 enum skb_drop_reason
	keyIfindex = 20 // u32
	keyInum    = 24 // u32 namespace inode
	keyEther   = 28 // be16
	keyIPProto = 30 // u8
	keyVia     = 31 // u8 Via
	keySize    = 32
)

// Stack slots below the key.
const (
	stackKey   = -keySize
	stackOne   = stackKey - 8  // u64 1, the first count of a new row
	stackZero  = stackOne - 4  // u32 0, the index of the map-full counter
	stackProto = stackZero - 4 // u8 read from the IP header
)

// The BPF helpers the programs call.
const (
	noExist = 1 // BPF_NOEXIST
)

// maps are the two maps the programs count into.
type maps struct {
	// counts is a per-CPU hash, key → drops: no atomic operations and
	// no cache line shared between CPUs on the hot path.
	counts *ebpf.Map
	// full counts the updates refused because counts was full (a
	// per-CPU array of one u64): a full hash map fails silently.
	full *ebpf.Map
}

func newMaps(maxEntries int) (*maps, error) {
	counts, err := ebpf.NewMap(&ebpf.MapSpec{
		Name: "netdx_drops", Type: ebpf.PerCPUHash,
		KeySize: keySize, ValueSize: 8, MaxEntries: uint32(maxEntries),
	})
	if err != nil {
		return nil, fmt.Errorf("create the drops map: %w", err)
	}
	full, err := ebpf.NewMap(&ebpf.MapSpec{
		Name: "netdx_drops_full", Type: ebpf.PerCPUArray,
		KeySize: 4, ValueSize: 8, MaxEntries: 1,
	})
	if err != nil {
		counts.Close()
		return nil, fmt.Errorf("create the map-full counter: %w", err)
	}
	return &maps{counts: counts, full: full}, nil
}

func (m *maps) Close() error {
	return errors.Join(m.counts.Close(), m.full.Close())
}

// btfProgram is the tp_btf/kfree_skb program. Its context is the
// tracepoint's arguments, one u64 each: skb, location, reason and, from
// Linux 6.11, rx_sk. Pointers are typed (the verifier knows their BTF),
// so the program reads members directly, at offsets resolved from the
// running kernel's BTF.
//
// The namespace of a drop comes from the receiving socket when there is
// one (socket-level drops; the interface is then skb_iif), else from the
// device the packet was on, else from the socket that sent it.
func btfProgram(kf *kernelFields, m *maps) asm.Instructions {
	const (
		ctx = asm.R6 // the tracepoint's arguments
		skb = asm.R7
		ptr = asm.R8 // the pointer being followed
		net = asm.R9 // struct net of the drop, or 0
	)
	load := func(dst, src asm.Register, f field) asm.Instruction { return asm.LoadMem(dst, src, f.off, f.size) }
	insns := asm.Instructions{
		asm.Mov.Reg(ctx, asm.R1),
	}
	insns = append(insns, zeroKey()...)
	insns = append(insns,
		asm.LoadMem(skb, ctx, 0, asm.DWord),
		asm.LoadMem(asm.R1, ctx, 16, asm.DWord),
		asm.StoreMem(asm.RFP, stackKey+keyReason, asm.R1, asm.Word),
		asm.Mov.Imm(net, 0),
	)
	if kf.rxSk {
		insns = append(insns,
			asm.LoadMem(ptr, ctx, 24, asm.DWord),
			asm.JEq.Imm(ptr, 0, "dev"),
			load(net, ptr, kf.skNet),
			load(asm.R1, skb, kf.skbIif),
			asm.StoreMem(asm.RFP, stackKey+keyIfindex, asm.R1, asm.Word),
			asm.StoreImm(asm.RFP, stackKey+keyVia, int64(ViaRxSock), asm.Byte),
			// The socket's inode: sk->sk_socket->file->f_inode->i_ino.
			load(ptr, ptr, kf.skSocket),
			asm.JEq.Imm(ptr, 0, "net"),
			load(ptr, ptr, kf.socketFile),
			asm.JEq.Imm(ptr, 0, "net"),
			load(ptr, ptr, kf.fileInode),
			asm.JEq.Imm(ptr, 0, "net"),
			load(asm.R1, ptr, kf.inodeIno),
			asm.StoreMem(asm.RFP, stackKey+keySock, asm.R1, asm.DWord),
			asm.Ja.Label("net"),
		)
	}
	insns = append(insns,
		load(ptr, skb, kf.skbDev).WithSymbol("dev"),
		asm.JEq.Imm(ptr, 0, "sk"),
		load(net, ptr, kf.devNet),
		load(asm.R1, ptr, kf.devIfindex),
		asm.StoreMem(asm.RFP, stackKey+keyIfindex, asm.R1, asm.Word),
		asm.StoreImm(asm.RFP, stackKey+keyVia, int64(ViaDevice), asm.Byte),
		asm.Ja.Label("net"),

		load(ptr, skb, kf.skbSk).WithSymbol("sk"),
		asm.JEq.Imm(ptr, 0, "proto"),
		load(net, ptr, kf.skNet),
		asm.StoreImm(asm.RFP, stackKey+keyVia, int64(ViaSkbSk), asm.Byte),

		asm.JEq.Imm(net, 0, "proto").WithSymbol("net"),
		load(asm.R1, net, kf.netCookie),
		asm.StoreMem(asm.RFP, stackKey+keyCookie, asm.R1, asm.DWord),
		load(asm.R1, net, kf.netInum),
		asm.StoreMem(asm.RFP, stackKey+keyInum, asm.R1, asm.Word),

		// The IP protocol: byte 9 of an IPv4 header, 6 (the first next
		// header) of an IPv6 one, read from skb->head +
		// skb->network_header. skb->protocol is big-endian in memory.
		load(asm.R1, skb, kf.skbProtocol).WithSymbol("proto"),
		asm.StoreMem(asm.RFP, stackKey+keyEther, asm.R1, asm.Half),
		asm.Mov.Imm(asm.R4, 9),
		asm.JEq.Imm(asm.R1, int32(inMemoryBE16(0x0800)), "l4"),
		asm.Mov.Imm(asm.R4, 6),
		asm.JEq.Imm(asm.R1, int32(inMemoryBE16(0x86dd)), "l4"),
		asm.Ja.Label("count"),
		load(asm.R3, skb, kf.skbHead).WithSymbol("l4"),
		load(asm.R1, skb, kf.skbNetworkHeader),
		asm.Add.Reg(asm.R3, asm.R1),
		asm.Add.Reg(asm.R3, asm.R4),
		asm.Mov.Reg(asm.R1, asm.RFP),
		asm.Add.Imm(asm.R1, stackProto),
		asm.Mov.Imm(asm.R2, 1),
		asm.FnProbeReadKernel.Call(),
		asm.JNE.Imm(asm.R0, 0, "count"),
		asm.LoadMem(asm.R1, asm.RFP, stackProto, asm.Byte),
		asm.StoreMem(asm.RFP, stackKey+keyIPProto, asm.R1, asm.Byte),
		asm.Ja.Label("count"),
	)
	return append(insns, countKey(m)...)
}

// tracepointProgram is the program for the classic tracepoint
// skb/kfree_skb: its context is the raw record, laid out as the format
// file says. It sees the reason and the EtherType only (the record's
// pointers cannot be followed without BTF).
func tracepointProgram(reason, protocol Field, m *maps) asm.Instructions {
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
	}
	insns = append(insns, zeroKey()...)
	insns = append(insns,
		asm.LoadMem(asm.R1, asm.R6, int16(reason.Offset), asm.Word),
		asm.StoreMem(asm.RFP, stackKey+keyReason, asm.R1, asm.Word),
		// The record's protocol is in host order (ntohs(skb->protocol)).
		asm.LoadMem(asm.R1, asm.R6, int16(protocol.Offset), asm.Half),
		asm.HostTo(asm.BE, asm.R1, asm.Half),
		asm.StoreMem(asm.RFP, stackKey+keyEther, asm.R1, asm.Half),
		asm.Ja.Label("count"),
	)
	return append(insns, countKey(m)...)
}

func zeroKey() asm.Instructions {
	insns := asm.Instructions{asm.Mov.Imm(asm.R1, 0)}
	for off := int16(stackKey); off < 0; off += 8 {
		insns = append(insns, asm.StoreMem(asm.RFP, off, asm.R1, asm.DWord))
	}
	return insns
}

// countKey adds one to the key's row. A new row is inserted with
// BPF_NOEXIST; if another CPU inserted it first the lookup is retried;
// if the map is full the map-full counter grows instead.
func countKey(m *maps) asm.Instructions {
	lookup := func(mp *ebpf.Map, keyOff int16) asm.Instructions {
		return asm.Instructions{
			asm.LoadMapPtr(asm.R1, mp.FD()),
			asm.Mov.Reg(asm.R2, asm.RFP),
			asm.Add.Imm(asm.R2, int32(keyOff)),
			asm.FnMapLookupElem.Call(),
		}
	}
	insns := lookup(m.counts, stackKey)
	insns[0] = insns[0].WithSymbol("count")
	insns = append(insns,
		asm.JNE.Imm(asm.R0, 0, "add"),
		asm.Mov.Imm(asm.R1, 1),
		asm.StoreMem(asm.RFP, stackOne, asm.R1, asm.DWord),
		asm.LoadMapPtr(asm.R1, m.counts.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, stackKey),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, stackOne),
		asm.Mov.Imm(asm.R4, noExist),
		asm.FnMapUpdateElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
	)
	insns = append(insns, lookup(m.counts, stackKey)...)
	insns = append(insns, asm.JNE.Imm(asm.R0, 0, "add"),
		asm.StoreImm(asm.RFP, stackZero, 0, asm.Word))
	insns = append(insns, lookup(m.full, stackZero)...)
	return append(insns,
		asm.JEq.Imm(asm.R0, 0, "out"),
		// R0 points at this CPU's count (a row's, or the map-full one).
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord).WithSymbol("add"),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
		asm.Return(),
	)
}

// inMemoryBE16 is the value a 16-bit load gives for a big-endian field
// holding v on this machine.
func inMemoryBE16(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}
