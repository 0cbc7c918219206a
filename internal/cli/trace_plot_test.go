package cli

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/netdx/netdx/report"
)

// TestTracePlotTruth: trace --plot over a scripted path with routers at
// Linux's default ICMP rate limit and loss writes an SVG whose fates are
// the report's: per hop, the label's loss is the report's
// forwarding_loss_pct; in total, the legend counts answered, lost and
// rate-limited probes as the report does.
func TestTracePlotTruth(t *testing.T) {
	for _, sc := range []string{"default_routers_loss", "rate_limited", "forwarding_loss"} {
		t.Run(sc, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "trace.svg")
			a, out, errb := traceApp("trace", "--json", "-n", "-c", "30", "--probe-timeout", "100ms", "--plot", file, scenarioTarget(t, sc))
			if code := runScripted(t, a, sc); code != exitOK && code != exitFindings {
				t.Fatalf("exit %d; stderr %s", code, errb)
			}
			var rep report.Report
			if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
				t.Fatal(err)
			}
			doc, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			counts, _ := svgLegend(t, doc) // well-formed XML, or it fails
			rows := hopLines(doc)
			hops := rep.Traces[0].Hops
			if len(rows) != len(hops) {
				t.Fatalf("%d rows for %d hops (legend %v)", len(rows), len(hops), counts)
			}
			var answered, lost, limited int
			for i, h := range hops {
				l := h.Sent - h.Received - h.RateLimited
				answered, lost, limited = answered+h.Received, lost+l, limited+h.RateLimited
				want := "no loss"
				switch {
				case h.Sent == 0:
					want = "no probe completed"
				case l > 0 && h.ForwardingLossPct < 1:
					want = "loss <1%"
				case l > 0:
					want = "loss " + strconv.Itoa(int(math.Round(h.ForwardingLossPct))) + "%"
				}
				if !strings.HasPrefix(rows[i], want) {
					t.Errorf("hop %d: row says %q, report: forwarding loss %.3f%% (%d lost of %d sent, %d rate-limited)",
						h.TTL, rows[i], h.ForwardingLossPct, l, h.Sent, h.RateLimited)
				}
				if h.RateLimited > 0 != strings.Contains(rows[i], "rate-limited (not loss)") {
					t.Errorf("hop %d: row %q, report: %d rate-limited", h.TTL, rows[i], h.RateLimited)
				}
			}
			if counts["answered"]+counts["above-scale"] != answered || counts["forward-lost"] != lost || counts["no-reply"] != limited {
				t.Errorf("legend %v; report: %d answered, %d lost, %d rate-limited", counts, answered, lost, limited)
			}
			if sc == "default_routers_loss" && (lost == 0 || limited == 0) {
				t.Errorf("scenario has %d lost and %d rate-limited probes: the test needs both", lost, limited)
			}
		})
	}
}

// TestTracePlotLive: the live view writes the picture when q ends it.
func TestTracePlotLive(t *testing.T) {
	file := filepath.Join(t.TempDir(), "live.svg")
	liveQuit(t, "--plot", file)
	doc, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	legend, _ := svgLegend(t, doc)
	if rows := hopLines(doc); len(rows) == 0 || legend["answered"] == 0 {
		t.Fatalf("live picture has %d rows, legend %v", len(rows), legend)
	}
}

// scenarioTarget is a scripted scenario's destination.
func scenarioTarget(t *testing.T, name string) string {
	b, err := os.ReadFile(filepath.Join("..", "..", "probes", "testdata", "scenarios", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Target string `json:"target"`
	}
	if err := json.Unmarshal(b, &s); err != nil || s.Target == "" {
		t.Fatalf("scenario %s: no target (%v)", name, err)
	}
	return s.Target
}

var (
	hopLine   = regexp.MustCompile(`<text x="46" y="[0-9.]+" font-size="11">((?:<tspan[^>]*>[^<]*</tspan>)+)</text>`)
	tspanText = regexp.MustCompile(`<tspan[^>]*>([^<]*)</tspan>`)
)

// hopLines returns each row's second label line as text.
func hopLines(doc []byte) []string {
	var out []string
	for _, m := range hopLine.FindAllSubmatch(doc, -1) {
		var b strings.Builder
		for _, s := range tspanText.FindAllSubmatch(m[1], -1) {
			b.Write(s[1])
		}
		out = append(out, b.String())
	}
	return out
}
