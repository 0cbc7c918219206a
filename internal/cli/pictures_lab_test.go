package cli

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/netdx/netdx/internal/browser"
	"github.com/netdx/netdx/internal/netlab"
)

// TestWritePictures writes the pictures docs/pcap.md and docs/trace.md
// show, from the lab: `pcap analyze --plot` of a transfer recorded at the
// receiver behind a router that reorders and drops, and `trace --plot` of
// a path whose routers keep the kernel's default ICMP rate limit, traced
// faster than it allows, and whose third router drops 15% of what it
// forwards; each SVG rendered to PNG by headless Chromium
// into docs/img. Not part of `make test`: run `make pictures` (root,
// Debian's chromium).
func TestWritePictures(t *testing.T) {
	if os.Getenv("NETDX_WRITE_PICTURES") == "" {
		t.Skip("writes docs/img only with NETDX_WRITE_PICTURES=1 (make pictures)")
	}
	netlab.RequireRoot(t)
	if _, err := os.Stat(browser.Chromium); err != nil {
		t.Skipf("%s is absent (apt-get install chromium): cannot render the pictures", browser.Chromium)
	}
	img, err := filepath.Abs(filepath.Join("..", "..", "docs", "img"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(img, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()

	r := netlab.RecordTransfer(t, netlab.TransferSpec{NoOffload: true, Size: 1 << 20, Port: 5331, Dir: dir,
		Impair: netlab.Impairment{ReorderEvery: 40, Loss: 0.01, Seed: 5}})
	plots := filepath.Join(dir, "plots")
	code, _, errs := runPcapArgs(t, nil, false, "pcap", "analyze", "--fail-on", "none", "--plot", plots, "--plot-flows", "1", r.ReceiverPcap)
	if code != exitOK {
		t.Fatalf("pcap analyze: exit %d: %s", code, errs)
	}
	seq, err := filepath.Glob(filepath.Join(plots, "1-*-client-data.svg"))
	if err != nil || len(seq) != 1 {
		t.Fatalf("plots %v (%v): %s", seq, err, errs)
	}
	toPNG(t, seq[0], filepath.Join(img, "pcap-timeseq.png"))

	p := netlab.NewPath(t, netlab.PathSpec{Routers: []netlab.RouterSpec{{}, {}, {DropForward: 0.15}}})
	hops := filepath.Join(dir, "trace.svg")
	code, _, errs = labTrace(t, p.Prober, "-c", "40", "-i", "100ms", "--plot", hops, p.TargetAddr.V4.String())
	if code != exitOK && code != exitFindings {
		t.Fatalf("trace: exit %d: %s", code, errs)
	}
	toPNG(t, hops, filepath.Join(img, "trace-hoprtt.png"))
}

var svgSize = regexp.MustCompile(`<svg[^>]* width="([0-9.]+)" height="([0-9.]+)"`)

// toPNG renders an SVG at the size it asks for.
func toPNG(t *testing.T, svgPath, pngPath string) {
	t.Helper()
	doc, err := os.ReadFile(svgPath)
	if err != nil {
		t.Fatal(err)
	}
	m := svgSize.FindSubmatch(doc)
	if m == nil {
		t.Fatalf("%s: no width and height", svgPath)
	}
	w, _ := strconv.ParseFloat(string(m[1]), 64)
	h, _ := strconv.ParseFloat(string(m[2]), 64)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := browser.Screenshot(ctx, svgPath, pngPath, int(w), int(h), t.TempDir()); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%.0fx%.0f)", pngPath, w, h)
}
