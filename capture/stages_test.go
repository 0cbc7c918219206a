package capture

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	ct "github.com/netdx/netdx/capture/capturetest"
	"github.com/netdx/netdx/capture/decode"
)

// analyzeSerial is Analyze with both stages (see run) on the calling
// goroutine, packet by packet: the reference the two goroutines must
// match. Each packet's flow warnings join the others at once, in the
// order they came.
func analyzeSerial(t *testing.T, data []byte, o Options) *Result {
	t.Helper()
	if o.Name == "" {
		o.Name = "capture"
	}
	src, err := openSource(t.Context(), bytes.NewReader(data), o.Name, true)
	if err != nil {
		t.Fatalf("serial: %v", err)
	}
	defer src.close()
	a := newAnalyzer(o, src)
	var stop error
	for {
		b, err := src.next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				stop = err
			}
			break
		}
		i := &src.info
		if p, node, at := a.packet(b, i.caplen, i.wire, i.ts, i.ifIndex, i.lt); p != nil {
			a.flowItem(p, node, at, max(i.wire, i.caplen), a.here())
			a.mergeWarnings()
		}
	}
	return a.finish(stop)
}

// TestStagesMatchOneGoroutine: the two-stage analysis gives, field for
// field and warning for warning, what one goroutine gives, with one
// processor or two: over generated captures of many flows with
// reordering and retransmissions, flow tables small enough to evict
// (mid-capture flow warnings among the packet stage's), a long recovery,
// and every real capture there is.
func TestStagesMatchOneGoroutine(t *testing.T) {
	type input struct {
		name string
		data []byte
		o    Options
	}
	bulk := synthBytes(t, 2000, 128, 200_000)
	flows, err := io.ReadAll(newFlowStream(50_000))
	if err != nil {
		t.Fatal(err)
	}
	scenario, _ := scenarioPcap(t)
	inputs := []input{
		{"bulk", bulk, Options{}},
		{"bulk evicting", bulk, Options{MaxFlows: 300, ListFlows: 50}},
		{"short flows evicting", flows, Options{MaxFlows: 4000}},
		{"long recovery", longRecoveryPcap(t), Options{}},
		{"scenario cut short", scenario[:len(scenario)-7], Options{}},
		{"warnings of both stages", interleavedWarningsPcap(t), Options{}},
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, in := range inputs {
		t.Run(in.name, func(t *testing.T) { matchOneGoroutine(t, in.data, in.o) })
	}
	t.Run("real captures", func(t *testing.T) {
		dir := sharedCaptures(t)
		for _, path := range sharedFiles(t, dir) {
			t.Run(strings.TrimPrefix(path, dir+"/"), func(t *testing.T) {
				data, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				matchOneGoroutine(t, data, Options{Name: filepath.Base(path)})
			})
		}
	})
}

// matchOneGoroutine analyses data with one processor and with two and
// compares each result with analyzeSerial's.
func matchOneGoroutine(t *testing.T, data []byte, o Options) {
	want := resultJSON(t, analyzeSerial(t, data, o))
	for _, procs := range []int{1, 2} {
		runtime.GOMAXPROCS(procs)
		res, _ := Analyze(context.Background(), bytes.NewReader(data), o)
		if res == nil {
			t.Fatalf("GOMAXPROCS=%d: no result", procs)
		}
		if got := resultJSON(t, res); !bytes.Equal(got, want) {
			t.Errorf("GOMAXPROCS=%d: the result differs from one goroutine's: %s", procs, firstDiff(got, want))
		}
	}
}

// interleavedWarningsPcap makes a flow warning come before a warning of
// the packet stage: a connection with a sequence anomaly ends when a new
// one takes its ports (the flow stage warns then, not at the end), and a
// frame shorter than its IP header says follows.
func interleavedWarningsPcap(t *testing.T) []byte {
	g := ct.NewGen(t, layers.LinkTypeEthernet)
	c := ct.NewConv(g, "198.18.0.1:40000", "198.18.1.1:5201")
	at := func(i int) time.Duration { return time.Duration(i) * time.Millisecond }
	c.Handshake(at(1), at(1))
	for i := range 4 {
		g.Add(c.Data(0, at(4+i), 100))
	}
	g.Add(c.Frame(0, at(8), c.Next[0]+1<<30, 100, decode.PSH)) // a jump beyond any window
	for i := range 4 {
		g.Add(c.Data(0, at(9+i), 100))
	}
	again := ct.NewConv(g, "198.18.0.1:40000", "198.18.1.1:5201")
	again.ISN, again.Next = [2]uint32{900_000, 700_000}, [2]uint32{900_001, 700_001}
	again.Handshake(at(20), at(1)) // a new connection: the first one retires
	f := again.Data(0, at(30), 100)
	cut := g.Build(&f, layers.LinkTypeEthernet)
	cut = cut[:len(cut)-10]
	g.AddRaw(at(30), cut, len(cut)) // trimmed by the capture tool: warned at its record
	return g.Pcap()
}

func resultJSON(t *testing.T, res *Result) []byte {
	t.Helper()
	b, err := json.MarshalIndent(res, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// firstDiff shows the first line where got and want differ.
func firstDiff(got, want []byte) string {
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := range min(len(g), len(w)) {
		if g[i] != w[i] {
			return "line " + strings.TrimSpace(g[i]) + ", want " + strings.TrimSpace(w[i])
		}
	}
	return "lengths differ"
}
