package decode_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/netdx/netdx/capture/decode"
)

// FuzzDecode decodes one frame of any link type. Its corpus
// (testdata/fuzz/FuzzDecode) holds every supported stack cut at each
// header boundary and frames of a VXLAN-tunnelled transfer recorded in
// the lab (written by capture's TestWriteLabFuzzSeeds); frames of the
// shared real captures are added when ../shared is present. Besides not
// panicking, a decode must hold together and must not depend on the frame
// decoded before it (the Decoder reuses its Packet).
func FuzzDecode(f *testing.F) {
	for _, fr := range frames(f) {
		f.Add(uint16(fr.link), fr.data, len(fr.data))
		for _, cut := range []int{13, 17, 30, 40, 50, 60, 70} {
			if cut < len(fr.data) {
				f.Add(uint16(fr.link), fr.data[:cut], len(fr.data))
			}
		}
	}
	addSharedFrames(f)
	used := decode.New(decode.Config{})
	prev := frames(f)["vxlan-in-gre"]
	f.Fuzz(func(t *testing.T, link uint16, data []byte, wire int) {
		p := decode.New(decode.Config{}).Decode(layers.LinkType(link), data, wire)
		checkPacket(t, p)
		used.Decode(prev.link, prev.data, len(prev.data))
		if q := used.Decode(layers.LinkType(link), data, wire); !sameDecode(p, q) {
			t.Fatalf("the decode depends on the previous frame:\nfresh %s\nafter %s", summary(p), summary(q))
		}
	})
}

func checkPacket(t *testing.T, p *decode.Packet) {
	t.Helper()
	if p.NLayers < 0 || p.NLayers > decode.MaxLayers {
		t.Fatalf("layers %d", p.NLayers)
	}
	if p.Payload < 0 || p.IPLen < 0 {
		t.Fatalf("negative length: payload %d ip %d", p.Payload, p.IPLen)
	}
	for i := range p.NLayers {
		l := &p.Layers[i]
		if l.Kind.String() == "unknown" || (l.Kind.IsTunnel() && !l.SrcAddr().IsValid()) {
			t.Fatalf("layer %d: %+v", i, *l)
		}
	}
	if p.Top != decode.TopNone && p.Version != 4 && p.Version != 6 {
		t.Fatalf("top %d with IP version %d", p.Top, p.Version)
	}
	if p.Top == decode.TopTCP {
		if int(p.TCP.HeaderLen) < 20 || int(p.TCP.HeaderLen) > 60 || p.TCP.NSACK > 4 {
			t.Fatalf("tcp header %d, %d sack blocks", p.TCP.HeaderLen, p.TCP.NSACK)
		}
		if p.Payload > p.IPLen {
			t.Fatalf("payload %d in an IP packet of %d", p.Payload, p.IPLen)
		}
	}
}

// sameDecode compares what the analysis reads of a packet for its Top.
func sameDecode(a, b *decode.Packet) bool {
	if a.Top != b.Top || a.NLayers != b.NLayers || a.Fault != b.Fault || a.Truncated != b.Truncated {
		return false
	}
	for i := range a.NLayers {
		x, y := &a.Layers[i], &b.Layers[i]
		if x.Kind != y.Kind || x.HasID != y.HasID || (x.HasID && x.ID != y.ID) || x.SrcAddr() != y.SrcAddr() || x.DstAddr() != y.DstAddr() {
			return false
		}
	}
	if a.Top == decode.TopNone {
		return true
	}
	if a.SrcAddr() != b.SrcAddr() || a.DstAddr() != b.DstAddr() || a.Proto != b.Proto || a.IPLen != b.IPLen || a.Fragment != b.Fragment {
		return false
	}
	switch a.Top {
	case decode.TopTCP:
		return a.SrcPort == b.SrcPort && a.DstPort == b.DstPort && a.Payload == b.Payload && sameTCP(&a.TCP, &b.TCP)
	case decode.TopUDP:
		return a.SrcPort == b.SrcPort && a.DstPort == b.DstPort && a.Payload == b.Payload
	case decode.TopWireGuard:
		return a.WireGuard == b.WireGuard
	case decode.TopESP:
		return a.ESP == b.ESP
	}
	return true
}

// sameTCP compares the valid fields: timestamps only when present, the
// SACK blocks up to NSACK.
func sameTCP(a, b *decode.TCP) bool {
	x, y := *a, *b
	x.SACK, y.SACK = [4]decode.SACKBlock{}, [4]decode.SACKBlock{}
	if !x.HasTS {
		x.TSval, x.TSecr, y.TSval, y.TSecr = 0, 0, 0, 0
	}
	return x == y && a.NSACK <= 4 && slices.Equal(a.SACK[:a.NSACK], b.SACK[:a.NSACK])
}

func summary(p *decode.Packet) string {
	return fmt.Sprintf("top %d layers %v fault %q truncated %v %s→%s proto %d iplen %d frag %v ports %d→%d payload %d tcp %+v",
		p.Top, p.Layers[:p.NLayers], p.Fault, p.Truncated, p.SrcAddr(), p.DstAddr(), p.Proto, p.IPLen, p.Fragment,
		p.SrcPort, p.DstPort, p.Payload, p.TCP)
}

// addSharedFrames adds the first frames of each real capture under
// $NETDX_SHARED/captures (default ../shared next to the module root) when
// it exists. They are read at test time, never copied into the repository.
func addSharedFrames(f *testing.F) {
	dir := os.Getenv("NETDX_SHARED")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "captures", "*", "*.pcap*"))
	for _, path := range files {
		fh, err := os.Open(path)
		if err != nil {
			continue
		}
		var next func() ([]byte, int, layers.LinkType, error)
		if r, err := pcapgo.NewReader(fh); err == nil {
			next = func() ([]byte, int, layers.LinkType, error) {
				b, ci, err := r.ReadPacketData()
				return b, ci.Length, r.LinkType(), err
			}
		} else if _, err := fh.Seek(0, io.SeekStart); err == nil {
			if r, err := pcapgo.NewNgReader(fh, pcapgo.DefaultNgReaderOptions); err == nil {
				next = func() ([]byte, int, layers.LinkType, error) {
					b, ci, err := r.ReadPacketData()
					if err != nil {
						return nil, 0, 0, err
					}
					in, err := r.Interface(ci.InterfaceIndex)
					return b, ci.Length, in.LinkType, err
				}
			}
		}
		for i := 0; next != nil && i < 8; i++ {
			b, wire, lt, err := next()
			if err != nil {
				break
			}
			f.Add(uint16(lt), b, wire)
		}
		fh.Close()
	}
}
