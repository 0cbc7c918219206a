package promtext

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
)

func write(t *testing.T, s *Set) string {
	t.Helper()
	var b bytes.Buffer
	if err := s.Write(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestWrite pins the format: families by name, labels by name, series by
// their values in that order, escaping, number spelling, summaries.
func TestWrite(t *testing.T) {
	link := &Desc{Name: "link_info", Type: Gauge, Help: `Links; "quoted" \ help` + "\nsecond line.", Labels: []string{"name", "kind"}}
	rx := &Desc{Name: "rx_bytes_total", Type: Counter, Help: "Bytes.", Labels: []string{"iface"}}
	up := &Desc{Name: "up", Type: Gauge, Help: "Up."}
	// quantile follows the other labels, even those after it by name.
	pause := &Desc{Name: "pause_seconds", Type: Summary, Help: "Pauses.", Labels: []string{"zone"}}
	plain := &Desc{Name: "plain_seconds", Type: Summary, Help: "Plain."}
	var s Set
	for _, err := range []error{
		s.Add(rx, 1e21, "eth1"),
		s.Add(rx, 0.1, "eth0"),
		s.Add(rx, math.Copysign(0, -1), "eth10"),
		s.Add(rx, math.NaN(), "a\\b"),
		s.Add(rx, math.Inf(1), `quo"te`),
		s.Add(rx, math.Inf(-1), "new\nline"),
		s.Add(rx, 1<<53+1, "big"),
		s.Add(link, 1, "b", "veth"),
		s.Add(link, 1, "a", "veth"),
		s.Add(link, 1, "c", "device"),
		s.Add(up, -1),
		s.AddSummary(pause, 3, 0.5, []Quantile{{0, 0.1}, {0.5, 0.2}, {1, 0.25}}, "gc"),
		s.AddSummary(plain, 0, 0, []Quantile{{0.25, 0}}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	want := `# HELP link_info Links; "quoted" \\ help\nsecond line.
# TYPE link_info gauge
link_info{kind="device",name="c"} 1
link_info{kind="veth",name="a"} 1
link_info{kind="veth",name="b"} 1
# HELP pause_seconds Pauses.
# TYPE pause_seconds summary
pause_seconds{zone="gc",quantile="0"} 0.1
pause_seconds{zone="gc",quantile="0.5"} 0.2
pause_seconds{zone="gc",quantile="1"} 0.25
pause_seconds_sum{zone="gc"} 0.5
pause_seconds_count{zone="gc"} 3
# HELP plain_seconds Plain.
# TYPE plain_seconds summary
plain_seconds{quantile="0.25"} 0
plain_seconds_sum 0
plain_seconds_count 0
# HELP rx_bytes_total Bytes.
# TYPE rx_bytes_total counter
rx_bytes_total{iface="a\\b"} NaN
rx_bytes_total{iface="big"} 9.007199254740992e+15
rx_bytes_total{iface="eth0"} 0.1
rx_bytes_total{iface="eth1"} 1e+21
rx_bytes_total{iface="eth10"} 0
rx_bytes_total{iface="new\nline"} -Inf
rx_bytes_total{iface="quo\"te"} +Inf
# HELP up Up.
# TYPE up gauge
up -1
`
	if got := write(t, &s); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestDuplicateSeries(t *testing.T) {
	d := &Desc{Name: "netdx_finding", Type: Gauge, Help: "Findings.", Labels: []string{"id", "subject"}}
	var s Set
	if err := s.Add(d, 1, "a", "eth0"); err != nil {
		t.Fatal(err)
	}
	err := s.Add(d, 2, "a", "eth0")
	if !errors.Is(err, ErrDuplicate) || !strings.Contains(err.Error(), `netdx_finding{id="a",subject="eth0"}`) {
		t.Errorf("second series: %v, want ErrDuplicate naming the series", err)
	}
	// Bytes that are not UTF-8 are replaced before series are compared:
	// two names the kernel tells apart may be one series.
	if err := s.Add(d, 1, "a", "bad\xffname"); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(d, 1, "a", "bad\xfe\xfdname"); !errors.Is(err, ErrDuplicate) {
		t.Errorf("the same name after replacement: %v, want ErrDuplicate", err)
	}
	want := "# HELP netdx_finding Findings.\n# TYPE netdx_finding gauge\n" +
		"netdx_finding{id=\"a\",subject=\"bad\uFFFDname\"} 1\nnetdx_finding{id=\"a\",subject=\"eth0\"} 1\n"
	if got := write(t, &s); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestLabelCount(t *testing.T) {
	d := &Desc{Name: "netdx_check", Type: Gauge, Help: "Checks.", Labels: []string{"source", "name"}}
	var s Set
	for _, values := range [][]string{nil, {"a"}, {"a", "b", "c"}} {
		err := s.Add(d, 1, values...)
		if err == nil || !strings.HasPrefix(err.Error(), "netdx_check: ") || errors.Is(err, ErrDuplicate) {
			t.Errorf("%q: %v, want an error naming netdx_check", values, err)
		}
	}
	if got := write(t, &s); got != "" {
		t.Errorf("a family without a series was written:\n%s", got)
	}
}

// TestDefinitionErrors: what a registry refused at registration.
func TestDefinitionErrors(t *testing.T) {
	a := &Desc{Name: "netdx_a", Type: Gauge, Help: "A."}
	var s Set
	if err := s.Add(a, 1); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		add  func() error
		want string
	}{
		{func() error { return s.Add(&Desc{Name: "netdx_a", Type: Gauge, Help: "A."}, 1) }, "netdx_a: two definitions"},
		{func() error { return s.Add(&Desc{Name: "netdx-b", Type: Gauge}, 1) }, `"netdx-b" is not a valid metric name`},
		{func() error { return s.Add(&Desc{Name: "1b", Type: Gauge}, 1) }, `"1b" is not a valid metric name`},
		{func() error { return s.Add(&Desc{Name: "", Type: Gauge}, 1) }, `"" is not a valid metric name`},
		{func() error { return s.Add(&Desc{Name: "b", Type: Gauge, Labels: []string{"a-b"}}, 1, "") }, `b: "a-b" is not a valid label name`},
		{func() error { return s.Add(&Desc{Name: "b", Type: Gauge, Labels: []string{"__name__"}}, 1, "") }, `b: "__name__" is not a valid label name`},
		{func() error { return s.Add(&Desc{Name: "b", Type: Gauge, Labels: []string{"x", "x"}}, 1, "", "") }, `b: label "x" twice`},
		{func() error {
			return s.AddSummary(&Desc{Name: "b", Type: Summary, Labels: []string{"quantile"}}, 0, 0, nil, "")
		}, `b: "quantile" is not a valid label name`},
		{func() error { return s.Add(&Desc{Name: "b", Type: Summary}, 1) }, "b: a summary's series are added with AddSummary"},
		{func() error { return s.AddSummary(a, 0, 0, nil) }, "netdx_a: a gauge's series are added with Add"},
	} {
		if err := c.add(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v, want %q", err, c.want)
		}
	}
	if got := write(t, &s); got != "# HELP netdx_a A.\n# TYPE netdx_a gauge\nnetdx_a 1\n" {
		t.Errorf("after the refusals:\n%s", got)
	}
}

func TestFilter(t *testing.T) {
	var s Set
	for _, n := range []string{"a", "b", "c"} {
		if err := s.Add(&Desc{Name: n, Type: Gauge, Help: n}, 1); err != nil {
			t.Fatal(err)
		}
	}
	s.Filter(func(name string) bool { return name != "b" })
	if got := write(t, &s); got != "# HELP a a\n# TYPE a gauge\na 1\n# HELP c c\n# TYPE c gauge\nc 1\n" {
		t.Errorf("got:\n%s", got)
	}
}

func BenchmarkWrite(b *testing.B) {
	d := &Desc{Name: "netdx_interface_stat_total", Type: Counter, Help: "Interface counters.", Labels: []string{"interface", "stat"}}
	stats := []string{"rx_packets", "tx_packets", "rx_bytes", "tx_bytes", "rx_dropped", "tx_dropped", "rx_errors", "tx_errors"}
	ifaces := []string{"eth0", "eth1", "veth0", "veth1", "br0", "lo", "bond0", "wg0"}
	b.ReportAllocs()
	for b.Loop() {
		var s Set
		for i, iface := range ifaces {
			for j, st := range stats {
				if err := s.Add(d, float64(i*j)*1e6+0.5, iface, st); err != nil {
					b.Fatal(err)
				}
			}
		}
		if err := s.Write(&bytes.Buffer{}); err != nil {
			b.Fatal(err)
		}
	}
}
