package cli

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/netdx/netdx/capture/capturetest"
	"github.com/netdx/netdx/report"
)

// Every command's --json output is validated against the published
// schemas under docs/schema, with a maintained validator: types,
// required fields, enums, formats, and closed objects, so a field the
// schema does not document fails here.

var schemas struct {
	once            sync.Once
	report, catalog *jsonschema.Schema
	err             error
}

func loadSchemas(t *testing.T) (reportSchema, catalogSchema *jsonschema.Schema) {
	t.Helper()
	schemas.once.Do(func() {
		c := jsonschema.NewCompiler()
		c.AssertFormat()
		for url, file := range map[string]string{report.SchemaURL: "report.v1.json", report.CatalogSchemaURL: "catalog.v1.json"} {
			b, err := os.ReadFile(filepath.Join("..", "..", "docs", "schema", file))
			if err != nil {
				schemas.err = err
				return
			}
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
			if err != nil {
				schemas.err = err
				return
			}
			if err := c.AddResource(url, doc); err != nil {
				schemas.err = err
				return
			}
		}
		if schemas.report, schemas.err = c.Compile(report.SchemaURL); schemas.err != nil {
			return
		}
		schemas.catalog, schemas.err = c.Compile(report.CatalogSchemaURL)
	})
	if schemas.err != nil {
		t.Fatalf("load the schemas: %v", schemas.err)
	}
	return schemas.report, schemas.catalog
}

// validate checks one JSON document against a schema.
func validate(t *testing.T, sch *jsonschema.Schema, what string, out []byte) {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("%s: not JSON: %v\n%s", what, err, out)
	}
	if err := sch.Validate(doc); err != nil {
		t.Errorf("%s: does not follow the schema:\n%v", what, err)
	}
}

// validReport checks a report document against docs/schema/report.v1.json.
func validReport(t *testing.T, what string, out []byte) {
	t.Helper()
	s, _ := loadSchemas(t)
	validate(t, s, what, out)
}

