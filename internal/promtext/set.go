// Package promtext writes the Prometheus text exposition format, version
// 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/),
// byte for byte as client_golang's registry and expfmt wrote it for netdx
// before: families sorted by name, each with its HELP and TYPE line; its
// series sorted by their label values, compared in the order of the label
// names, which is also the order they are written in; numbers in
// strconv's shortest 'g' form, NaN, +Inf and -Inf spelled so, and 0 for
// negative zero; HELP escaping backslash and newline, label values also
// the double quote.
//
// A Set checks what a pedantic registry checked and netdx could get
// wrong: a series given twice (ErrDuplicate) and a wrong number of label
// values are refused with an error naming the metric, and one name cannot
// have two definitions. Label values that are not UTF-8 (interface and
// process names are bytes to the kernel) have each bad run replaced by
// U+FFFD, as the format requires UTF-8.
//
// Nothing here runs before a Set is used: definitions are plain data.
package promtext

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Type is the type of a metric family.
type Type uint8

// The types netdx exports.
const (
	Counter Type = iota + 1
	Gauge
	Summary
)

func (t Type) String() string {
	switch t {
	case Counter:
		return "counter"
	case Gauge:
		return "gauge"
	case Summary:
		return "summary"
	}
	return "Type(" + strconv.Itoa(int(t)) + ")"
}

// Desc defines a metric family: its name, type, help text and the names of
// its labels, in the order Add takes their values.
type Desc struct {
	Name   string
	Type   Type
	Help   string
	Labels []string
}

// Quantile is one quantile of a summary.
type Quantile struct {
	Q, Value float64
}

// ErrDuplicate is the error of a series added twice.
var ErrDuplicate = errors.New("duplicate series")

// Set is the series of one exposition. The zero Set is empty and ready to
// use; it is not safe for concurrent use.
type Set struct {
	families map[string]*family
}

type family struct {
	desc *Desc
	// names are the label names sorted; at[i] is the position in Desc.Labels
	// of names[i].
	names []string
	at    []int
	// series holds the label values in the order of names.
	series []series
	seen   map[string]bool
}

type series struct {
	values    []string
	value     float64
	count     uint64 // of a summary, whose sum is value
	quantiles []Quantile
}

// Add adds a series of a counter or gauge with the label values given in
// the order of d.Labels.
func (s *Set) Add(d *Desc, v float64, labelValues ...string) error {
	if d.Type == Summary {
		return fmt.Errorf("%s: a summary's series are added with AddSummary", d.Name)
	}
	return s.add(d, series{value: v}, labelValues)
}

// AddSummary adds a series of a summary: its count, sum and quantiles,
// written in the order given (ascending, as client_golang sorted them).
func (s *Set) AddSummary(d *Desc, count uint64, sum float64, quantiles []Quantile, labelValues ...string) error {
	if d.Type != Summary {
		return fmt.Errorf("%s: a %s's series are added with Add", d.Name, d.Type)
	}
	return s.add(d, series{value: sum, count: count, quantiles: quantiles}, labelValues)
}

func (s *Set) add(d *Desc, sr series, labelValues []string) error {
	f, err := s.family(d)
	if err != nil {
		return err
	}
	if len(labelValues) != len(d.Labels) {
		return fmt.Errorf("%s: %d label values for the %d labels %q", d.Name, len(labelValues), len(d.Labels), d.Labels)
	}
	sr.values = make([]string, len(labelValues))
	for i, j := range f.at {
		sr.values[i] = strings.ToValidUTF8(labelValues[j], string(utf8.RuneError))
	}
	key := strings.Join(sr.values, "\xff") // 0xff is never part of UTF-8
	if f.seen[key] {
		return fmt.Errorf("%w: %s", ErrDuplicate, f.seriesName(sr.values))
	}
	f.seen[key] = true
	f.series = append(f.series, sr)
	return nil
}

// family returns the family of d, new on its first series.
func (s *Set) family(d *Desc) (*family, error) {
	if f := s.families[d.Name]; f != nil {
		if f.desc != d {
			return nil, fmt.Errorf("%s: two definitions of one metric", d.Name)
		}
		return f, nil
	}
	if !validName(d.Name, true) {
		return nil, fmt.Errorf("%q is not a valid metric name", d.Name)
	}
	f := &family{desc: d, names: slices.Clone(d.Labels), at: make([]int, len(d.Labels)), seen: map[string]bool{}}
	slices.Sort(f.names)
	for i, n := range f.names {
		if !validName(n, false) || n == "quantile" && d.Type == Summary {
			return nil, fmt.Errorf("%s: %q is not a valid label name", d.Name, n)
		}
		if i > 0 && n == f.names[i-1] {
			return nil, fmt.Errorf("%s: label %q twice", d.Name, n)
		}
		f.at[i] = slices.Index(d.Labels, n)
	}
	if s.families == nil {
		s.families = map[string]*family{}
	}
	s.families[d.Name] = f
	return f, nil
}

