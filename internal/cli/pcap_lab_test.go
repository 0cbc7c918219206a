package cli

import (
	"encoding/json"
	"testing"

	"github.com/netdx/netdx/internal/netlab"
)

// labTotals are the capture totals scripts rely on, read from the JSON
// document by name.
type labTotals struct {
	RetransmittedPackets    int64 `json:"retransmitted_packets"`
	SpuriousRetransmissions int64 `json:"spurious_retransmissions"`
	ReorderedPackets        int64 `json:"reordered_packets"`
	LostSegments            int64 `json:"lost_segments"`
}

// TestPcapLabLossJSON records a transfer through a router that drops 2 %
// of the data at the sender's and the receiver's interface, runs
// `netdx pcap analyze --json` on both files and checks the JSON totals
// against the sender kernel's counters and the relay's drops (the same
// truth as capture's lab tests).
func TestPcapLabLossJSON(t *testing.T) {
	r := netlab.RecordTransfer(t, netlab.TransferSpec{Impair: netlab.Impairment{Loss: 0.02, Seed: 11},
		Size: 8 << 20, Port: 5311, Dir: t.TempDir()})
	code, out, errs := runPcapArgs(t, nil, false, "pcap", "analyze", "--json", "--fail-on", "none", r.SenderPcap, r.ReceiverPcap)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var doc struct {
		Captures []struct {
			File   string    `json:"file"`
			Totals labTotals `json:"totals"`
		} `json:"captures"`
		Findings []struct {
			ID string `json:"id"`
		} `json:"findings"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("not JSON (%v): %s", err, out)
	}
	if len(doc.Captures) != 2 {
		t.Fatalf("%d captures in the document, want 2", len(doc.Captures))
	}
	snd, rcv := doc.Captures[0].Totals, doc.Captures[1].Totals
	retrans := r.Kernel["Tcp.RetransSegs"]
	dups := r.ReceiverKernel["TcpExt.TCPDSACKOldSent"] + r.ReceiverKernel["TcpExt.TCPDSACKOfoSent"]
	droppedRetrans := int64(r.Relay.Dropped - r.Relay.DroppedOriginals)
	t.Logf("truth: RetransSegs %d, relay %+v, receiver D-SACKs %d; sender %+v; receiver %+v", retrans, r.Relay, dups, snd, rcv)
	for _, c := range []struct {
		what       string
		got, truth int64
	}{
		{"sender retransmitted_packets vs RetransSegs", snd.RetransmittedPackets, retrans},
		{"sender lost_segments", snd.LostSegments, 0},
		{"sender reordered_packets", snd.ReorderedPackets, 0},
		{"sender spurious_retransmissions vs receiver's D-SACKs", snd.SpuriousRetransmissions, dups},
		{"receiver lost_segments vs originals dropped", rcv.LostSegments, int64(r.Relay.DroppedOriginals)},
		{"receiver retransmitted_packets vs RetransSegs less retransmissions dropped", rcv.RetransmittedPackets, retrans - droppedRetrans},
		{"receiver reordered_packets vs data reordered before the relay", rcv.ReorderedPackets, int64(r.Relay.ArrivedLate)},
		{"receiver spurious_retransmissions vs receiver's D-SACKs", rcv.SpuriousRetransmissions, dups},
	} {
		if tol := c.truth * 5 / 100; c.got < c.truth-tol || c.got > c.truth+tol {
			t.Errorf("%s: JSON %d, truth %d (allowed ±%d)", c.what, c.got, c.truth, tol)
		}
	}
	ids := map[string]bool{}
	for _, f := range doc.Findings {
		ids[f.ID] = true
	}
	for _, id := range []string{"capture.retransmissions", "capture.upstream_loss"} {
		if !ids[id] {
			t.Errorf("finding %s missing; got %v", id, ids)
		}
	}
}
