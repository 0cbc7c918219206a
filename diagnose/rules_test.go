package diagnose

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// TestRulesEmitTheirOwnIDs reads the rules' source: every finding ID a
// function writes (ID: "..." or .ID = "...") must be declared by each
// rule whose check reaches that function, and every string that looks
// like a finding ID ("tcp.retransmits", in a Related filter too) must be
// in the catalog. A rule that would emit an undeclared or misspelt ID
// fails here, not when a host first shows the problem.
func TestRulesEmitTheirOwnIDs(t *testing.T) {
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	type site struct {
		id  string
		pos token.Position
	}
	emits := map[string][]site{}   // function → IDs it writes
	calls := map[string][]string{} // function → functions it calls
	var literals []site            // every string literal shaped like an ID
	prefixes := map[string]bool{}
	for _, e := range Entries() {
		prefixes[strings.Split(e.ID, ".")[0]] = true
	}
	idShape := regexp.MustCompile(`^([a-z]+)\.[a-z0-9_]+$`)
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			fn := fd.Name.Name
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				switch x := n.(type) {
				case *ast.KeyValueExpr:
					if k, ok := x.Key.(*ast.Ident); ok && k.Name == "ID" {
						if id, ok := stringLit(x.Value); ok {
							emits[fn] = append(emits[fn], site{id, fset.Position(x.Pos())})
						}
					}
				case *ast.AssignStmt:
					for i, l := range x.Lhs {
						if sel, ok := l.(*ast.SelectorExpr); ok && sel.Sel.Name == "ID" && i < len(x.Rhs) {
							if id, ok := stringLit(x.Rhs[i]); ok {
								emits[fn] = append(emits[fn], site{id, fset.Position(x.Pos())})
							}
						}
					}
				case *ast.CallExpr:
					switch c := x.Fun.(type) {
					case *ast.Ident:
						calls[fn] = append(calls[fn], c.Name)
					case *ast.SelectorExpr:
						calls[fn] = append(calls[fn], c.Sel.Name)
					}
				case *ast.BasicLit:
					if s, ok := stringLit(x); ok {
						if m := idShape.FindStringSubmatch(s); m != nil && prefixes[m[1]] {
							literals = append(literals, site{s, fset.Position(x.Pos())})
						}
					}
				}
				return true
			})
		}
	}
	for _, l := range literals {
		if _, ok := Lookup(l.id); !ok {
			t.Errorf("%s: %q looks like a finding ID but is not in the catalog", l.pos, l.id)
		}
	}
	for _, r := range Rules() {
		check := any(r.Check)
		if r.Cross != nil {
			check = r.Cross
		}
		name := funcName(check)
		seen := map[string]bool{}
		var walk func(fn string)
		walk = func(fn string) {
			if seen[fn] {
				return
			}
			seen[fn] = true
			for _, s := range emits[fn] {
				if !r.ids[s.id] {
					t.Errorf("%s: rule %q (%s) can emit %s, which it does not declare", s.pos, r.Name, name, s.id)
				}
			}
			for _, c := range calls[fn] {
				walk(c)
			}
		}
		walk(name)
		if len(r.ids) == 0 {
			t.Errorf("rule %q declares no finding", r.Name)
		}
	}
}

func stringLit(e ast.Expr) (string, bool) {
	b, ok := e.(*ast.BasicLit)
	if !ok || b.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(b.Value)
	return s, err == nil
}

// funcName is the bare name of a package function value.
func funcName(fn any) string {
	full := runtime.FuncForPC(reflect.ValueOf(fn).Pointer()).Name()
	return full[strings.LastIndex(full, ".")+1:]
}
