package capture

import (
	"reflect"
	"testing"

	"github.com/gopacket/gopacket/layers"

	ct "github.com/netdx/netdx/capture/capturetest"
)

// recordedSums adds up one recorded direction by kind, in the counters'
// units.
type recordedSums struct {
	timeout, fast, spurious, reordered, other, dups uint64 // segments
	lostBytes, notCapturedBytes                     uint64
}

func sumRecorded(d *RecordedDirection) recordedSums {
	var s recordedSums
	for _, seg := range d.Segments {
		switch seg.Cause {
		case SegTimeout:
			s.timeout += seg.Segs
		case SegFast:
			s.fast += seg.Segs
		}
		switch seg.Kind {
		case SegSpurious:
			s.spurious += seg.Segs
		case SegReordered:
			s.reordered += seg.Segs
		case SegOther:
			s.other += seg.Segs
		case SegCaptureDup:
			s.dups += seg.Segs
		}
	}
	for _, g := range d.Lost {
		s.lostBytes += uint64(g.End - g.Start)
	}
	for _, g := range d.NotCaptured {
		s.notCapturedBytes += uint64(g.End - g.Start)
	}
	return s
}

// checkRecording checks that a recording's segments and ranges add up
// to its flow's counters, as Recording documents, and that every range
// is well formed.
func checkRecording(t testing.TB, rec *Recording) {
	t.Helper()
	for i := range rec.Dir {
		d, st := &rec.Dir[i], &rec.Flow.Dir[i]
		s := sumRecorded(d)
		var reordered uint64
		if st.Reorder != nil {
			reordered = st.Reorder.Reordered
		}
		R := &st.Retransmission
		if s.timeout != R.Timeout || s.fast != R.Fast || s.spurious != R.Spurious || s.reordered != reordered ||
			s.other != st.Decided.Undecided+st.LateDuplicates || s.dups > st.Duplicates ||
			s.lostBytes != st.LostBytes || s.notCapturedBytes != st.NotCapturedBytes {
			t.Fatalf("%v > %v dir %d: recorded %+v; counted timeout %d fast %d spurious %d reordered %d undecided %d late dups %d dups %d lost %d B not captured %d B",
				rec.Flow.Client, rec.Flow.Server, i, s, R.Timeout, R.Fast, R.Spurious, reordered, st.Decided.Undecided,
				st.LateDuplicates, st.Duplicates, st.LostBytes, st.NotCapturedBytes)
		}
		// Times may lie before the flow's first packet: captures are not
		// always in time order.
		for _, seg := range d.Segments {
			if seg.Segs == 0 {
				t.Fatalf("segment %+v counts as none", seg)
			}
		}
		for _, gs := range [][]RecordedGap{d.Lost, d.NotCaptured} {
			for _, g := range gs {
				if g.End <= g.Start {
					t.Fatalf("empty or reversed range %+v", g)
				}
			}
		}
	}
}

// recordScenario is KindsScenario as a pcap file.
func recordScenario(t testing.TB) []byte {
	g := ct.NewGen(t, layers.LinkTypeEthernet)
	ct.KindsScenario(ct.NewConv(g, "198.18.0.1:40000", "198.18.1.1:443"))
	return g.Pcap()
}

// TestRecordTruth: the recording of a capture with known fast, timeout
// and spurious retransmissions, reordering, loss and a capture duplicate
// holds exactly those segments, adds up to the counts, and recording
// changes nothing in the analysis.
func TestRecordTruth(t *testing.T) {
	data := recordScenario(t)
	plain := analyzeBytes(t, data, Options{})
	fl := onlyTCP(t, plain)
	res := analyzeBytes(t, data, Options{Record: []FlowSpec{{A: fl.Server, B: fl.Client}}})
	if len(res.Recorded) != 1 {
		t.Fatalf("%d recordings, want 1", len(res.Recorded))
	}
	rec := res.Recorded[0]
	checkRecording(t, rec)
	if !reflect.DeepEqual(plain.Flows, res.Flows) || !reflect.DeepEqual(plain.Totals, res.Totals) {
		t.Fatal("recording changed the analysis")
	}
	if !reflect.DeepEqual(rec.Flow, fl) {
		t.Fatalf("recorded flow\n%+v\nwant\n%+v", rec.Flow, fl)
	}
	// KindsScenario's truth.
	s := sumRecorded(&rec.Dir[0])
	want := recordedSums{timeout: 2, fast: 3, spurious: 2, reordered: 3, dups: 1, lostBytes: 3000}
	if s != want {
		t.Fatalf("recorded %+v, want %+v", s, want)
	}
	kinds := map[SegmentKind]int{}
	for _, seg := range rec.Dir[0].Segments {
		kinds[seg.Kind]++
	}
	// Originals in order: 200 - 2 lost - 3 reordered, then 3 of 4.
	if kinds[SegOriginal] != 200-2-3+3 || kinds[SegTimeout] != 1 || kinds[SegFast] != 2 {
		t.Fatalf("segments by kind %v", kinds)
	}
	dsacks, sacks := 0, 0
	for _, a := range rec.Dir[0].Acks {
		dsacks += len(a.DSACK)
		sacks += len(a.SACK)
	}
	if uint64(dsacks) != rec.Flow.Dir[1].DSACKs || dsacks == 0 || sacks == 0 {
		t.Fatalf("%d D-SACK and %d SACK blocks recorded, the server sent %d D-SACKs", dsacks, sacks, rec.Flow.Dir[1].DSACKs)
	}
	if len(rec.Dir[1].Segments) != 0 || len(rec.Dir[0].Acks) == 0 {
		t.Fatalf("server segments %d, acks of the client's data %d", len(rec.Dir[1].Segments), len(rec.Dir[0].Acks))
	}
	if other := analyzeBytes(t, data, Options{Record: []FlowSpec{{A: fl.Client, B: fl.Client}}}); len(other.Recorded) != 0 {
		t.Fatal("a flow not named was recorded")
	}
}
