package plot

import (
	"bytes"
	"math"
	"strconv"
	"unicode/utf8"
)

// maxText bounds any single piece of input text drawn, in runes.
const maxText = 120

// clip shortens t to at most n runes, ending in an ellipsis when cut, and
// replaces invalid UTF-8.
func clip(t string, n int) string {
	if !utf8.ValidString(t) {
		t = string(bytes.ToValidUTF8([]byte(t), []byte("\uFFFD")))
	}
	if utf8.RuneCountInString(t) <= n {
		return t
	}
	r := []rune(t)
	return string(r[:n-1]) + "…"
}

// textWidth estimates the width of t in pixels at the given font size:
// the generic sans-serif fonts average a little over half an em per
// character. It only sizes boxes; nothing depends on it being exact.
func textWidth(t string, size float64) float64 {
	return float64(utf8.RuneCountInString(t)) * size * 0.55
}

// count formats n with thousands separators: 12,345.
func count(n int) string {
	s := strconv.Itoa(n)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	var b []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			b = append(b, ',')
		}
		b = append(b, s[i])
	}
	if neg {
		return "-" + string(b)
	}
	return string(b)
}

// formatDuration writes a duration in seconds with a unit chosen for its
// size and three significant digits: "12.3 ms", "1.25 s".
func formatDuration(sec float64) string {
	if sec == 0 {
		return "0 s"
	}
	u := pickUnit(sec, sec, timeUnits)
	return sig3(sec/u.scale) + " " + u.name
}

// formatBytes writes a byte count with a decimal unit: "1.45 MB".
func formatBytes(b float64) string {
	u := pickUnit(b, b, byteUnits)
	return sig3(b/u.scale) + " " + u.name
}

// sig3 formats v with three significant digits and no exponent below a
// thousand units.
func sig3(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 100 || a == 0:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

// plural writes a count with its noun: "1 segment", "2 segments".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return count(n) + " " + noun + "s"
}

// pct formats a share as a whole percentage, or "<1%" for a small one.
func pct(part, whole int) string {
	if part > 0 && part*100 < whole {
		return "<1%"
	}
	return strconv.Itoa(int(math.Round(100*float64(part)/float64(whole)))) + "%"
}
