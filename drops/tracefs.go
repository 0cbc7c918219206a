package drops

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// tracefsMounts are where tracefs is usually mounted, the first one
// since Linux 4.1.
var tracefsMounts = []string{"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}

// tracepoint is the kfree_skb tracepoint as tracefs describes it.
type tracepoint struct {
	dir    string // .../events/skb/kfree_skb
	id     uint64
	format *Format
}

// errNoTracefs means no tracefs mount holds the kfree_skb event.
var errNoTracefs = errors.New("tracefs is not mounted")

// openTracepoint reads the id and format of skb/kfree_skb under the
// tracefs mount root, or the usual mounts when root is "".
func openTracepoint(root string) (*tracepoint, error) {
	roots := tracefsMounts
	if root != "" {
		roots = []string{root}
	}
	var firstErr error
	for _, r := range roots {
		dir := filepath.Join(r, "events", "skb", "kfree_skb")
		tp, err := readTracepoint(dir)
		if err == nil {
			return tp, nil
		}
		if firstErr == nil || (errors.Is(firstErr, fs.ErrNotExist) && !errors.Is(err, fs.ErrNotExist)) {
			firstErr = err
		}
	}
	if errors.Is(firstErr, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w at %s: %w", errNoTracefs, strings.Join(roots, " or "), firstErr)
	}
	return nil, firstErr
}

func readTracepoint(dir string) (*tracepoint, error) {
	b, err := os.ReadFile(filepath.Join(dir, "id"))
	if err != nil {
		return nil, err
	}
	id, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%s/id: %w", dir, err)
	}
	f, err := os.Open(filepath.Join(dir, "format"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	format, err := ParseFormat(f)
	if err != nil {
		return nil, fmt.Errorf("%s/format: %w", dir, err)
	}
	return &tracepoint{dir: dir, id: id, format: format}, nil
}
