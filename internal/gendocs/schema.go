package main

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/netdx/netdx/probes"
	"github.com/netdx/netdx/report"
)

// The JSON Schemas under docs/schema are generated from the report
// package's JSON types: reflection gives the JSON names, types and which
// fields are optional (omitempty); each field's doc comment is its
// description; enums come from the constants the code uses. A field
// without a doc comment stops generation, so every field of the contract
// is documented. Objects are closed (additionalProperties: false): an
// output field the schema does not describe fails the validation tests.

const draft = "https://json-schema.org/draft/2020-12/schema"

// enums are the closed value sets of string fields, by Go type and field.
var enums = map[string][]string{
	"Report.Command":            report.Commands,
	"Skip.Reason":               report.SkipReasons,
	"Check.Status":              report.CheckStatuses,
	"SourceStatus.Status":       report.SourceStatuses,
	"Trace.EndReason":           {string(probes.EndReached), string(probes.EndMaxTTL), string(probes.EndUnreachable), string(probes.EndNoRounds)},
	"TraceTarget.Family":        {"ipv4", "ipv6"},
	"TraceProbe.Method":         {string(probes.ICMP), string(probes.UDP), string(probes.TCP)},
	"DiagSysctl.Scope":          {"netns", "host"},
	"DiagInterface.StatsSource": {"netlink", "/proc/net/dev"},
	"Capture.Format":            {"pcap", "pcapng"},
	"CaptureFlow.Protocol":      {"tcp", "udp"},
}

// consts and patterns pin the identifying fields.
var (
	consts = map[string]string{
		"Report.Schema":  report.SchemaURL,
		"Catalog.Schema": report.CatalogSchemaURL,
	}
	patterns = map[string]string{
		"Report.SchemaVersion":  `^1\.[0-9]+$`,
		"Catalog.SchemaVersion": `^1\.[0-9]+$`,
	}
)

// schemaGen builds one schema document.
type schemaGen struct {
	docs    *typeDocs
	defs    map[string]*node
	missing []string
}

// typeDocs holds the doc comments of the report package's types and
// their fields.
type typeDocs struct {
	types  map[string]string
	fields map[string]map[string]string
}

// readDocs parses the Go files of dir for type and field comments.
func readDocs(dir string) (*typeDocs, error) {
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	d := &typeDocs{types: map[string]string{}, fields: map[string]map[string]string{}}
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			return nil, err
		}
		for _, decl := range f.Decls {
			g, ok := decl.(*ast.GenDecl)
			if !ok || g.Tok != token.TYPE {
				continue
			}
			for _, spec := range g.Specs {
				ts := spec.(*ast.TypeSpec)
				doc := ts.Doc
				if doc == nil && len(g.Specs) == 1 {
					doc = g.Doc
				}
				d.types[ts.Name.Name] = text(doc)
				st, ok := ts.Type.(*ast.StructType)
				if !ok {
					continue
				}
				fields := map[string]string{}
				for _, fl := range st.Fields.List {
					c := text(fl.Doc)
					if c == "" {
						c = text(fl.Comment)
					}
					for _, n := range fl.Names {
						fields[n.Name] = c
					}
				}
				d.fields[ts.Name.Name] = fields
			}
		}
	}
	return d, nil
}

// text is a comment as one paragraph.
func text(c *ast.CommentGroup) string {
	if c == nil {
		return ""
	}
	return strings.Join(strings.Fields(c.Text()), " ")
}

// node is one JSON Schema; its fields are in the order people read them.
type node struct {
	Schema               string           `json:"$schema,omitempty"`
	ID                   string           `json:"$id,omitempty"`
	Title                string           `json:"title,omitempty"`
	Description          string           `json:"description,omitempty"`
	Ref                  string           `json:"$ref,omitempty"`
	Type                 string           `json:"type,omitempty"`
	Format               string           `json:"format,omitempty"`
	Const                string           `json:"const,omitempty"`
	Pattern              string           `json:"pattern,omitempty"`
	Enum                 []string         `json:"enum,omitempty"`
	Minimum              *int             `json:"minimum,omitempty"`
	Items                *node            `json:"items,omitempty"`
	Properties           map[string]*node `json:"properties,omitempty"`
	Required             []string         `json:"required,omitempty"`
	AdditionalProperties any              `json:"additionalProperties,omitempty"`
	Defs                 map[string]*node `json:"$defs,omitempty"`
}

