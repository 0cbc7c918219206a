package collectors

import (
	"context"
	"fmt"
	"reflect"
	"runtime"
	"sync"
	"time"
)

// Dependent is a Collector that reads sections of the snapshot other
// collectors fill: nic and sysctl walk the Links that links read. Take
// runs it once they have finished and hands it their sections; any other
// section it sees is empty, whatever has been read by then.
//
// Dependents of one section may run at the same time, so a section
// handed over is read-only: a dependent that adds to it replaces it with
// a copy (nic adds the speed and duplex ethtool reports to Links), and
// Take keeps the copy. Two dependents may not both replace one section.
type Dependent interface {
	Collector
	// After names the collectors whose sections Collect reads. A name no
	// collector has is not waited for.
	After() []string
}

// schedule runs the collectors of one snapshot: those ready (their
// prerequisites finished) one per worker, a worker per CPU. Each
// collector fills a snapshot of its own (a part); a finished part's
// sections move into the snapshot, and its skips and runs are joined in
// the collectors' order once all have finished, so neither depends on
// which ran first.
type schedule struct {
	ctx  context.Context
	src  *Sources
	snap *Snapshot
	jobs []*job

	mu   sync.Mutex
	cond *sync.Cond
	// ready are the jobs whose prerequisites have finished, not yet
	// started; left counts the jobs not finished.
	ready []*job
	left  int
	// conflict is the first section two collectors set, panicked with
	// once every worker has stopped.
	conflict string
}

// job is one collector's run in a schedule.
type job struct {
	c     Collector
	index int
	part  *Snapshot
	// after are the prerequisites, waiting how many of them have not
	// finished, then the jobs that wait for this one.
	after   []*job
	waiting int
	then    []*job
	// handed holds the sections handed to the collector; produced are
	// those it filled or replaced (indexes of Snapshot fields).
	handed   Snapshot
	produced []int
}

func newSchedule(ctx context.Context, src *Sources, snap *Snapshot, cs []Collector) *schedule {
	s := &schedule{ctx: ctx, src: src, snap: snap, left: len(cs)}
	s.cond = sync.NewCond(&s.mu)
	byName := map[string]*job{}
	for i, c := range cs {
		j := &job{c: c, index: i, part: &Snapshot{Taken: snap.Taken}}
		s.jobs = append(s.jobs, j)
		byName[c.Name()] = j
	}
	for _, j := range s.jobs {
		if d, ok := j.c.(Dependent); ok {
			for _, name := range d.After() {
				if p := byName[name]; p != nil {
					j.after = append(j.after, p)
					p.then = append(p.then, j)
				}
			}
		}
		j.waiting = len(j.after)
		if j.waiting == 0 {
			s.ready = append(s.ready, j)
		}
	}
	if n := waitForever(s.jobs); n > 0 {
		panic(fmt.Sprintf("collectors: %d collectors wait for each other", n))
	}
	return s
}

// waitForever counts the jobs that would never start: those in or after
// a cycle of prerequisites.
func waitForever(jobs []*job) int {
	waiting := map[*job]int{}
	var free []*job
	for _, j := range jobs {
		waiting[j] = len(j.after)
		if len(j.after) == 0 {
			free = append(free, j)
		}
	}
	left := len(jobs)
	for len(free) > 0 {
		j := free[0]
		free = free[1:]
		left--
		for _, d := range j.then {
			if waiting[d]--; waiting[d] == 0 {
				free = append(free, d)
			}
		}
	}
	return left
}

