package collectors

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

// fake is a collector for schedule tests: fn fills the snapshot, after
// names its prerequisites.
type fake struct {
	name  string
	after []string
	fn    func(snap *Snapshot) error
}

func (f fake) Name() string    { return f.name }
func (f fake) After() []string { return f.after }
func (f fake) Collect(_ context.Context, _ *Sources, snap *Snapshot) error {
	return f.fn(snap)
}

// schedule runs cs the way Take runs the registered collectors.
func runSchedule(t *testing.T, cs ...Collector) *Snapshot {
	t.Helper()
	src := &Sources{ProcPath: t.TempDir()}
	src.fillDefaults()
	snap := &Snapshot{Taken: fixedNow()}
	newSchedule(context.Background(), src, snap, cs).run()
	return snap
}

// twoWorkers makes Take run two collectors at a time for one test.
func twoWorkers(t *testing.T) {
	old := runtime.GOMAXPROCS(2)
	t.Cleanup(func() { runtime.GOMAXPROCS(old) })
}

// TestScheduleOverlaps: collectors that do not depend on each other run at
// the same time, and the snapshot's skips and runs still follow the
// collectors' order, not the order they finished in.
func TestScheduleOverlaps(t *testing.T) {
	twoWorkers(t)
	started := make(chan struct{})
	// first waits until second has started, so it finishes last; it
	// would wait forever if they ran one after the other.
	first := fake{name: "first", fn: func(snap *Snapshot) error {
		select {
		case <-started:
		case <-time.After(10 * time.Second):
			return errors.New("second never started while first ran")
		}
		snap.Netstat = NetCounters{"Tcp": {"InSegs": 1}}
		snap.AddSkip("first's source", notOffered("absent"))
		return nil
	}}
	second := fake{name: "second", fn: func(snap *Snapshot) error {
		close(started)
		snap.Softnet = []SoftnetCPU{{}}
		snap.AddSkip("second's source", notOffered("absent"))
		return nil
	}}
	s := runSchedule(t, first, second)
	var got []string
	for _, r := range s.Runs {
		got = append(got, r.Collector)
		if r.Failed {
			t.Errorf("%s failed: %+v", r.Collector, s.Skipped)
		}
	}
	for _, sk := range s.Skipped {
		got = append(got, sk.Source)
	}
	if want := []string{"first", "second", "first's source", "second's source"}; !reflect.DeepEqual(got, want) {
		t.Errorf("runs and skips %q, want %q", got, want)
	}
	if s.Netstat == nil || s.Softnet == nil {
		t.Errorf("sections not kept: netstat %v softnet %v", s.Netstat, s.Softnet)
	}
}

// TestScheduleHandsOver: a dependent runs after its prerequisites and sees
// their sections, and no other: what it may read does not depend on what
// happened to finish first. A section it replaces is kept.
func TestScheduleHandsOver(t *testing.T) {
	twoWorkers(t)
	links := fake{name: "links", fn: func(snap *Snapshot) error {
		snap.Links = []Link{{Name: "eth0"}}
		return nil
	}}
	other := fake{name: "other", fn: func(snap *Snapshot) error {
		snap.Netstat = NetCounters{"Tcp": {"InSegs": 1}}
		return nil
	}}
	var saw []string
	dependent := fake{name: "dependent", after: []string{"links", "not registered"}, fn: func(snap *Snapshot) error {
		saw = append(saw, fmt.Sprintf("%d links, netstat %v", len(snap.Links), snap.Netstat != nil))
		ls := append([]Link(nil), snap.Links...)
		speed := int64(1000)
		ls[0].SpeedMbps = &speed
		snap.Links = ls
		return nil
	}}
	reader := fake{name: "reader", after: []string{"links"}, fn: func(snap *Snapshot) error {
		if len(snap.Links) != 1 {
			return fmt.Errorf("links %v", snap.Links)
		}
		return nil
	}}
	for range 20 {
		s := runSchedule(t, dependent, links, other, reader)
		if len(s.Links) != 1 || s.Links[0].SpeedMbps == nil || *s.Links[0].SpeedMbps != 1000 {
			t.Fatalf("links = %+v, want the dependent's copy", s.Links)
		}
		if s.Netstat == nil || len(s.Skipped) > 0 {
			t.Fatalf("netstat %v, skipped %+v", s.Netstat, s.Skipped)
		}
	}
	for _, v := range saw {
		if v != "1 links, netstat false" {
			t.Fatalf("dependent saw %s, want links' section only", v)
		}
	}
}

// TestScheduleConflicts: two collectors setting one section, or waiting
// for each other, are programming errors, caught on the first run.
func TestScheduleConflicts(t *testing.T) {
	set := func(name string, after ...string) fake {
		return fake{name: name, after: after, fn: func(snap *Snapshot) error {
			snap.Qdiscs = []Qdisc{{Iface: name}}
			return nil
		}}
	}
	for name, cs := range map[string][]Collector{
		"set or replaced": {set("a"), set("b")},
		"replaced":        {set("a"), set("b", "a"), set("c", "a")},
		"wait for each":   {set("a", "b"), set("b", "a")},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if p := recover(); p == nil || !strings.Contains(fmt.Sprint(p), name) {
					t.Errorf("panic %v, want one saying %q", p, name)
				}
			}()
			runSchedule(t, cs...)
		})
	}
}
