// Package render turns a report into text for people or JSON for programs.
// It is the only package that knows about presentation.
package render

import (
	"encoding/json"
	"io"

	"github.com/netdx/netdx/report"
)

// Renderer writes a report.
type Renderer interface {
	Render(w io.Writer, r *report.Report) error
}

// JSON writes the report as one indented JSON document, as a
// json.Encoder with SetIndent("", "  ") would.
type JSON struct{}

// Render implements Renderer.
func (JSON) Render(w io.Writer, r *report.Report) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return writeIndented(w, b)
}
