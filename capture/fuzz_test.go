package capture

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	ct "github.com/netdx/netdx/capture/capturetest"
	"github.com/netdx/netdx/internal/netlab"
)

// fuzzSeeds are small captures: the scenario in plain Ethernet and in
// tunnels, pcap and pcapng, gzip, WireGuard counters, and cut or mutated
// copies of each.
func fuzzSeeds(tb testing.TB) [][]byte {
	a, b := netip.MustParseAddr("198.18.10.1"), netip.MustParseAddr("198.18.10.2")
	var seeds [][]byte
	for _, encap := range [][]ct.Spec{nil, {{Kind: "vxlan", ID: 1, Src: a, Dst: b}},
		{{Kind: "gre", HasSeq: true, Seq: 5, Src: a, Dst: b}}, {{Kind: "geneve", ID: 2, Src: a, Dst: b}}} {
		g := ct.NewGen(tb, layers.LinkTypeEthernet)
		c := ct.NewConv(g, "198.18.0.1:40000", "198.18.1.1:443")
		c.Encap = encap
		c.Handshake(0, time.Millisecond)
		segs := c.SendData(0, 2*time.Millisecond, 10*time.Microsecond, 8, 100)
		segs[2], segs[3] = segs[3], segs[2]
		segs = append(segs, c.Resend(segs[5], 5*time.Millisecond))
		c.Deliver(c.Receiver(1), 3*time.Millisecond, 20*time.Microsecond, segs)
		seeds = append(seeds, g.Pcap(), g.Pcapng())
	}
	g := ct.NewGen(tb, layers.LinkTypeEthernet)
	for i, c := range []uint64{0, 1, 3, 2, 4, 4} {
		p := make([]byte, 48)
		p[0] = 4
		binary.LittleEndian.PutUint64(p[8:], c)
		g.Add(ct.Frame{At: time.Duration(i) * time.Millisecond, Src: a, Dst: b, SPort: 40000, DPort: 51820, UDP: true, UDPPayload: p, WS: -1})
	}
	seeds = append(seeds, g.Pcap(), ct.Gzip(tb, g.Pcap()))
	n := len(seeds)
	for _, s := range seeds[:n] {
		seeds = append(seeds, s[:len(s)*2/3])
		m := append([]byte(nil), s...)
		for i := 60; i < len(m); i += 97 {
			m[i] ^= 0xff
		}
		seeds = append(seeds, m)
	}
	return seeds
}

// FuzzAnalyze feeds whole files to the analyser. Its corpus
// (testdata/fuzz/FuzzAnalyze) holds the generated scenario in every
// tunnel, pcap and pcapng, gzip, a VXLAN-tunnelled transfer recorded in
// the lab (TestWriteLabFuzzSeeds) and cut and bit-flipped copies of each;
// the shared real captures are added when ../shared is present.
// Malformed, truncated and hostile input gives an *InputError naming the
// input and the record, and a partial result unless the file header is
// unreadable; the counts stay consistent.
func FuzzAnalyze(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	addSharedCaptures(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		t0 := time.Now()
		o := Options{Name: "fuzz.pcap", MaxFlows: 64}
		res, err := Analyze(context.Background(), bytes.NewReader(data), o)
		if d := time.Since(t0); d > 2*time.Second {
			t.Fatalf("%d bytes took %v", len(data), d)
		}
		if err != nil {
			var ie *InputError
			if !errors.As(err, &ie) || ie.Name != "fuzz.pcap" || !strings.HasPrefix(err.Error(), "fuzz.pcap: ") {
				t.Fatalf("error %q (%T) does not name the input", err, err)
			}
			if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrCutShort) && !errors.Is(err, ErrDamaged) {
				t.Fatalf("error %q of no documented kind", err)
			}
			if (ie.Record == 0) != errors.Is(err, ErrFormat) {
				t.Fatalf("error %q: record %d", err, ie.Record)
			}
		}
		if res == nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("no result, error %v", err)
			}
			return
		}
		if (err == nil) != res.Complete || (err != nil && len(res.Warnings) == 0) {
			t.Fatalf("complete %v, %d warnings, error %v", res.Complete, len(res.Warnings), err)
		}
		if res.FlowsEvicted > res.FlowsSeen || uint64(len(res.Flows)) > res.FlowsSeen {
			t.Fatalf("%d flows listed, %d seen, %d evicted", len(res.Flows), res.FlowsSeen, res.FlowsEvicted)
		}
		var ifPackets uint64
		for _, in := range res.Interfaces {
			ifPackets += in.Packets
		}
		if ifPackets > res.Packets {
			t.Fatalf("interfaces count %d packets of %d", ifPackets, res.Packets)
		}
		for _, fl := range res.Flows {
			if fl.Dir[0].Packets+fl.Dir[1].Packets > res.Packets {
				t.Fatalf("flow of %d+%d packets in a capture of %d", fl.Dir[0].Packets, fl.Dir[1].Packets, res.Packets)
			}
			for i := range fl.Dir {
				if r := fl.Dir[i].Reorder; r != nil && (r.Reordered > r.Packets || r.ExtentMax > r.Packets) {
					t.Fatalf("inconsistent reordering %+v", r)
				}
			}
		}
		checkSupported(t, "fuzz", data, o, res)
		checkRecorded(t, data, o, res)
	})
}

