// Package browser renders netdx's SVG pictures in headless Chromium, for
// the tests that check them in a real browser and for `make pictures`,
// which writes the PNGs the docs show. Product code does not use it.
package browser

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// Chromium is Debian's package path; nothing else is tried.
const Chromium = "/usr/bin/chromium"

// Screenshot renders the SVG file svgPath (an absolute path) at w x h
// pixels into pngPath. profile is an empty directory for the browser's
// profile.
func Screenshot(ctx context.Context, svgPath, pngPath string, w, h int, profile string) error {
	cmd := exec.CommandContext(ctx, Chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--hide-scrollbars", "--user-data-dir="+profile, "--screenshot="+pngPath,
		"--window-size="+strconv.Itoa(w)+","+strconv.Itoa(h), "file://"+svgPath)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w\n%s", Chromium, err, lastLines(stderr.String(), 10))
	}
	return nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}
