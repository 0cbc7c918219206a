package render

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/netdx/netdx/report"
)

// The reports the text goldens render are the command line's own JSON
// goldens: a busy host, the merged diag + trace + capture report and a
// capture, so the text is tested on the documents users get.
var widthReports = map[string]string{
	"merged": "../internal/cli/testdata/TestMergedJSON.golden",
	"busy":   "../internal/cli/testdata/TestDiagBusyJSON.golden",
	"pcap":   "../internal/cli/testdata/pcap/TestPcapGoldenJSON.golden",
	"drops":  "../internal/cli/testdata/TestDropsJSON.golden",
}

func loadReport(t *testing.T, path string) *report.Report {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r report.Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &r
}

// TestTextWidths renders each report plain and styled at 80, 100 and 120
// columns, and plain for a pipe (no width), against goldens, and checks
// what a reader relies on: plain output has no tab and no escape
// sequence; no line is wider than the terminal; every finding ID's
// explanation is printed once.
func TestTextWidths(t *testing.T) {
	for name, path := range widthReports {
		rep := loadReport(t, path)
		for _, width := range []int{0, 80, 100, 120} {
			for _, styled := range []bool{false, true} {
				if styled && width == 0 {
					continue // styled output is for a terminal, whose width is known
				}
				mode := "plain"
				if styled {
					mode = "styled"
				}
				t.Run(fmt.Sprintf("%s/%s/%d", name, mode, width), func(t *testing.T) {
					var b bytes.Buffer
					r := lipgloss.NewRenderer(&b)
					r.SetColorProfile(termenv.ANSI)
					if err := (Text{R: r, Styled: styled, Width: width}).Render(&b, rep); err != nil {
						t.Fatal(err)
					}
					out := b.String()
					checkText(t, out, rep, styled, width)
					golden(t, filepath.Join("testdata", fmt.Sprintf("TestTextWidths_%s_%s_%d.golden", name, mode, width)), b.Bytes())
				})
			}
		}
	}
}

func checkText(t *testing.T, out string, rep *report.Report, styled bool, width int) {
	t.Helper()
	if !styled && (strings.Contains(out, "\t") || strings.Contains(out, "\x1b[")) {
		t.Error("plain output has a tab or an escape sequence")
	}
	if width > 0 {
		for i, line := range strings.Split(out, "\n") {
			if w := lipgloss.Width(line); w > width {
				t.Errorf("line %d is %d columns wide, the terminal %d: %q", i+1, w, width, line)
			}
		}
	}
	plain := out
	if styled {
		plain = strings.Join(strings.Fields(stripANSI(out)), " ")
	} else {
		plain = strings.Join(strings.Fields(out), " ")
	}
	seen := map[string]bool{}
	for _, f := range rep.Findings {
		if f.Explanation == "" || seen[f.ID] || f.SubsumedBy != nil {
			continue
		}
		seen[f.ID] = true
		if n := strings.Count(plain, strings.Join(strings.Fields(f.Explanation), " ")); n != 1 {
			t.Errorf("%s: explanation printed %d times, want once", f.ID, n)
		}
	}
}

// stripANSI removes the escape sequences of styled output.
func stripANSI(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == 0x1b && i+1 < len(s) && s[i+1] == '[' {
			j := i + 2
			for j < len(s) && (s[j] < 0x40 || s[j] > 0x7e) {
				j++
			}
			i = j
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// golden compares got with the file at path; -update rewrites it.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./render -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (run go test ./render -update and review the diff)", path)
	}
}
