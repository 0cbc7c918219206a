package diagnose

import (
	"go/ast"
	"go/parser"
	"go/token"
	"math"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// notThresholds are the numeric constants of rule files that are not
// thresholds a catalog sentence states, and why.
var notThresholds = map[string]string{
	"minEvents":          "the shared gate; each sentence that uses it says so",
	"sinceBootMin":       "the shared since-boot gate; likewise",
	"forCounter":         "how long an alert holds (docs/prometheus.md)",
	"forLevel":           "how long an alert holds (docs/prometheus.md)",
	"capMaxFlowFindings": "how many flows a finding names, not when it fires",
	"mptcpMaxListed":     "how many connections a finding lists",
	"connListed":         "how many connections a finding lists",
	"dropObjects":        "how many sockets, interfaces or rules a drop finding lists",
	"zSignificant":       "a statistical constant: the sentences speak of 95% and 99% confidence",
	"zStrong":            "likewise",
}

// TestThresholdsStateTheirConstants ties the catalog's prose to the
// rules' numbers: every threshold constant of a rule file must appear,
// in the form a reader would write it (10, 1%, 5 ms, 1 MiB), in the
// threshold sentence of an entry that file declares. Changing a constant
// without its sentence fails here.
func TestThresholdsStateTheirConstants(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	// built are the constants a sentence is built from (fmt.Sprintf's
	// arguments, in any rule file): stated by construction.
	built := map[string]bool{}
	type ruleFile struct {
		name      string
		consts    map[string]float64
		order     []string
		sentences []string
	}
	var rfs []ruleFile
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		consts := map[string]float64{}
		var order []string
		var sentences []string
		ast.Inspect(f, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.GenDecl:
				if x.Tok != token.CONST {
					return true
				}
				for _, spec := range x.Specs {
					vs := spec.(*ast.ValueSpec)
					for i, id := range vs.Names {
						if i < len(vs.Values) {
							if v, ok := constValue(vs.Values[i], consts); ok {
								consts[id.Name] = v
								order = append(order, id.Name)
							}
						}
					}
				}
			case *ast.KeyValueExpr:
				if k, ok := x.Key.(*ast.Ident); ok && k.Name == "Thresholds" {
					if s, ok := concat(x.Value); ok {
						sentences = append(sentences, s)
					}
					if call, ok := x.Value.(*ast.CallExpr); ok {
						for _, a := range call.Args[1:] {
							ast.Inspect(a, func(n ast.Node) bool {
								if id, ok := n.(*ast.Ident); ok {
									built[id.Name] = true
								}
								return true
							})
						}
					}
				}
			}
			return true
		})
		rfs = append(rfs, ruleFile{name, consts, order, sentences})
	}
	for _, rf := range rfs {
		if len(rf.sentences) == 0 {
			continue // no catalog entry: helpers, statistics, alert timing
		}
		text := strings.Join(rf.sentences, " ")
		for _, c := range rf.order {
			if _, skip := notThresholds[c]; skip || built[c] {
				continue
			}
			forms := spellings(c, rf.consts[c])
			found := false
			for _, form := range forms {
				if regexp.MustCompile(`(^|[^0-9.])` + regexp.QuoteMeta(form) + `($|[^0-9])`).MatchString(text) {
					found = true
					break
				}
			}
			if !found {
				t.Errorf("%s: %s = %v appears in no threshold sentence of the file (looked for %q)", rf.name, c, rf.consts[c], forms)
			}
		}
	}
}

// spellings are the ways a sentence writes a constant's value: a share
// as a percentage, a duration in its unit, a count as it is, a byte
// count in MiB.
func spellings(name string, v float64) []string {
	g := func(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }
	switch {
	case strings.Contains(strings.ToLower(name), "share") || strings.HasSuffix(name, "Fill") ||
		strings.HasSuffix(name, "Warn") && v < 1 || strings.HasSuffix(name, "Crit") && v < 1:
		return []string{g(math.Round(v*100000)/1000) + "%"}
	case strings.Contains(name, "Delay") || strings.HasSuffix(name, "Min") && v >= float64(time.Millisecond) && v < 1e12:
		d := time.Duration(v)
		return []string{g(float64(d)/float64(time.Millisecond)) + " ms", g(float64(d)/float64(time.Millisecond)) + "ms",
			g(d.Seconds()) + " s"}
	case strings.HasSuffix(name, "Bytes"):
		return []string{g(v/(1<<20)) + " MiB", g(v)}
	}
	return []string{g(v)}
}

// constValue evaluates the constant expressions rule files use: numbers,
// products with time units, shifts, and other constants of the file.
func constValue(e ast.Expr, known map[string]float64) (float64, bool) {
	switch x := e.(type) {
	case *ast.BasicLit:
		if x.Kind != token.INT && x.Kind != token.FLOAT {
			return 0, false
		}
		v, err := strconv.ParseFloat(strings.ReplaceAll(x.Value, "_", ""), 64)
		return v, err == nil
	case *ast.Ident:
		v, ok := known[x.Name]
		return v, ok
	case *ast.SelectorExpr:
		units := map[string]time.Duration{"Nanosecond": time.Nanosecond, "Microsecond": time.Microsecond,
			"Millisecond": time.Millisecond, "Second": time.Second, "Minute": time.Minute}
		if p, ok := x.X.(*ast.Ident); ok && p.Name == "time" {
			u, ok := units[x.Sel.Name]
			return float64(u), ok
		}
	case *ast.ParenExpr:
		return constValue(x.X, known)
	case *ast.BinaryExpr:
		a, ok1 := constValue(x.X, known)
		b, ok2 := constValue(x.Y, known)
		if !ok1 || !ok2 {
			return 0, false
		}
		switch x.Op {
		case token.MUL:
			return a * b, true
		case token.SHL:
			return a * math.Pow(2, b), true
		}
	}
	return 0, false
}

// concat is a string literal or a sum of them.
func concat(e ast.Expr) (string, bool) {
	switch x := e.(type) {
	case *ast.BasicLit:
		return stringLit(x)
	case *ast.BinaryExpr:
		if x.Op != token.ADD {
			return "", false
		}
		a, ok1 := concat(x.X)
		b, ok2 := concat(x.Y)
		return a + b, ok1 && ok2
	case *ast.CallExpr:
		// fmt.Sprintf(format, constants...): the sentence is built from
		// the constants themselves.
		if len(x.Args) > 0 {
			return concat(x.Args[0])
		}
	}
	return "", false
}
