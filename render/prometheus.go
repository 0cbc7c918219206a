package render

import (
	"io"

	"github.com/netdx/netdx/render/metrics"
	"github.com/netdx/netdx/report"
)

// Prometheus writes the report as Prometheus text exposition, for
// node_exporter's textfile collector; render/metrics decides the metrics.
type Prometheus struct{}

// Render implements Renderer.
func (Prometheus) Render(w io.Writer, r *report.Report) error { return metrics.Write(w, r) }
