package promtext

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// get requests /metrics (with query) from h with the Accept-Encoding
// given, and returns the response and its body, decompressed.
func get(t *testing.T, h http.Handler, query, encoding string) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/metrics"+query, nil)
	if encoding != "" {
		req.Header.Set("Accept-Encoding", encoding)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	resp := rec.Result()
	var body io.Reader = resp.Body
	if resp.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		body = gz
	}
	b, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// samples reads the sample lines of an exposition: series to value.
func samples(t *testing.T, text string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

var (
	tA = &Desc{Name: "test_a", Type: Gauge, Help: "A.", Labels: []string{"k"}}
	tB = &Desc{Name: "test_b", Type: Counter, Help: "B."}
)

// TestHandlerContinuesOnError: a collect function's error is logged and
// the scrape keeps what it and the others added, as promhttp's
// ContinueOnError did.
func TestHandlerContinuesOnError(t *testing.T) {
	var log bytes.Buffer
	h := Handler(slog.New(slog.NewTextHandler(&log, nil)),
		func(s *Set) error {
			return errors.Join(s.Add(tA, 1, "x"), s.Add(tA, 2, "x"), s.Add(tA, 3))
		},
		func(s *Set) error { return s.Add(tB, 7) })
	resp, body := get(t, h, "", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %s", resp.Status)
	}
	m := samples(t, body)
	if m[`test_a{k="x"}`] != 1 || m["test_b"] != 7 || len(m) != 2+4 {
		t.Errorf("scraped %v", m)
	}
	for _, want := range []string{`level=WARN msg="gathering metrics"`, `duplicate series: test_a{k=\"x\"}`, `test_a: 0 label values`} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log has no %q:\n%s", want, log.String())
		}
	}
}

// TestHandlerOwnFamilies: Content-Type, the scrape counts by code (a
// scrape is counted once done) and the scrapes in flight (this one).
func TestHandlerOwnFamilies(t *testing.T) {
	h := Handler(slog.New(slog.DiscardHandler))
	for n := range 3 {
		resp, body := get(t, h, "", "")
		if ct := resp.Header.Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
			t.Errorf("Content-Type %q", ct)
		}
		want := map[string]float64{
			`promhttp_metric_handler_requests_total{code="200"}`: float64(n),
			`promhttp_metric_handler_requests_total{code="500"}`: 0,
			`promhttp_metric_handler_requests_total{code="503"}`: 0,
			"promhttp_metric_handler_requests_in_flight":         1,
		}
		if got := samples(t, body); len(got) != len(want) {
			t.Errorf("scrape %d: %v, want %v", n, got, want)
		} else {
			for k, v := range want {
				if got[k] != v {
					t.Errorf("scrape %d: %s = %v, want %v", n, k, got[k], v)
				}
			}
		}
	}
}

func TestHandlerGzipAndNames(t *testing.T) {
	h := Handler(slog.New(slog.DiscardHandler), func(s *Set) error {
		return errors.Join(s.Add(tA, 1, "x"), s.Add(tB, 2))
	})
	resp, plain := get(t, h, "?name[]=test_a&name[]=test_b", "")
	if resp.Header.Get("Content-Encoding") != "" {
		t.Errorf("Content-Encoding %q without Accept-Encoding", resp.Header.Get("Content-Encoding"))
	}
	resp, zipped := get(t, h, "?name[]=test_a&name[]=test_b", "gzip")
	if resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("Vary") != "Accept-Encoding" {
		t.Errorf("headers %v", resp.Header)
	}
	want := "# HELP test_a A.\n# TYPE test_a gauge\ntest_a{k=\"x\"} 1\n# HELP test_b B.\n# TYPE test_b counter\ntest_b 2\n"
	if plain != want || zipped != want {
		t.Errorf("plain:\n%s\ngzipped:\n%s\nwant:\n%s", plain, zipped, want)
	}
	if _, only := get(t, h, "?name[]=test_b", ""); only != "# HELP test_b B.\n# TYPE test_b counter\ntest_b 2\n" {
		t.Errorf("name[]=test_b:\n%s", only)
	}
}

// TestAcceptsGzip: the choices are promhttp's (client_golang v1.25), as
// recorded from it, but for the last two: promhttp took GZIP for an
// unknown coding and gave up on a header starting with a space, where RFC
// 9110 has codings case-insensitive and spaces optional.
func TestAcceptsGzip(t *testing.T) {
	for v, want := range map[string]bool{
		"":                               false,
		"gzip":                           true,
		"deflate, gzip;q=1.0, *;q=0.5":   true,
		"gzip, identity":                 false,
		"gzip;q=0":                       false,
		"*":                              false,
		"identity;q=0.5, gzip":           true,
		"gzip;q=0.5, identity;q=0.4":     true,
		"identity;q=0, gzip;q=0":         false,
		"br, zstd":                       false,
		"gzip;q=2":                       false,
		"gzip;level=1":                   false,
		"GZIP":                           true,
		" gzip ; q=0.8 ,identity;q=0.1 ": true,
	} {
		h := http.Header{}
		if v != "" {
			h.Set("Accept-Encoding", v)
		}
		if got := acceptsGzip(h); got != want {
			t.Errorf("Accept-Encoding %q: gzip %v, want %v", v, got, want)
		}
	}
}

// TestHandlerPromtool: a scrape of the Go runtime's and the process's
// families passes promtool check metrics.
func TestHandlerPromtool(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short: promtool tests run in `make test`")
	}
	tool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not found: install Debian's prometheus package (apt-get install prometheus); .ci/run does")
	}
	_, body := get(t, Handler(slog.New(slog.DiscardHandler), Go, Process), "", "gzip")
	cmd := exec.Command(tool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// TestFamiliesDocumented: Families, which docs/prometheus.md lists, are
// exactly the families a scrape of Go, Process and the handler holds.
func TestFamiliesDocumented(t *testing.T) {
	_, body := get(t, Handler(slog.New(slog.DiscardHandler), Go, Process), "", "")
	var got, want []string
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "# ") {
			got = append(got, line)
		}
	}
	for _, d := range Families() {
		want = append(want, "# HELP "+d.Name+" "+d.Help, "# TYPE "+d.Name+" "+d.Type.String())
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("scraped:\n%s\nFamilies:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
