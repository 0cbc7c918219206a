package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestGeneratedDocsAreCurrent fails when a generated document no longer
// matches the catalog or the metric definitions; `make docs` regenerates
// them.
func TestGeneratedDocsAreCurrent(t *testing.T) {
	for _, o := range outputs {
		var want bytes.Buffer
		if err := o.write("../..", &want); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join("../..", o.path))
		if err != nil {
			t.Fatalf("%v; run `make docs`", err)
		}
		if !bytes.Equal(got, want.Bytes()) {
			t.Errorf("%s is stale; run `make docs` and commit the result", o.path)
		}
	}
}
