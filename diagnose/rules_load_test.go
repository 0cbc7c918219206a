package diagnose

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestEveryRegisterFunctionIsLoaded parses the package and requires
// every register<File> function to be called by loadRules, in file order:
// a rule whose function is missing from the list would never run.
func TestEveryRegisterFunctionIsLoaded(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	fset := token.NewFileSet()
	var declared, listed []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv == nil && strings.HasPrefix(fn.Name.Name, "register") && fn.Name.Name != "register" {
				declared = append(declared, fn.Name.Name)
			}
			gd, ok := d.(*ast.GenDecl)
			if !ok {
				continue
			}
			for _, spec := range gd.Specs {
				vs, ok := spec.(*ast.ValueSpec)
				if !ok || len(vs.Names) != 1 || vs.Names[0].Name != "loadRules" {
					continue
				}
				ast.Inspect(vs, func(n ast.Node) bool {
					if id, ok := n.(*ast.Ident); ok && strings.HasPrefix(id.Name, "register") {
						listed = append(listed, id.Name)
					}
					return true
				})
			}
		}
	}
	if len(declared) == 0 {
		t.Fatal("no register functions found: the test looks in the wrong place")
	}
	if !slices.Equal(listed, declared) {
		t.Errorf("loadRules calls\n%v\nbut the files declare, in order,\n%v", listed, declared)
	}
}
