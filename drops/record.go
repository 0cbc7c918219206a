package drops

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// key is one row of the aggregation, as the BPF programs key their map
// and the perf source keys its own.
type key struct {
	cookie  uint64
	sock    uint64
	reason  uint32
	ifindex uint32
	inum    uint32
	ether   uint16
	ipProto uint8
	via     Via
}

// decodeKey reads a map key the programs wrote (host byte order but the
// EtherType, see the key layout in program.go).
func decodeKey(b []byte) (key, error) {
	if len(b) != keySize {
		return key{}, fmt.Errorf("map key of %d bytes, want %d", len(b), keySize)
	}
	ne := binary.NativeEndian
	k := key{
		cookie:  ne.Uint64(b[keyCookie:]),
		sock:    ne.Uint64(b[keySock:]),
		reason:  ne.Uint32(b[keyReason:]),
		ifindex: ne.Uint32(b[keyIfindex:]),
		inum:    ne.Uint32(b[keyInum:]),
		ether:   binary.BigEndian.Uint16(b[keyEther:]),
		ipProto: b[keyIPProto],
		via:     Via(b[keyVia]),
	}
	if k.via > ViaSkbSk {
		return key{}, fmt.Errorf("map key with unknown namespace path %d", k.via)
	}
	return k, nil
}

// rawLayout is where the reason and protocol sit in a kfree_skb record.
type rawLayout struct {
	reason, protocol Field
}

func layoutOf(f *Format) (rawLayout, error) {
	l := rawLayout{reason: f.Fields["reason"], protocol: f.Fields["protocol"]}
	if l.reason.Size != 4 || l.protocol.Size != 2 {
		return l, fmt.Errorf("kfree_skb record has a %d-byte reason and a %d-byte protocol, want 4 and 2", l.reason.Size, l.protocol.Size)
	}
	return l, nil
}

// decodeRaw reads the reason and EtherType (host order in the record)
// of one raw kfree_skb record.
func (l rawLayout) decodeRaw(raw []byte) (key, error) {
	if len(raw) < l.reason.Offset+4 || len(raw) < l.protocol.Offset+2 {
		return key{}, fmt.Errorf("kfree_skb record of %d bytes is too short", len(raw))
	}
	ne := binary.NativeEndian
	return key{
		reason: ne.Uint32(raw[l.reason.Offset:]),
		ether:  ne.Uint16(raw[l.protocol.Offset:]),
	}, nil
}

// perf_event record types (include/uapi/linux/perf_event.h).
const (
	perfRecordLost   = 2
	perfRecordSample = 9
)

var errRecord = errors.New("malformed perf record")

// parsePerfRecords walks perf ring records laid end to end in b (the
// ring's unread part, unwrapped). Samples (PERF_SAMPLE_RAW only: a u32
// size and the raw record) go to sample, PERF_RECORD_LOST counts to
// lost; other record types are skipped. It returns the number of bytes
// consumed: a trailing partial record is left for the next read.
func parsePerfRecords(b []byte, sample func(raw []byte), lost func(n uint64)) (int, error) {
	ne := binary.NativeEndian
	done := 0
	for len(b)-done >= 8 {
		typ := ne.Uint32(b[done:])
		size := int(ne.Uint16(b[done+6:]))
		if size < 8 {
			return done, fmt.Errorf("%w: %d-byte record at %d", errRecord, size, done)
		}
		if len(b)-done < size {
			break
		}
		body := b[done+8 : done+size]
		switch typ {
		case perfRecordSample:
			if len(body) < 4 {
				return done, fmt.Errorf("%w: sample without a size at %d", errRecord, done)
			}
			n := int(ne.Uint32(body))
			if n > len(body)-4 {
				return done, fmt.Errorf("%w: %d-byte raw sample in a %d-byte record at %d", errRecord, n, size, done)
			}
			sample(body[4 : 4+n])
		case perfRecordLost:
			if len(body) < 16 {
				return done, fmt.Errorf("%w: short lost record at %d", errRecord, done)
			}
			lost(ne.Uint64(body[8:]))
		}
		done += size
	}
	return done, nil
}