// checkRecorded analyses the input again recording every TCP flow listed:
// the analysis must come out the same, and every recording must add up to
// its flow's counts.
func checkRecorded(t *testing.T, data []byte, o Options, res *Result) {
	for _, fl := range res.Flows {
		if fl.Proto == "tcp" {
			o.Record = append(o.Record, FlowSpec{A: fl.Client, B: fl.Server})
		}
	}
	if len(o.Record) == 0 {
		return
	}
	rec, _ := Analyze(context.Background(), bytes.NewReader(data), o)
	if rec == nil || !reflect.DeepEqual(rec.Flows, res.Flows) || !reflect.DeepEqual(rec.Totals, res.Totals) {
		t.Fatal("recording changed the analysis")
	}
	if len(rec.Recorded) == 0 {
		t.Fatalf("%d flows to record, none recorded", len(o.Record))
	}
	for _, r := range rec.Recorded {
		checkRecording(t, r)
	}
}

// sharedCaptureMax leaves the large real captures out of the corpus: the
// mutator makes little of them and they slow every execution.
const sharedCaptureMax = 256 << 10

// addSharedCaptures adds the real captures under $NETDX_SHARED/captures
// (default ../shared next to the module root) up to sharedCaptureMax
// bytes, when the folder exists. They are read at test time, never copied
// into the repository.
func addSharedCaptures(f *testing.F) {
	dir := os.Getenv("NETDX_SHARED")
	if dir == "" {
		dir = filepath.Join("..", "..", "shared")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "captures", "*", "*.pcap*"))
	deeper, _ := filepath.Glob(filepath.Join(dir, "captures", "*", "*", "*.pcap*"))
	for _, path := range append(files, deeper...) {
		if st, err := os.Stat(path); err != nil || st.Size() > sharedCaptureMax {
			continue
		}
		if b, err := os.ReadFile(path); err == nil {
			f.Add(b)
		}
	}
}

// TestWriteLabFuzzSeeds records a short transfer through a VXLAN tunnel
// in the lab, its data segments reordered by the router's relay, and
// writes it as FuzzAnalyze seeds (sender and receiver recordings as pcap,
// the sender's as pcapng and gzip, cut and bit-flipped copies) and its
// frames as FuzzDecode seeds. Run as root after changing the lab:
//
//	NETDX_WRITE_FUZZ_SEEDS=1 go test ./capture -run TestWriteLabFuzzSeeds
func TestWriteLabFuzzSeeds(t *testing.T) {
	if os.Getenv("NETDX_WRITE_FUZZ_SEEDS") == "" {
		t.Skip("writes testdata/fuzz only with NETDX_WRITE_FUZZ_SEEDS=1")
	}
	netlab.RequireRoot(t)
	r := netlab.RecordTransfer(t, netlab.TransferSpec{VXLAN: true, NoOffload: true, Size: 6000, Port: 5309,
		Impair: netlab.Impairment{ReorderEvery: 2}, Dir: t.TempDir()})
	t.Logf("relay %+v; sender %+v", r.Relay, r.SenderRec)
	sender, err := os.ReadFile(r.SenderPcap)
	if err != nil {
		t.Fatal(err)
	}
	receiver, err := os.ReadFile(r.ReceiverPcap)
	if err != nil {
		t.Fatal(err)
	}
	ng := pcapToPcapng(t, sender)
	for name, b := range map[string][]byte{
		"lab-vxlan-sender-pcap": sender, "lab-vxlan-receiver-pcap": receiver,
		"lab-vxlan-sender-pcapng": ng, "lab-vxlan-sender-gzip": ct.Gzip(t, sender),
	} {
		writeSeed(t, "testdata/fuzz/FuzzAnalyze", "seed-"+name, fmt.Sprintf("[]byte(%q)\n", b))
		writeSeed(t, "testdata/fuzz/FuzzAnalyze", "seed-"+name+"-cut", fmt.Sprintf("[]byte(%q)\n", b[:len(b)*2/3]))
		m := append([]byte(nil), b...)
		for i := 60; i < len(m); i += 97 {
			m[i] ^= 0xff
		}
		writeSeed(t, "testdata/fuzz/FuzzAnalyze", "seed-"+name+"-mutated", fmt.Sprintf("[]byte(%q)\n", m))
	}
	rd, err := pcapgo.NewReader(bytes.NewReader(sender))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		data, ci, err := rd.ReadPacketData()
		if err != nil {
			break
		}
		writeSeed(t, "decode/testdata/fuzz/FuzzDecode", fmt.Sprintf("seed-lab-vxlan-%02d", i),
			fmt.Sprintf("uint16(%d)\n[]byte(%q)\nint(%d)\n", rd.LinkType(), data, ci.Length))
	}
}

// pcapToPcapng rewrites a pcap file as pcapng, record by record.
func pcapToPcapng(t *testing.T, b []byte) []byte {
	rd, err := pcapgo.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	w, err := pcapgo.NewNgWriter(&out, rd.LinkType())
	if err != nil {
		t.Fatal(err)
	}
	for {
		data, ci, err := rd.ReadPacketData()
		if err != nil {
			break
		}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// writeSeed writes one corpus file in go's format: the header line, then
// the values, one typed literal a line.
func writeSeed(t *testing.T, dir, name, values string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte("go test fuzz v1\n"+values), 0o644); err != nil {
		t.Fatal(err)
	}
}
