package metrics

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/netdx/netdx/collectors"
	"github.com/netdx/netdx/drops"
	"github.com/netdx/netdx/internal/promtext"
	"github.com/netdx/netdx/report"
)

// golden compares got with testdata/name.golden, rewritten by -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("exposition differs from %s; run go test ./render/metrics -update and review the diff", path)
	}
}

// edgeReport holds what the text format must escape and spell exactly:
// backslashes, quotes and newlines in label values, bytes that are not
// UTF-8, a finding twice, series that sort by their second label, counters
// beyond 2^53, and NaN, infinities and negative zero among the trace's
// numbers.
func edgeReport() *report.Report {
	ttl := 3
	rep := report.New("diag", report.Tool{Name: "netdx", Version: "v\\1\"2\n3", Commit: "c"}, report.Host{}, fixedEnd)
	rep.EndedAt = fixedEnd.Add(123456789 * time.Nanosecond)
	subjects := []string{"back\\slash", "quo\"te", "new\nline", "bad\xff\xfeutf8", "ünïcode ✓", "", "back\\slash"}
	for _, s := range subjects {
		rep.Findings = append(rep.Findings, report.Finding{ID: "a", Severity: report.Warning, Subject: s})
	}
	rep.Findings = append(rep.Findings, report.Finding{ID: "a", Severity: report.Critical}, report.Finding{ID: "A", Severity: report.Info, Subject: "z"})
	rep.Checks = []report.Check{{Source: "x", Layer: "l", Name: "n", Status: "ok"}, {Source: "x", Layer: "k", Name: "n", Status: "ok"}}
	rep.Diag = &report.Diag{
		Sysctls: map[string]report.DiagSysctl{"a.b": {Value: "x \"y\" \\z"}, "c": {Value: "-1 0 9223372036854775807"}, "d": {Value: ""}},
		Interfaces: []report.DiagInterface{{Name: "eth\\0", Kind: "device", Stats: map[string]report.DiagCounter{
			"max": {Total: math.MaxUint64}, "p53": {Total: 1<<53 + 1}, "e19": {Total: 1e19}, "mil": {Total: 1000000}, "k": {Total: 123456}}}},
	}
	rep.Traces = []report.Trace{{Target: report.TraceTarget{Name: "h\"ost", IP: "198.18.0.1"}, Rounds: 10, EndReason: "reached",
		DestinationTTL: &ttl, EndedAt: fixedEnd,
		Hops: []report.TraceHop{
			{TTL: 1, Sent: 10, Received: 7, RTT: &report.RTTStats{AvgMs: math.NaN(), BestMs: math.Inf(1), WorstMs: math.Inf(-1),
				P50Ms: math.Copysign(0, -1), P95Ms: 1e-7, StDevMs: 0.1, JitterMs: 1234567.891}},
			{TTL: 2, Sent: 3, Received: 1},
			{TTL: 10, Sent: 9},
		}}}
	return rep
}

// TestExpositionEdgeCases pins the text format's escaping, number
// spelling and order. The golden file was written by client_golang's
// registry and expfmt, which netdx used before its own writer
// (internal/promtext).
func TestExpositionEdgeCases(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, edgeReport()); err != nil {
		t.Fatal(err)
	}
	golden(t, "TestExpositionEdgeCases", goVersion.ReplaceAll(b.Bytes(), []byte(`goversion="GO"`)))
}

// TestExporterExposition pins serve's exposition of netdx's own metrics:
// collector and trace health, drop reasons, and a published report. The
// golden file was written by client_golang, as TestExpositionEdgeCases'.
func TestExporterExposition(t *testing.T) {
	e := NewExporter("198.18.0.9", "b\"t")
	snap := &collectors.Snapshot{Taken: fixedEnd, Runs: []collectors.Run{
		{Collector: "netstat", Duration: 3 * time.Millisecond}, {Collector: "nic", Duration: time.Millisecond, Failed: true}}}
	e.ObserveSample(snap, 5*time.Millisecond)
	e.ObserveTrace("198.18.0.9", 2*time.Second, fixedEnd, nil)
	e.ObserveTrace("198.18.0.7", time.Second, fixedEnd, errors.New("no route"))
	w := drops.Window{Kind: drops.KindBTF, Start: t0, End: t0.Add(time.Minute)}
	for i := range 12 {
		d := dropRow([]string{"NO_SOCKET", "OTHERHOST", "TCP_CSUM"}[i%3], uint64(i*7%10))
		d.Ifindex, d.Interface = i%4, ""
		if i%2 == 0 {
			d.Interface = "veth" + string(rune('a'+i%3))
		}
		w.Drops = append(w.Drops, d)
	}
	w.Overflow.Lost = 3
	e.ObserveDrops(w)
	e.Publish(edgeReport(), true)
	got, err := exporterText(e)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "TestExporterExposition", goVersion.ReplaceAll(got, []byte(`goversion="GO"`)))
}

// TestEmitErrors: what a pedantic registry refused is refused with the
// metric named (a wrong number of labels, a metric it was not told of,
// serve's own health in a report's exposition), while a second series
// with the same labels is left out quietly.
func TestEmitErrors(t *testing.T) {
	var s promtext.Set
	em := &emitter{set: &s}
	em.emit(mFinding, 1, "tcp.listen_overflow", "critical")
	em.emit(mFinding, 1, "a", "warning", "eth0")
	em.emit(mFinding, 1, "a", "warning", "eth0")
	em.emit(mSamples, 1)
	em.emit(&Def{Desc: promtext.Desc{Name: "netdx_unlisted", Type: gauge, Help: "Unlisted."}}, 1)
	var got []string
	for _, err := range em.errs {
		got = append(got, err.Error())
	}
	want := []string{`netdx_finding: 2 label values for the 3 labels ["id" "severity" "subject"]`,
		"netdx_host_samples_total: not a metric exported here (render/metrics defs)",
		"netdx_unlisted: not a metric exported here (render/metrics defs)"}
	if !slices.Equal(got, want) {
		t.Errorf("errors %q, want %q", got, want)
	}
	var b bytes.Buffer
	if err := s.Write(&b); err != nil || strings.Count(b.String(), "\nnetdx_finding{") != 1 {
		t.Errorf("wrote (%v):\n%s", err, b.String())
	}
}
