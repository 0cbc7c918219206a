package collectors

import (
	"context"
	"testing"
	"time"
)

// BenchmarkSnapshot takes one full snapshot of this host: every collector,
// live netlink, ethtool and sock_diag, the /proc/*/fd owner scan.
func BenchmarkSnapshot(b *testing.B) {
	src, err := Open(Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	ctx := context.Background()
	for b.Loop() {
		Take(ctx, src, time.Now)
	}
}

// BenchmarkSnapshotReplay parses the recorded 6.18 host: the parsing cost
// without the kernel's.
func BenchmarkSnapshotReplay(b *testing.B) {
	src, err := Replay("testdata/hosts/linux-6.18")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for b.Loop() {
		Take(ctx, src, time.Now)
	}
}
