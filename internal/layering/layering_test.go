// Package layering holds one test: the dependency direction of
// docs/development.md, checked on the source.
package layering

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/netdx/netdx/"

// forbidden are the imports each package must not have (STYLE.md §2):
// cmd → cli → {render, diagnose} → report → engines; the engines import
// none of the layers above them nor each other; only render presents,
// only diagnose judges.
var forbidden = map[string][]string{
	"report":          {"diagnose", "render", "internal/cli", "github.com/spf13/cobra", "github.com/charmbracelet/lipgloss"},
	"diagnose":        {"render", "internal/cli", "github.com/spf13/cobra", "github.com/charmbracelet/lipgloss"},
	"render":          {"diagnose", "internal/cli", "github.com/spf13/cobra"},
	"render/metrics":  {"diagnose", "internal/cli", "github.com/spf13/cobra"},
	"internal/promql": {"render", "diagnose", "report"},
	// the text format knows nothing of netdx
	"internal/promtext": {"report", "diagnose", "render", "internal/cli", "internal/promql", "collectors", "probes", "capture", "drops"},
	"collectors":        {"report", "diagnose", "render", "probes", "capture", "drops", "github.com/spf13/cobra", "github.com/charmbracelet/lipgloss"},
	"probes":            {"report", "diagnose", "render", "collectors", "capture", "drops", "github.com/spf13/cobra", "github.com/charmbracelet/lipgloss"},
	"capture":           {"report", "diagnose", "render", "collectors", "probes", "drops", "github.com/spf13/cobra", "github.com/charmbracelet/lipgloss"},
	"drops":             {"report", "diagnose", "render", "collectors", "probes", "capture", "github.com/spf13/cobra", "github.com/charmbracelet/lipgloss"},
}

func TestLayering(t *testing.T) {
	root := filepath.Join("..", "..")
	for pkg, bad := range forbidden {
		files, err := filepath.Glob(filepath.Join(root, pkg, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		if len(files) == 0 {
			if _, err := os.Stat(filepath.Join(root, pkg)); err != nil {
				continue // a package not on this branch yet
			}
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range af.Imports {
				path := strings.Trim(imp.Path.Value, `"`)
				for _, b := range bad {
					if path == b || path == module+b || strings.HasPrefix(path, module+b+"/") || strings.HasPrefix(path, b+"/") {
						t.Errorf("%s imports %s: %s must not (docs/development.md)", f, path, pkg)
					}
				}
			}
		}
	}
	// cmd/netdx is main.go alone.
	files, _ := filepath.Glob(filepath.Join(root, "cmd", "netdx", "*.go"))
	if len(files) != 1 || filepath.Base(files[0]) != "main.go" {
		t.Errorf("cmd/netdx holds %v, want main.go only", files)
	}
}