// validName says whether name is a metric name (colons allowed) or a label
// name of the classic character set, which the text format writes
// unquoted; label names starting with __ are reserved.
func validName(name string, metric bool) bool {
	if name == "" || !metric && strings.HasPrefix(name, "__") {
		return false
	}
	for i, c := range name {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_', metric && c == ':':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// seriesName is the series as PromQL would select it, for errors.
func (f *family) seriesName(values []string) string {
	if len(f.names) == 0 {
		return f.desc.Name
	}
	pairs := make([]string, len(f.names))
	for i, n := range f.names {
		pairs[i] = n + "=" + strconv.Quote(values[i])
	}
	return f.desc.Name + "{" + strings.Join(pairs, ",") + "}"
}

// Filter drops the families whose names keep refuses.
func (s *Set) Filter(keep func(name string) bool) {
	maps.DeleteFunc(s.families, func(name string, _ *family) bool { return !keep(name) })
}

// Write writes the exposition: every family with a series, by name.
func (s *Set) Write(w io.Writer) error {
	names := slices.Sorted(maps.Keys(s.families))
	bw, ok := w.(*bufio.Writer)
	if !ok {
		bw = bufio.NewWriterSize(w, 32<<10)
	}
	var num []byte
	for _, n := range names {
		f := s.families[n]
		if len(f.series) == 0 { // its only series was refused
			continue
		}
		slices.SortFunc(f.series, func(a, b series) int { return slices.Compare(a.values, b.values) })
		d := f.desc
		for _, part := range []string{"# HELP ", d.Name, " "} {
			bw.WriteString(part)
		}
		writeEscaped(bw, d.Help, false)
		for _, part := range []string{"\n# TYPE ", d.Name, " ", d.Type.String(), "\n"} {
			bw.WriteString(part)
		}
		for _, sr := range f.series {
			if d.Type != Summary {
				num = f.writeSample(bw, num, "", sr.values, "", sr.value)
				continue
			}
			for _, q := range sr.quantiles {
				num = f.writeSample(bw, num, "", sr.values, string(appendFloat(nil, q.Q)), q.Value)
			}
			num = f.writeSample(bw, num, "_sum", sr.values, "", sr.value)
			num = f.writeSample(bw, num, "_count", sr.values, "", float64(sr.count))
		}
	}
	return bw.Flush()
}

// writeSample writes one line: the name with suffix, the labels and a
// quantile label when quantile is not empty, and v. num is a scratch
// buffer, returned for reuse.
func (f *family) writeSample(w *bufio.Writer, num []byte, suffix string, values []string, quantile string, v float64) []byte {
	w.WriteString(f.desc.Name)
	w.WriteString(suffix)
	sep := byte('{')
	for i, n := range f.names {
		w.WriteByte(sep)
		w.WriteString(n)
		w.WriteString(`="`)
		writeEscaped(w, values[i], true)
		w.WriteByte('"')
		sep = ','
	}
	if quantile != "" {
		w.WriteByte(sep)
		w.WriteString(`quantile="`)
		w.WriteString(quantile)
		w.WriteByte('"')
		sep = ','
	}
	if sep == ',' {
		w.WriteByte('}')
	}
	w.WriteByte(' ')
	num = appendFloat(num[:0], v)
	w.Write(num)
	w.WriteByte('\n')
	return num
}

// writeEscaped writes s with backslash and newline escaped, and the
// double quote when quote is set (label values).
func writeEscaped(w *bufio.Writer, s string, quote bool) {
	done := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch c := s[i]; {
		case c == '\\':
			esc = `\\`
		case c == '\n':
			esc = `\n`
		case c == '"' && quote:
			esc = `\"`
		default:
			continue
		}
		w.WriteString(s[done:i])
		w.WriteString(esc)
		done = i + 1
	}
	w.WriteString(s[done:])
}

// appendFloat appends v as the text format spells it: strconv's shortest
// 'g' form, which spells NaN, +Inf and -Inf as the format does, and 0 for
// negative zero.
func appendFloat(b []byte, v float64) []byte {
	if v == 0 {
		return append(b, '0')
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}