func TestSchemaDiag(t *testing.T) {
	kernels := []string{"linux-3.10", "rhel-4.18", "linux-5.4", "linux-5.15", "linux-6.18"}
	for _, k := range kernels {
		for _, interval := range []string{"0", "10s"} {
			a, out, _ := testApp()
			dir := filepath.Join(hostsDir, k)
			execute(t, a, replay(t, dir, ""), "diag", "--interval", interval, "--json", "--fail-on", "none")
			validReport(t, "diag "+k+" --interval "+interval, out.Bytes())
		}
	}
	a, out, _ := testApp()
	b, af := busyHost(t)
	execute(t, a, replay(t, b, af), "diag", "--interval", "10s", "--json")
	validReport(t, "diag busy", out.Bytes())
	// A malformed source and an empty tree: the report still follows it.
	dir := t.TempDir()
	copyTree(t, filepath.Join(hostsDir, "linux-6.18"), dir)
	if err := os.WriteFile(filepath.Join(dir, "proc/net/snmp"), []byte("Tcp: InSegs\nTcp: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a, out, _ = testApp()
	execute(t, a, replay(t, dir, ""), "diag", "--interval", "0", "--json")
	validReport(t, "diag malformed", out.Bytes())
	empty := t.TempDir()
	for _, d := range []string{"proc", "sys"} {
		if err := os.Mkdir(filepath.Join(empty, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	a, out, _ = testApp()
	execute(t, a, replay(t, empty, ""), "diag", "--interval", "0", "--json")
	validReport(t, "diag nothing read", out.Bytes())
}

func TestSchemaTrace(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "probes", "testdata", "scenarios", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(name, func(t *testing.T) {
			var s struct {
				Target string `json:"target"`
			}
			b, _ := os.ReadFile(f)
			if err := json.Unmarshal(b, &s); err != nil {
				t.Fatal(err)
			}
			a, out, errb := traceApp("trace", "--json", "-n", "-c", "8", "-i", "1ms", "--probe-timeout", "100ms", "--fail-on", "none", s.Target)
			if code := runScripted(t, a, name); code != exitOK {
				t.Fatalf("exit %d: %s", code, errb)
			}
			validReport(t, "trace "+name, out.Bytes())
		})
	}
}

// wgCapture is a WireGuard tunnel whose counters show loss, reordering
// and a replay, beside a plain TCP conversation.
func wgCapture(t *testing.T) []byte {
	g := capturetest.NewGen(t, layers.LinkTypeEthernet)
	a, b := netip.MustParseAddr("198.18.20.1"), netip.MustParseAddr("198.18.20.2")
	at := time.Duration(0)
	data := func(receiver uint32, counter uint64) []byte {
		p := make([]byte, 16+64+16)
		p[0] = 4
		binary.LittleEndian.PutUint32(p[4:], receiver)
		binary.LittleEndian.PutUint64(p[8:], counter)
		return p
	}
	send := func(payload []byte) {
		g.Add(capturetest.Frame{At: at, Src: a, Dst: b, SPort: 43000, DPort: 51820, UDP: true, UDPPayload: payload, WS: -1})
		at += 10 * time.Microsecond
	}
	handshake := make([]byte, 148)
	handshake[0] = 1
	send(handshake)
	for c := uint64(0); c < 400; c++ {
		switch c {
		case 50, 51: // lost
		case 100: // late
		case 103:
			send(data(7, 103))
			send(data(7, 100))
		default:
			send(data(7, c))
		}
	}
	send(data(7, 10)) // a replay
	capturetest.RetransScenario(capturetest.NewConv(g, "198.18.0.1:40000", "198.18.1.1:443"))
	return g.Pcapng()
}

func TestSchemaPcap(t *testing.T) {
	dir := t.TempDir()
	good := scenarioFile(t, dir)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	wg := write("wg.pcapng", wgCapture(t))
	data, _ := os.ReadFile(good)
	notPcap := write("notes.txt", []byte("not a capture\n"))
	damaged := append([]byte(nil), data...)
	binary.LittleEndian.PutUint32(damaged[24+8:], 1<<30)
	bad := write("damaged.pcap", damaged)
	for _, args := range [][]string{
		{good},
		{"--flows", "0", good, wg},
		{wg},
		{notPcap},
		{bad},
		{good, notPcap},
		{"--port", "22", good},
	} {
		_, out, _ := runPcapArgs(t, nil, false, append([]string{"pcap", "analyze", "--json", "--fail-on", "none"}, args...)...)
		validReport(t, "pcap analyze "+strings.Join(args, " "), []byte(out))
	}
}

func TestSchemaExplain(t *testing.T) {
	_, catalog := loadSchemas(t)
	for _, args := range [][]string{{"explain", "--json", "--list"}, {"explain", "--json", "tcp.retransmits", "cross."}} {
		status, out, errOut := runPcapArgs(t, nil, false, args...)
		if status != exitOK {
			t.Fatalf("%v: exit %d: %s", args, status, errOut)
		}
		validate(t, catalog, strings.Join(args, " "), []byte(out))
	}
}

// TestSchemaRejects: the validation above can fail. A field the schema
// does not document, a severity outside the enum, a missing required
// field and a count below zero are each refused.
func TestSchemaRejects(t *testing.T) {
	dir := t.TempDir()
	_, out, _ := runPcapArgs(t, nil, false, "pcap", "analyze", "--json", "--fail-on", "none", scenarioFile(t, dir))
	s, _ := loadSchemas(t)
	for name, edit := range map[string]func(m map[string]any){
		"undocumented top-level field": func(m map[string]any) { m["extra"] = 1 },
		"undocumented finding field": func(m map[string]any) {
			m["findings"].([]any)[0].(map[string]any)["score"] = 0.5
		},
		"undocumented capture total": func(m map[string]any) {
			m["captures"].([]any)[0].(map[string]any)["totals"].(map[string]any)["jitter_ms"] = 1
		},
		"severity outside the enum": func(m map[string]any) { m["findings"].([]any)[0].(map[string]any)["severity"] = "fatal" },
		"missing required field":    func(m map[string]any) { delete(m, "schema_version") },
		"negative count":            func(m map[string]any) { m["captures"].([]any)[0].(map[string]any)["packets"] = -1 },
		"time that is not a time":   func(m map[string]any) { m["started_at"] = "yesterday" },
		"null list":                 func(m map[string]any) { m["warnings"] = nil },
	} {
		var m map[string]any
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatal(err)
		}
		edit(m)
		b, _ := json.Marshal(m)
		doc, _ := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err := s.Validate(doc); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
