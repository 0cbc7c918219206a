package plot

import (
	"bytes"
	"encoding/xml"
	"io"
	"math"
	"strconv"
)

// svg builds one document in memory; the caller writes it out once.
type svg struct {
	b bytes.Buffer
}

// coordLimit bounds every coordinate written, so a value far off the
// canvas (a huge window clipped away) cannot turn into an unreadable
// number.
const coordLimit = 1e6

// num appends v rounded to a tenth of a pixel, without trailing zeros.
func (s *svg) num(v float64) {
	switch {
	case math.IsNaN(v):
		v = 0
	case v > coordLimit:
		v = coordLimit
	case v < -coordLimit:
		v = -coordLimit
	}
	v = math.Round(v*10) / 10
	if v == 0 {
		v = 0 // no "-0"
	}
	s.b.Write(strconv.AppendFloat(s.b.AvailableBuffer(), v, 'f', -1, 64))
}

// raw appends markup as is.
func (s *svg) raw(markup string) { s.b.WriteString(markup) }

// text appends escaped character data.
func (s *svg) text(t string) {
	// Writing to a bytes.Buffer cannot fail.
	_ = xml.EscapeText(&s.b, []byte(t))
}

// numAttr appends ` name="v"`.
func (s *svg) numAttr(name string, v float64) {
	s.b.WriteByte(' ')
	s.b.WriteString(name)
	s.b.WriteString(`="`)
	s.num(v)
	s.b.WriteByte('"')
}

// span is a piece of a text line in its own colour.
type span struct{ text, color string }

// Text anchors.
const (
	anchorStart = ""
	anchorMid   = "middle"
	anchorEnd   = "end"
)

// label writes one line of text at (x, y), its baseline. style holds
// further attributes (font-size, fill...) written verbatim.
func (s *svg) label(x, y float64, anchor, style, t string) {
	s.raw("<text")
	s.numAttr("x", x)
	s.numAttr("y", y)
	if anchor != "" {
		s.raw(` text-anchor="` + anchor + `"`)
	}
	if style != "" {
		s.raw(" " + style)
	}
	s.raw(">")
	s.text(t)
	s.raw("</text>\n")
}

// spans writes one line of text made of pieces in their own colours.
func (s *svg) spans(x, y float64, style string, parts []span) {
	s.raw("<text")
	s.numAttr("x", x)
	s.numAttr("y", y)
	if style != "" {
		s.raw(" " + style)
	}
	s.raw(">")
	for _, p := range parts {
		s.raw(`<tspan fill="` + p.color + `">`)
		s.text(p.text)
		s.raw("</tspan>")
	}
	s.raw("</text>\n")
}

// rect writes a rectangle; style is written verbatim.
func (s *svg) rect(x, y, w, h float64, style string) {
	s.raw("<rect")
	s.numAttr("x", x)
	s.numAttr("y", y)
	s.numAttr("width", w)
	s.numAttr("height", h)
	s.raw(" " + style + "/>\n")
}

// line writes a straight line; style is written verbatim.
func (s *svg) line(x1, y1, x2, y2 float64, style string) {
	s.raw("<path d=\"M")
	s.num(x1)
	s.raw(" ")
	s.num(y1)
	s.raw("L")
	s.num(x2)
	s.raw(" ")
	s.num(y2)
	s.raw("\" " + style + "/>\n")
}

// begin opens the document: size, white background, generic font, a
// title for screen readers and browser tabs.
func (s *svg) begin(w, h float64, title string) {
	s.raw(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	s.raw(`<svg xmlns="http://www.w3.org/2000/svg" version="1.1"`)
	s.numAttr("width", w)
	s.numAttr("height", h)
	s.raw(` viewBox="0 0 `)
	s.num(w)
	s.raw(" ")
	s.num(h)
	s.raw(`" font-family="Liberation Sans, Arial, Helvetica, sans-serif" font-size="12" fill="#222">` + "\n")
	s.raw("<title>")
	s.text(title)
	s.raw("</title>\n")
	s.rect(0, 0, w, h, `fill="#fff"`)
}

// end closes the document and writes it to w.
func (s *svg) end(w io.Writer) error {
	s.raw("</svg>\n")
	_, err := w.Write(s.b.Bytes())
	return err
}
