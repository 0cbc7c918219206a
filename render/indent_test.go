package render

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// indentLikeEncoder is what JSON.Render wrote before writeIndented: a
// json.Encoder's indentation of the compact document, and its newline.
func indentLikeEncoder(t testing.TB, compact []byte) []byte {
	t.Helper()
	var want bytes.Buffer
	if err := json.Indent(&want, compact, "", "  "); err != nil {
		t.Fatal(err)
	}
	want.WriteByte('\n')
	return want.Bytes()
}

func checkIndent(t *testing.T, name string, compact []byte) {
	t.Helper()
	var got bytes.Buffer
	if err := writeIndented(&got, compact); err != nil {
		t.Fatal(err)
	}
	if want := indentLikeEncoder(t, compact); !bytes.Equal(got.Bytes(), want) {
		i := 0
		for i < len(want) && i < got.Len() && want[i] == got.Bytes()[i] {
			i++
		}
		t.Fatalf("%s: indented output differs from json.Indent at byte %d:\ngot  %q\nwant %q", name, i,
			got.Bytes()[i:min(i+80, got.Len())], want[i:min(i+80, len(want))])
	}
}

// TestWriteIndentedMatchesJSONIndent checks the indenter against
// encoding/json on every JSON document in the repository's testdata (the
// report goldens among them) and on strings that stress its shortcuts:
// escaped quotes and backslashes, structural bytes inside strings, empty
// containers, and documents larger than one output chunk.
func TestWriteIndentedMatchesJSONIndent(t *testing.T) {
	cases := map[string]string{
		"escapes":    `{"a\"b":"c\\\\","d":"\\\"","e":"x\\\\\\\"y","f":"{[,:]}"}`,
		"empty":      `{"a":[],"b":{},"c":[{}],"d":[[]],"e":""}`,
		"scalars":    `[1,-2.5e-7,true,false,null,"\u003c\u2028"]`,
		"bare":       `"just a string"`,
		"number":     `42`,
		"deep":       strings.Repeat(`[{"k":`, 40) + `1` + strings.Repeat(`}]`, 40),
		"long":       `[` + strings.Repeat(`{"name":"x","values":[1,2,3]},`, 4000) + `{}]`,
		"escape-end": `["\\","\\\\",""]`,
	}
	for name, doc := range cases {
		checkIndent(t, name, []byte(doc))
	}
	root := filepath.Join("..")
	n := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".json") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil || !json.Valid(b) {
			return err
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, b); err != nil {
			return err
		}
		checkIndent(t, path, compact.Bytes())
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 20 {
		t.Fatalf("only %d JSON files found under %s; the walk is looking in the wrong place", n, root)
	}
}

func FuzzWriteIndented(f *testing.F) {
	f.Add([]byte(`{"a":[1,{"b":"c\"d"}],"e":{}}`))
	f.Add([]byte(`["\\",""]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, b); err != nil {
			t.Fatal(err)
		}
		checkIndent(t, "fuzz input", compact.Bytes())
	})
}
