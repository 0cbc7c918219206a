package main

import (
	"bytes"
	"os"
	"testing"

	"github.com/netdx/netdx/report"
)

// TestFindingsDocIsCurrent fails when docs/findings.md no longer matches the
// catalog; `make docs` regenerates it.
func TestFindingsDocIsCurrent(t *testing.T) {
	var want bytes.Buffer
	if err := writeFindings(&want, report.Entries()); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../docs/findings.md")
	if err != nil {
		t.Fatalf("%v; run `make docs`", err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatal("docs/findings.md is stale; run `make docs` and commit the result")
	}
}
