// Package plot draws netdx's pictures as self-contained SVG: a TCP
// time-sequence (Stevens) graph of one direction of one flow, and the
// round-trip time of every probe of a trace, one row per hop.
//
// The package knows nothing of how the numbers were measured. It takes
// plain data types it defines itself (TimeSequence, HopRTT), so the
// engines' results convert into them field by field, and writes one SVG
// document per picture with WriteSVG.
//
// Every document stands alone: inline attributes only, no scripts, no
// style sheets, no external fonts (the generic sans-serif family). Text
// from the input (host names, notes, tunnel kinds) is escaped and
// shortened, so a hostile name cannot inject markup. The output is
// deterministic: the same input gives the same bytes, which the golden
// tests rely on.
//
// Large inputs stay small: marks of one kind that fall into the same
// pixel column and touch are merged into one (a time-sequence graph of
// 200,000 segments becomes a few thousand marks), never across kinds, so
// every kind present keeps at least one visible mark; the caption says
// when this happened. Marks are bucketed by pixel column in linear time;
// only ACKs are sorted (by time). BenchmarkTimeSequence measures both.
//
// docs/plots.md explains how to read both pictures.
package plot
