package main

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// TestGeneratedDocsAreCurrent fails when a generated document (the
// finding catalog, the shipped alerts, the metric tables, a JSON Schema)
// no longer matches the code; `make docs` regenerates them.
func TestGeneratedDocsAreCurrent(t *testing.T) {
	root := filepath.Join("..", "..")
	docs, err := generate(root)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for p := range docs {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		got, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("%v; run `make docs`", err)
			continue
		}
		if !bytes.Equal(got, docs[p]) {
			t.Errorf("%s is stale; run `make docs` and commit the result", p)
		}
	}
}
