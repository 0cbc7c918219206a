package drops

import (
	"encoding/binary"
	"testing"
	"time"
)

// perfSample builds a PERF_RECORD_SAMPLE carrying a raw kfree_skb record
// as the kernel lays it out (fixture format: protocol at 32, reason at
// 36), padded to 8 bytes as the kernel pads it.
func perfSample(reason uint32, protocol uint16) []byte {
	raw := make([]byte, 44)
	binary.NativeEndian.PutUint16(raw[32:], protocol)
	binary.NativeEndian.PutUint32(raw[36:], reason)
	body := binary.NativeEndian.AppendUint32(nil, uint32(len(raw)))
	body = append(body, raw...)
	rec := binary.NativeEndian.AppendUint32(nil, perfRecordSample)
	rec = binary.NativeEndian.AppendUint16(rec, 0)
	rec = binary.NativeEndian.AppendUint16(rec, uint16(8+len(body)))
	return append(rec, body...)
}

func perfLost(n uint64) []byte {
	rec := binary.NativeEndian.AppendUint32(nil, perfRecordLost)
	rec = binary.NativeEndian.AppendUint16(rec, 0)
	rec = binary.NativeEndian.AppendUint16(rec, 24)
	rec = binary.NativeEndian.AppendUint64(rec, 7) // id
	return binary.NativeEndian.AppendUint64(rec, n)
}

var fixtureLayout = rawLayout{reason: Field{Offset: 36, Size: 4}, protocol: Field{Offset: 32, Size: 2}}

func TestParsePerfRecords(t *testing.T) {
	var ring []byte
	ring = append(ring, perfSample(3, 0x0800)...)
	ring = append(ring, perfLost(5)...)
	ring = append(ring, perfSample(12, 0x86dd)...)
	full := len(ring)
	ring = append(ring, perfSample(3, 0x0800)[:20]...) // a record still being written
	var keys []key
	var lost uint64
	used, err := parsePerfRecords(ring, func(raw []byte) {
		k, err := fixtureLayout.decodeRaw(raw)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}, func(n uint64) { lost += n })
	if err != nil {
		t.Fatal(err)
	}
	if used != full || lost != 5 || len(keys) != 2 || keys[0] != (key{reason: 3, ether: 0x0800}) || keys[1] != (key{reason: 12, ether: 0x86dd}) {
		t.Errorf("used %d of %d, lost %d, keys %+v", used, full, lost, keys)
	}
	bad := perfSample(3, 0x0800)
	binary.NativeEndian.PutUint32(bad[8:], 4096) // raw size beyond the record
	if _, err := parsePerfRecords(bad, func([]byte) {}, func(uint64) {}); err == nil {
		t.Error("a raw size beyond its record parsed")
	}
	if _, err := parsePerfRecords(make([]byte, 16), func([]byte) {}, func(uint64) {}); err == nil {
		t.Error("a zero-size record parsed (it would loop forever)")
	}
}

func TestDecodeKey(t *testing.T) {
	b := make([]byte, keySize)
	binary.NativeEndian.PutUint64(b[keyCookie:], 365)
	binary.NativeEndian.PutUint64(b[keySock:], 77)
	binary.NativeEndian.PutUint32(b[keyReason:], 6)
	binary.NativeEndian.PutUint32(b[keyIfindex:], 2)
	binary.NativeEndian.PutUint32(b[keyInum:], 4026532238)
	binary.BigEndian.PutUint16(b[keyEther:], 0x0800)
	b[keyIPProto], b[keyVia] = 17, byte(ViaRxSock)
	k, err := decodeKey(b)
	want := key{cookie: 365, sock: 77, reason: 6, ifindex: 2, inum: 4026532238, ether: 0x0800, ipProto: 17, via: ViaRxSock}
	if err != nil || k != want {
		t.Errorf("decoded %+v, %v; want %+v", k, err, want)
	}
	b[keyVia] = 9
	if _, err := decodeKey(b); err == nil {
		t.Error("an unknown namespace path decoded")
	}
	if _, err := decodeKey(b[:31]); err == nil {
		t.Error("a short key decoded")
	}
}

func TestProtocol(t *testing.T) {
	for _, tc := range []struct {
		d    Drop
		want string
	}{
		{Drop{EtherType: 0x0800, IPProto: 17}, "udp"},
		{Drop{EtherType: 0x86dd, IPProto: 58}, "ipv6-icmp"},
		{Drop{EtherType: 0x86dd}, "ipv6"},
		{Drop{EtherType: 0x0806}, "arp"},
		{Drop{EtherType: 0x88cc}, "0x88cc"},
		{Drop{}, ""},
	} {
		if got := tc.d.Protocol(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestWindowSub(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	a := Drop{Reason: "NO_SOCKET", RawReason: 3, Count: 10}
	b := Drop{Reason: "QDISC_DROP", RawReason: 64, Ifindex: 2, Count: 4}
	before := Window{End: t0, Drops: []Drop{a, b}, Overflow: Overflow{MapFull: 1}}
	a.Count, b.Count = 25, 4
	c := Drop{Reason: "NO_SOCKET", RawReason: 3, Socket: &Socket{Inode: 9}, Count: 2}
	after := Window{End: t0.Add(5e9), Drops: []Drop{a, b, c}, Overflow: Overflow{MapFull: 3}}
	w := after.Sub(before)
	if len(w.Drops) != 2 || w.Drops[0].Count != 15 || w.Drops[1].Count != 2 || w.Overflow.MapFull != 2 || w.Start != t0 || w.Total() != 17 {
		t.Errorf("window %+v", w)
	}
}

func TestParseCPUList(t *testing.T) {
	got, err := parseCPUList("0-2,5")
	if err != nil || len(got) != 4 || got[3] != 5 {
		t.Errorf("%v %v", got, err)
	}
	for _, bad := range []string{"", "2-1", "x", "0-999999"} {
		if _, err := parseCPUList(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// FuzzPerfRecords feeds arbitrary bytes to the perf ring parser and the
// raw record decoder: no panic, no read past a record, progress only by
// whole records, a zero-size record is an error (not a loop).
func FuzzPerfRecords(f *testing.F) {
	f.Add(append(perfSample(3, 0x0800), perfLost(2)...))
	f.Add(perfSample(64, 0x86dd)[:30])
	f.Add(make([]byte, 8))
	f.Fuzz(func(t *testing.T, b []byte) {
		var samples int
		used, err := parsePerfRecords(b, func(raw []byte) {
			samples++
			if k, err := fixtureLayout.decodeRaw(raw); err == nil && len(raw) < 40 {
				t.Fatalf("decoded %+v from %d bytes", k, len(raw))
			}
		}, func(uint64) {})
		if used < 0 || used > len(b) {
			t.Fatalf("used %d of %d", used, len(b))
		}
		if err == nil && len(b)-used >= 8 && binary.NativeEndian.Uint16(b[used+6:]) <= uint16(len(b)-used) {
			t.Fatalf("stopped at %d before a whole record", used)
		}
		if samples > len(b)/12 {
			t.Fatalf("%d samples from %d bytes", samples, len(b))
		}
	})
}

// FuzzMapKey: any 32 bytes decode to a key or an error; a decoded key
// has a known namespace path.
func FuzzMapKey(f *testing.F) {
	f.Add(make([]byte, keySize))
	f.Add(make([]byte, 31))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := decodeKey(b)
		if err == nil && (len(b) != keySize || k.via > ViaSkbSk) {
			t.Fatalf("decoded %+v from %d bytes", k, len(b))
		}
	})
}
