package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/netdx/netdx/capture"
	"github.com/netdx/netdx/render/plot"
	"github.com/netdx/netdx/report"
)

// errPlotStdin refuses --plot on standard input: the plots come from a
// second pass over the file, recording only the chosen flows, and stdin
// cannot be read twice.
var errPlotStdin = errors.New("--plot reads the capture twice (once to rank the flows, once to record the chosen ones) and stdin cannot be read again: " +
	"save the capture to a file first (tcpdump -w FILE) and analyze the file")

// plotPcap writes the time-sequence graphs of the chosen flows of every
// capture the report holds into o.plot: with --flow, every connection on
// the flows named; otherwise the worst o.plotFlows TCP flows with data, in
// the report's order. Each capture is read a second time, recording just
// those flows (capture.Options.Record). It returns the files written.
func (a *app) plotPcap(ctx context.Context, o *pcapOptions, opts capture.Options, files []string, rep *report.Report) ([]string, error) {
	if err := os.MkdirAll(o.plot, 0o755); err != nil {
		return nil, fmt.Errorf("--plot %s: %w", o.plot, err)
	}
	var written []string
	for _, name := range files {
		c := reportCapture(rep, displayName(name))
		if c == nil {
			continue // unreadable: the report says why
		}
		chosen := worstFlows(c.Flows, o.plotFlows)
		ropts := opts
		ropts.Record = opts.Filter.Flows
		if len(ropts.Record) == 0 {
			for _, f := range chosen {
				ropts.Record = append(ropts.Record, capture.FlowSpec{A: f.client, B: f.server})
			}
		}
		if len(ropts.Record) == 0 {
			fmt.Fprintf(a.Err, "netdx: %s: no TCP flow with data to plot\n", c.File)
			continue
		}
		res, err := a.record(ctx, name, ropts)
		if err != nil && res == nil {
			return written, err
		}
		recs := res.Recorded
		if len(opts.Filter.Flows) == 0 {
			recs = matchRecorded(res.Recorded, chosen)
		}
		prefix := ""
		if len(files) > 1 {
			prefix = safeName(filepath.Base(c.File)) + "-"
		}
		for k, rec := range recs {
			for dir := range rec.Dir {
				if len(rec.Dir[dir].Segments) == 0 {
					continue
				}
				path := filepath.Join(o.plot, prefix+plotName(k+1, rec.Flow, dir))
				pic := timeSequence(rec, dir)
				if o.plotTime != "" && !pic.Zoom(o.plotFrom, o.plotTo) {
					fmt.Fprintf(a.Err, "netdx: %s: not written: no data segment within --plot-time %s of flow %s\n", path, o.plotTime, report.FlowID(rec.Flow))
					continue
				}
				if err := writeSVG(path, pic); err != nil {
					return written, err
				}
				written = append(written, path)
			}
		}
	}
	return written, nil
}

// reportCapture is the report's section of the capture named name; nil
// when the capture could not be read.
func reportCapture(rep *report.Report, name string) *report.Capture {
	for i := range rep.Captures {
		if rep.Captures[i].File == name {
			return &rep.Captures[i]
		}
	}
	return nil
}

// record reads a capture again with opts, for its recordings.
func (a *app) record(ctx context.Context, name string, opts capture.Options) (*capture.Result, error) {
	r, size, done, err := a.openCapture(name)
	if err != nil {
		return nil, err
	}
	defer done()
	opts.Name = displayName(name)
	opts.RegularFile = size >= 0
	return capture.Analyze(ctx, r, opts)
}

// parsePlotTime reads --plot-time FROM:TO into plotFrom and plotTo.
func (o *pcapOptions) parsePlotTime() error {
	if o.plotTime == "" {
		return nil
	}
	bad := func(why string) error {
		return &usageError{fmt.Errorf("invalid --plot-time %q: %s; want FROM:TO after the flow's first packet, e.g. 1.5s:2s, 30s: or :500ms", o.plotTime, why)}
	}
	if o.plot == "" {
		return &usageError{errors.New("--plot-time zooms the graphs of --plot: give --plot DIR too")}
	}
	from, to, ok := strings.Cut(o.plotTime, ":")
	if !ok {
		return bad("no colon")
	}
	for _, side := range []struct {
		text string
		d    *time.Duration
	}{{from, &o.plotFrom}, {to, &o.plotTo}} {
		if side.text == "" {
			continue
		}
		d, err := time.ParseDuration(side.text)
		if err != nil || d < 0 {
			return bad(strconv.Quote(side.text) + " is not a duration of 0 or more")
		}
		*side.d = d
	}
	if o.plotTo != 0 && o.plotTo <= o.plotFrom {
		return bad("TO is not after FROM")
	}
	return nil
}

// plotFlow is a flow of the report chosen for plotting.
type plotFlow struct {
	report.CaptureFlow
	client, server netip.AddrPort
}