var (
	timeType     = reflect.TypeFor[time.Time]()
	severityType = reflect.TypeFor[report.Severity]()
	sourceType   = reflect.TypeFor[report.Source]()
	layerType    = reflect.TypeFor[report.Layer]()
	zero         = 0
)

// schema is the schema of Go type t.
func (g *schemaGen) schema(t reflect.Type) *node {
	switch t {
	case timeType:
		return &node{Type: "string", Format: "date-time"}
	case severityType:
		return &node{Ref: "#/$defs/severity"}
	case sourceType:
		return &node{Ref: "#/$defs/source"}
	case layerType:
		return &node{Ref: "#/$defs/layer"}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.schema(t.Elem())
	case reflect.Struct:
		g.define(t)
		return &node{Ref: "#/$defs/" + t.Name()}
	case reflect.Slice:
		return &node{Type: "array", Items: g.schema(t.Elem())}
	case reflect.Map:
		return &node{Type: "object", AdditionalProperties: g.schema(t.Elem())}
	case reflect.String:
		return &node{Type: "string"}
	case reflect.Bool:
		return &node{Type: "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return &node{Type: "integer"}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return &node{Type: "integer", Minimum: &zero}
	case reflect.Float32, reflect.Float64:
		return &node{Type: "number"}
	}
	panic(fmt.Sprintf("gendocs: no schema for %s", t))
}

// define adds the definition of struct type t.
func (g *schemaGen) define(t reflect.Type) {
	if _, done := g.defs[t.Name()]; done {
		return
	}
	g.defs[t.Name()] = nil // recursion guard
	g.defs[t.Name()] = g.object(t)
}

// object is the closed object schema of struct type t.
func (g *schemaGen) object(t reflect.Type) *node {
	o := &node{Type: "object", Description: g.docs.types[t.Name()], Properties: map[string]*node{}, Required: []string{},
		AdditionalProperties: false}
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" || !sf.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = sf.Name
		}
		key := t.Name() + "." + sf.Name
		p := g.schema(sf.Type)
		p.Enum = enums[key]
		p.Const = consts[key]
		p.Pattern = patterns[key]
		doc := g.docs.fields[t.Name()][sf.Name]
		if doc == "" {
			g.missing = append(g.missing, key)
		}
		// The comment names the Go field; the schema names the JSON one.
		if rest, ok := strings.CutPrefix(doc, sf.Name+" "); ok {
			doc = name + " " + rest
		}
		p.Description = doc
		o.Properties[name] = p
		if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") {
			o.Required = append(o.Required, name)
		}
	}
	return o
}

// buildSchema is the schema document of root, identified by id.
func buildSchema(docs *typeDocs, root reflect.Type, id, title, about string) ([]byte, error) {
	g := &schemaGen{docs: docs, defs: map[string]*node{}}
	top := g.object(root)
	if len(g.missing) > 0 {
		sort.Strings(g.missing)
		return nil, fmt.Errorf("these report fields have no doc comment, which the JSON schema needs as their description: %s", strings.Join(g.missing, ", "))
	}
	var sevs []string
	for _, s := range report.Severities {
		sevs = append(sevs, s.String())
	}
	var srcs, layers []string
	for _, s := range report.Sources {
		srcs = append(srcs, string(s))
	}
	for _, l := range report.Layers {
		layers = append(layers, string(l))
	}
	g.defs["severity"] = &node{Type: "string", Enum: sevs, Description: "How bad a finding is, least to most severe."}
	g.defs["source"] = &node{Type: "string", Enum: srcs,
		Description: "Which view produced it: host (netdx diag), path (netdx trace, diag --trace), capture (netdx pcap analyze, diag --pcap), cross (the evidence of more than one)."}
	g.defs["layer"] = &node{Type: "string", Enum: layers, Description: "Where in the stack, in report order from the wire up."}
	top.Schema, top.ID, top.Title, top.Description, top.Defs = draft, id, title, about, g.defs
	b, err := json.MarshalIndent(top, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
