package capture

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/gopacket/gopacket/layers"

	ct "github.com/netdx/netdx/capture/capturetest"
	"github.com/netdx/netdx/capture/decode"
)

// TestDeterministic: a capture analysed again, with one processor or two,
// gives the same result byte for byte. Flows leave the table, at an
// eviction and at the end, in the order of their first packets: in the
// map's order, the flows named in warnings and equal flows in the list
// changed from run to run.
func TestDeterministic(t *testing.T) {
	bulk := synthBytes(t, 2000, 128, 200_000)
	flows, err := io.ReadAll(newFlowStream(50_000))
	if err != nil {
		t.Fatal(err)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, in := range []struct {
		name string
		data []byte
		o    Options
	}{
		{"flows with anomalies", anomalousFlowsPcap(t, 12), Options{}},
		{"bulk", bulk, Options{}},
		{"bulk evicting", bulk, Options{MaxFlows: 300, ListFlows: 50}},
		{"short flows evicting", flows, Options{MaxFlows: 4000}},
		{"long recovery", longRecoveryPcap(t), Options{}},
	} {
		t.Run(in.name, func(t *testing.T) { sameEveryRun(t, in.data, in.o) })
	}
	t.Run("real captures", func(t *testing.T) {
		dir := sharedCaptures(t)
		for _, path := range sharedFiles(t, dir) {
			t.Run(strings.TrimPrefix(path, dir+"/"), func(t *testing.T) {
				data, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				sameEveryRun(t, data, Options{Name: filepath.Base(path)})
			})
		}
	})
}

// sameEveryRun analyses data three times with one processor and three
// with two, and compares each result with the first.
func sameEveryRun(t *testing.T, data []byte, o Options) {
	var want []byte
	for _, procs := range []int{1, 2} {
		runtime.GOMAXPROCS(procs)
		for run := range 3 {
			res, _ := Analyze(context.Background(), bytes.NewReader(data), o)
			if res == nil {
				t.Fatalf("GOMAXPROCS=%d: no result", procs)
			}
			got := resultJSON(t, res)
			if want == nil {
				want = got
			} else if !bytes.Equal(got, want) {
				t.Fatalf("GOMAXPROCS=%d, run %d: the result differs from the first: %s", procs, run+1, firstDiff(got, want))
			}
		}
	}
}

// anomalousFlowsPcap makes n connections, each with a sequence number
// that jumps beyond any window: each is named in a warning when it leaves
// the table at the end (at most maxFlowWarnings of them).
func anomalousFlowsPcap(t *testing.T, n int) []byte {
	g := ct.NewGen(t, layers.LinkTypeEthernet)
	ms := func(i int) time.Duration { return time.Duration(i) * time.Millisecond }
	for k := range n {
		c := ct.NewConv(g, fmt.Sprintf("198.18.0.1:%d", 40000+k), "198.18.1.1:5201")
		c.Offset = ms(k)
		c.Handshake(0, ms(1))
		for i := range 4 {
			g.Add(c.Data(0, ms(4+i), 100))
		}
		g.Add(c.Frame(0, ms(8), c.Next[0]+1<<30, 100, decode.PSH))
		for i := range 4 {
			g.Add(c.Data(0, ms(9+i), 100))
		}
	}
	return g.Pcap()
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

// TestReadAheadSmallReads: a pipe hands over whatever one read returned,
// so with reads of a byte or a few every record straddles chunks; pcap,
// pcapng and gzip read so give what one read of the whole file gives.
func TestReadAheadSmallReads(t *testing.T) {
	pcap, g := scenarioPcap(t)
	for _, in := range []struct {
		name string
		data []byte
	}{{"pcap", pcap}, {"pcapng", g.Pcapng(layers.LinkTypeEthernet)}, {"gzip", ct.Gzip(t, pcap)}, {"long recovery", longRecoveryPcap(t)}} {
		want := resultJSON(t, analyzeBytes(t, in.data, Options{}))
		for name, r := range map[string]io.Reader{"one byte": iotest.OneByteReader(bytes.NewReader(in.data)),
			"half": iotest.HalfReader(bytes.NewReader(in.data)), "data and EOF": iotest.DataErrReader(bytes.NewReader(in.data))} {
			res, err := Analyze(context.Background(), r, Options{})
			if err != nil {
				t.Fatalf("%s, %s reads: %v", in.name, name, err)
			}
			if got := resultJSON(t, res); !bytes.Equal(got, want) {
				t.Errorf("%s, %s reads: %s", in.name, name, firstDiff(got, want))
			}
		}
	}
}

func resultJSON(t *testing.T, res *Result) []byte {
	t.Helper()
	b, err := json.MarshalIndent(res, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}