// worstFlows takes the first n TCP flows with data from a report's flows,
// which are listed worst first by the analyser's own ranking.
func worstFlows(flows []report.CaptureFlow, n int) []plotFlow {
	var out []plotFlow
	for _, f := range flows {
		if len(out) == n {
			break
		}
		if f.Protocol != "tcp" || len(f.Directions) != 2 || f.Directions[0].DataPackets+f.Directions[1].DataPackets == 0 {
			continue
		}
		c, err1 := netip.ParseAddrPort(f.Client)
		s, err2 := netip.ParseAddrPort(f.Server)
		if err1 != nil || err2 != nil {
			continue
		}
		out = append(out, plotFlow{f, c, s})
	}
	return out
}

// matchRecorded picks, in the order chosen, the recording of each chosen
// flow: the same flow ID and first packet (other connections on the same
// endpoints, or the same endpoints in another tunnel, are recorded too).
func matchRecorded(recs []*capture.Recording, chosen []plotFlow) []*capture.Recording {
	var out []*capture.Recording
	for _, f := range chosen {
		for _, r := range recs {
			if report.FlowID(r.Flow) == f.ID && r.Flow.First.Equal(f.FirstPacketAt) {
				out = append(out, r)
				break
			}
		}
	}
	return out
}

// plotName is a plot's file name: the rank, both endpoints and whose data
// ("2-198.18.0.1.40000-198.18.1.1.443-server-data.svg"), in characters
// safe in any file system.
func plotName(rank int, f *capture.Flow, dir int) string {
	side := "client"
	if dir == 1 {
		side = "server"
	}
	ep := func(a netip.AddrPort) string { return a.Addr().String() + "." + strconv.Itoa(int(a.Port())) }
	return safeName(strconv.Itoa(rank)+"-"+ep(f.Client)+"-"+ep(f.Server)+"-"+side+"-data") + ".svg"
}

// safeName keeps letters, digits, dot, dash and underscore; anything else
// becomes an underscore.
func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			return r
		}
		return '_'
	}, s)
}

// writeSVG renders pic and writes it to path.
func writeSVG(path string, pic interface{ WriteSVG(io.Writer) error }) error {
	var b bytes.Buffer
	if err := pic.WriteSVG(&b); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// segmentKinds maps the engine's segment kinds to the picture's.
var segmentKinds = [...]plot.SegmentKind{
	capture.SegOriginal:   plot.Original,
	capture.SegTimeout:    plot.RetransTimeout,
	capture.SegFast:       plot.RetransFast,
	capture.SegOther:      plot.RetransOther,
	capture.SegSpurious:   plot.Spurious,
	capture.SegReordered:  plot.Reordered,
	capture.SegCaptureDup: plot.CaptureDuplicate,
}

// timeSequence converts direction dir of a recording (0 the client's
// data) into its picture. A frame that counts as several segments (a
// retransmitted GSO frame) is drawn as that many, so the legend counts
// what the report counts.
func timeSequence(rec *capture.Recording, dir int) *plot.TimeSequence {
	f := rec.Flow
	d := &rec.Dir[dir]
	g := &plot.TimeSequence{Client: f.Client, Server: f.Server, FromServer: dir == 1}
	for _, e := range f.Encap {
		g.Layers = append(g.Layers, plot.Layer{Kind: e.Kind, ID: e.ID, HasID: e.HasID, Src: e.Src, Dst: e.Dst})
	}
	g.Notes = append(g.Notes, "flow "+report.FlowID(f))
	if f.Midstream {
		g.Notes = append(g.Notes, "the capture started after the flow did: sequence numbers are relative to the first seen")
	}
	other := 0
	for _, s := range d.Segments {
		n := max(s.Segs, 1)
		if s.Kind == capture.SegOther {
			other += int(n)
		}
		for i := range int64(n) {
			lo, hi := s.Len*i/int64(n), s.Len*(i+1)/int64(n)
			g.Segments = append(g.Segments, plot.Segment{At: s.At, Seq: s.Seq + lo, Len: hi - lo, Kind: segmentKinds[s.Kind]})
		}
	}
	if other > 0 {
		g.Notes = append(g.Notes, "retransmission, other: "+strconv.Itoa(other)+
			" segment(s) seen again that were neither retransmitted nor reordered on the evidence (report: hole_decisions.undecided, late_duplicates)")
	}
	for _, a := range d.Acks {
		x := plot.Ack{At: a.At, Ack: a.Ack, Window: a.Window}
		for _, b := range a.SACK {
			x.SACK = append(x.SACK, plot.Range{Start: b[0], End: b[1]})
		}
		for _, b := range a.DSACK {
			x.DSACK = append(x.DSACK, plot.Range{Start: b[0], End: b[1]})
		}
		g.Acks = append(g.Acks, x)
	}
	gaps := func(gs []capture.RecordedGap) []plot.Gap {
		out := make([]plot.Gap, 0, len(gs))
		for _, x := range gs {
			out = append(out, plot.Gap{Range: plot.Range{Start: x.Start, End: x.End}, From: x.From, To: x.To})
		}
		return out
	}
	g.Lost, g.NotCaptured = gaps(d.Lost), gaps(d.NotCaptured)
	return g
}