// run takes the snapshot: the calling goroutine is the first worker, on
// the thread switched into the namespace being read; each other worker
// locks a thread of its own and switches it in too (a new goroutine never
// runs on a switched thread). A worker that cannot enter leaves the
// collectors to the others; when the first cannot, none runs and the
// snapshot says why.
func (s *schedule) run() {
	start := time.Now()
	workers := min(runtime.GOMAXPROCS(0), len(s.jobs))
	var wg sync.WaitGroup
	err := s.src.inNetNS(func() {
		for range workers - 1 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := s.src.inNetNS(s.work); err != nil {
					s.src.Log.Debug("a collector worker could not enter the namespace; the others read it", "err", err)
				}
			}()
		}
		s.work()
	})
	wg.Wait()
	if s.conflict != "" {
		panic(s.conflict)
	}
	for _, j := range s.jobs {
		s.snap.Skipped = append(s.snap.Skipped, j.part.Skipped...)
		s.snap.Runs = append(s.snap.Runs, j.part.Runs...)
	}
	if err != nil {
		s.snap.AddSkip(s.src.nsLabel(), err)
	}
	s.src.Log.Debug("snapshot taken", "duration", time.Since(start), "workers", workers)
}

// work runs ready collectors until every one has finished.
func (s *schedule) work() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		for len(s.ready) == 0 {
			if s.left == 0 {
				return
			}
			s.cond.Wait()
		}
		j := s.next()
		s.mu.Unlock()
		collect(s.ctx, j.c, s.src, j.part)
		s.mu.Lock()
		s.finish(j)
		s.cond.Broadcast()
	}
}

// next takes the ready job to start: one that others wait for first, as
// it starts a chain; then one that waited for others, as it continues
// one (nic after links: the longest); each kind in registration order.
func (s *schedule) next() *job {
	rank := func(j *job) int {
		switch {
		case len(j.then) > 0:
			return j.index
		case len(j.after) > 0:
			return len(s.jobs) + j.index
		}
		return 2*len(s.jobs) + j.index
	}
	best := 0
	for i, j := range s.ready {
		if rank(j) < rank(s.ready[best]) {
			best = i
		}
	}
	j := s.ready[best]
	s.ready = append(s.ready[:best], s.ready[best+1:]...)
	return j
}

// finish moves the sections j filled into the snapshot and hands them to
// the jobs waiting for j, starting those it was the last to wait for.
func (s *schedule) finish(j *job) {
	s.left--
	part, handed, snap := reflect.ValueOf(j.part).Elem(), reflect.ValueOf(&j.handed).Elem(), reflect.ValueOf(s.snap).Elem()
	for _, f := range snapshotSections {
		have, was := part.Field(f), snap.Field(f)
		switch {
		case have.IsZero() || sameValue(have, handed.Field(f)):
			continue // nothing read, or a section handed over as it was
		case !was.IsZero() && !sameValue(was, handed.Field(f)):
			if s.conflict == "" {
				s.conflict = fmt.Sprintf("collectors: %s set Snapshot.%s, which another collector had set or replaced", j.c.Name(), snap.Type().Field(f).Name)
			}
			continue
		}
		was.Set(have)
		j.produced = append(j.produced, f)
	}
	for _, d := range j.then {
		d.waiting--
		if d.waiting > 0 {
			continue
		}
		in := reflect.ValueOf(d.part).Elem()
		for _, p := range d.after {
			for _, f := range p.produced {
				in.Field(f).Set(snap.Field(f))
			}
		}
		d.handed = *d.part
		s.ready = append(s.ready, d)
	}
}

// snapshotSections are the indexes of the Snapshot fields collectors
// fill: all but Taken, Skipped and Runs, which Take fills.
var snapshotSections = func() []int {
	var out []int
	t := reflect.TypeFor[Snapshot]()
	for i := range t.NumField() {
		switch t.Field(i).Name {
		case "Taken", "Skipped", "Runs":
		default:
			out = append(out, i)
		}
	}
	return out
}()

// sameValue reports whether two values of a Snapshot section are the
// same section: the same slice, map or pointer, or an equal number.
func sameValue(a, b reflect.Value) bool {
	switch a.Kind() {
	case reflect.Slice:
		return a.Pointer() == b.Pointer() && a.Len() == b.Len()
	case reflect.Map, reflect.Pointer:
		return a.Pointer() == b.Pointer()
	}
	return a.Equal(b)
}
