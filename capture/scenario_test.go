package capture

import (
	"bytes"
	"context"
	"testing"
)

func analyzeBytes(t testing.TB, data []byte, o Options) *Result {
	t.Helper()
	res, err := Analyze(context.Background(), bytes.NewReader(data), o)
	if err != nil {
		t.Fatalf("Analyze: %v", err)
	}
	return res
}

// tcpFlow returns the only TCP flow of a result.
func onlyTCP(t testing.TB, res *Result) *Flow {
	t.Helper()
	var out *Flow
	for _, f := range res.Flows {
		if f.Proto == "tcp" {
			if out != nil {
				t.Fatalf("more than one TCP flow: %v and %v", out.Client, f.Client)
			}
			out = f
		}
	}
	if out == nil {
		t.Fatal("no TCP flow")
	}
	return out
}

type want struct {
	retrans, spurious, reordered, lost, timeout, fast, dups, notCaptured uint64
}

func checkDir(t testing.TB, name string, d *Direction, w want) {
	t.Helper()
	var reordered uint64
	if d.Reorder != nil {
		reordered = d.Reorder.Reordered
	}
	got := want{d.Retransmission.Packets, d.Retransmission.Spurious, reordered, d.LostSegments,
		d.Retransmission.Timeout, d.Retransmission.Fast, d.Duplicates, d.NotCapturedSegments}
	if got != w {
		t.Errorf("%s:\n got  retrans=%d spurious=%d reordered=%d lost=%d timeout=%d fast=%d dups=%d notcaptured=%d\n want retrans=%d spurious=%d reordered=%d lost=%d timeout=%d fast=%d dups=%d notcaptured=%d",
			name, got.retrans, got.spurious, got.reordered, got.lost, got.timeout, got.fast, got.dups, got.notCaptured,
			w.retrans, w.spurious, w.reordered, w.lost, w.timeout, w.fast, w.dups, w.notCaptured)
	}
}
