package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/netdx/netdx/capture/capturetest"
)

// Capture is a generated capture the pcap comparisons read:
// capturetest.Bulk's bulk transfers, reordering and retransmission in
// every flow, the same bytes for the same parameters.
type Capture struct {
	Label   string // how the document names it
	Flows   int
	Snap    int
	Packets uint64
	Path    string
	Size    int64
}

func (c *Capture) file() string {
	return fmt.Sprintf("bulk-%dflows-snap%d-%dpackets.pcap", c.Flows, c.Snap, c.Packets)
}

// ensure writes the capture into dir unless a file of that name is
// already there (the name holds every parameter).
func (c *Capture) ensure(dir string) error {
	c.Path = filepath.Join(dir, c.file())
	if st, err := os.Stat(c.Path); err == nil && st.Size() > 24 {
		c.Size = st.Size()
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	g, err := capturetest.NewBulk(c.Flows, c.Snap)
	if err != nil {
		return err
	}
	g.MaxPackets = c.Packets
	tmp, err := os.CreateTemp(dir, ".partial-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	w := bufio.NewWriterSize(tmp, 1<<20)
	n, err := io.Copy(w, g)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = tmp.Chmod(0o644) // CreateTemp makes it 0600
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", c.Path, err)
	}
	c.Size = n
	return os.Rename(tmp.Name(), c.Path)
}
