package plot

import (
	"context"
	"flag"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netdx/netdx/internal/browser"
)

var pngDir = flag.String("png", "", "keep the browser's PNG renderings of the golden SVGs in this directory")

// TestBrowserRender renders every golden SVG in a real headless browser
// and checks the screenshot: the size the SVG asks for, not blank, and,
// for the pictures with every kind, each kind's colour inside the plot
// area where its marks are. Run with -png DIR to keep the PNGs.
func TestBrowserRender(t *testing.T) {
	if _, err := os.Stat(browser.Chromium); err != nil {
		t.Skipf("%s is absent (apt-get install chromium): cannot render the SVGs in a browser", browser.Chromium)
	}
	if testing.Short() {
		t.Skip("-short: starting a browser per picture takes seconds")
	}
	out := *pngDir
	if out == "" {
		out = t.TempDir()
	} else if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range goldenCases() {
		t.Run(c.name, func(t *testing.T) {
			svgPath, err := filepath.Abs(filepath.Join("testdata", c.name+".svg"))
			if err != nil {
				t.Fatal(err)
			}
			doc, err := os.ReadFile(svgPath)
			if err != nil {
				t.Fatalf("%v (run go test -run TestGolden -update to create it)", err)
			}
			p := parseSVG(t, doc)
			w, h := int(p.width), int(p.height)
			pngPath := filepath.Join(out, c.name+".png")
			screenshot(t, svgPath, pngPath, w, h)
			img := readPNG(t, pngPath)
			if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
				t.Fatalf("screenshot is %dx%d, want %dx%d", b.Dx(), b.Dy(), w, h)
			}
			if ink := inked(img, img.Bounds()); ink < 0.01 || ink > 0.9 {
				t.Errorf("screenshot is blank: %.4f of its pixels are inked", ink)
			}
			if c.name == "timeseq-lab" {
				checkKindColours(t, img, c.pic.(*TimeSequence))
			}
		})
	}
}

// screenshot renders svgPath at w x h into pngPath.
func screenshot(t *testing.T, svgPath, pngPath string, w, h int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := browser.Screenshot(ctx, svgPath, pngPath, w, h, t.TempDir()); err != nil {
		t.Fatal(err)
	}
}

func readPNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img
}

// inked is the share of pixels in r that are neither white nor
// transparent: a picture has some, and not all.
func inked(img image.Image, r image.Rectangle) float64 {
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			cr, cg, cb, ca := img.At(x, y).RGBA()
			if ca>>8 >= 128 && (cr>>8 < 245 || cg>>8 < 245 || cb>>8 < 245) {
				n++
			}
		}
	}
	return float64(n) / float64(max(r.Dx()*r.Dy(), 1))
}

// checkKindColours looks for every segment kind's colour inside the plot
// area (not the legend): the browser really drew its marks.
func checkKindColours(t *testing.T, img image.Image, g *TimeSequence) {
	t.Helper()
	geom := g.geometry(len(g.caption(0)))
	plot := image.Rect(int(geom.left), int(geom.top), int(geom.left+geom.width), int(geom.top+geom.height))
	for k := range expectedKinds(g) {
		st := styleOf(k)
		if st == nil || strings.HasPrefix(st.color, "url") {
			continue
		}
		if n := pixelsOf(img, plot, st.color); n == 0 {
			t.Errorf("%s: no pixel of its colour %s in the plot area", k, st.color)
		}
	}
}

func styleOf(key string) *markStyle {
	for i := range seqStyles {
		if seqStyles[i].key == key {
			return &seqStyles[i]
		}
	}
	return nil
}

// pixelsOf counts pixels in r within a small distance of the colour
// "#rrggbb".
func pixelsOf(img image.Image, r image.Rectangle, color string) int {
	v, _ := strconv.ParseUint(color[1:], 16, 32)
	want := [3]int{int(v >> 16), int(v >> 8 & 0xff), int(v & 0xff)}
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			got := [3]int{int(cr >> 8), int(cg >> 8), int(cb >> 8)}
			close := true
			for i := range got {
				close = close && abs(got[i]-want[i]) <= 12
			}
			if close {
				n++
			}
		}
	}
	return n
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
