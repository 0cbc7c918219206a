package probes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Tracer runs traces over a Network.
type Tracer struct {
	Net Network
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Log receives debug messages; nil discards them.
	Log *slog.Logger
	// Names, when set, is asked for every responder's name; it must not
	// block (see Resolver).
	Names func(addrString string) string
}

// inflight is a probe waiting for its reply.
type inflight struct {
	rec      *ProbeRecord
	deadline time.Time
}

// run is the state of one trace.
type run struct {
	t   *Tracer
	cfg Config
	tr  *Trace
	// all holds every probe sent, completed or not, in send order.
	all      []*ProbeRecord
	inflight map[uint16]*inflight
	seq      uint16
	// pending counts each round's probes still in flight.
	pending []int
	// done marks completed rounds; completed counts the leading run of
	// them.
	done      []bool
	destTTL   int
	unreachTL int
	// worst is the longest round trip seen so far.
	worst time.Duration
}

// MinGrace is how long a round's other probes may still wait once the
// destination has answered that round: their deadline shrinks to the
// destination's answer plus the larger of MinGrace and twice the slowest
// round trip seen so far, as Trippy's grace period does. A hop that
// rate-limits its answers then costs a round this much, not the whole
// timeout.
const MinGrace = 100 * time.Millisecond

// Run traces cfg.Target. It sends a round of probes every cfg.Interval, one
// per TTL, all at once, until cfg.Count rounds have completed or ctx ends;
// onRound, when not nil, gets a snapshot after every completed round. The
// returned trace holds what was measured even when ctx ended early; the
// error is non-nil only when probing could not work at all.
func (t *Tracer) Run(ctx context.Context, cfg Config, onRound func(*Trace)) (*Trace, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if t.Now == nil {
		t.Now = time.Now
	}
	if t.Log == nil {
		t.Log = slog.New(slog.DiscardHandler)
	}
	r := &run{t: t, cfg: cfg, inflight: map[uint16]*inflight{}}
	r.tr = &Trace{Config: cfg, Network: t.Net.Kind(), Started: t.Now(), End: EndNoRounds}

	rctx, stopRecv := context.WithCancel(ctx)
	defer stopRecv()
	replies := make(chan Reply, 256)
	recvErr := make(chan error, 1)
	go func() {
		for {
			rep, err := t.Net.Recv(rctx)
			if err != nil {
				recvErr <- err
				return
			}
			select {
			case replies <- rep:
			case <-rctx.Done():
				recvErr <- rctx.Err()
				return
			}
		}
	}()

	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	nextRound := r.tr.Started
	var runErr error
loop:
	for {
		now := t.Now()
		if r.moreRounds() && !now.Before(nextRound) {
			if err := r.sendRound(ctx); err != nil {
				runErr = err
				break
			}
			nextRound = nextRound.Add(cfg.Interval)
			if now.After(nextRound) {
				// Sending fell behind (a slow machine, a stopped
				// process): do not burst to catch up.
				nextRound = now.Add(cfg.Interval)
			}
		}
		r.expire(now, onRound)
		if !r.moreRounds() && len(r.inflight) == 0 {
			break
		}
		wake := r.earliestDeadline()
		if r.moreRounds() && (wake.IsZero() || nextRound.Before(wake)) {
			wake = nextRound
		}
		timer.Reset(max(wake.Sub(now), 0))
		select {
		case <-ctx.Done():
			break loop
		case err := <-recvErr:
			if ctx.Err() == nil && !errors.Is(err, context.Canceled) {
				runErr = fmt.Errorf("receive replies: %w", err)
			}
			break loop
		case rep := <-replies:
			r.handle(rep, onRound)
		case <-timer.C:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
	r.tr.Ended = t.Now()
	r.snapshot()
	if runErr != nil && len(r.tr.Probes) == 0 {
		return r.tr, runErr
	}
	if runErr != nil {
		t.Log.Warn("trace stopped early", "err", runErr)
	}
	return r.tr, nil
}

// moreRounds reports whether another round should be sent.
func (r *run) moreRounds() bool {
	return r.cfg.Count == 0 || len(r.pending) < r.cfg.Count
}

// limit is the deepest TTL worth probing: the destination's, the first
// unreachable's, or MaxTTL.
func (r *run) limit() int {
	l := r.cfg.MaxTTL
	if r.destTTL > 0 {
		l = min(l, r.destTTL)
	}
	if r.unreachTL > 0 {
		l = min(l, r.unreachTL)
	}
	return l
}

func (r *run) sendRound(ctx context.Context) error {
	round := len(r.pending)
	r.pending = append(r.pending, 0)
	r.done = append(r.done, false)
	var firstErr error
	for ttl := r.cfg.FirstTTL; ttl <= r.limit(); ttl++ {
		p := Probe{Seq: r.seq, TTL: ttl}
		if _, busy := r.inflight[p.Seq]; busy {
			// 65536 probes in flight: wait rather than confuse replies.
			break
		}
		r.seq++
		sent := r.t.Now()
		if err := r.t.Net.Send(ctx, p); err != nil {
			if firstErr == nil {
				firstErr = err
			}
			r.t.Log.Debug("send probe", "ttl", ttl, "err", err)
			continue
		}
		rec := &ProbeRecord{Seq: p.Seq, Round: round, TTL: ttl, Sent: sent}
		r.all = append(r.all, rec)
		r.inflight[p.Seq] = &inflight{rec: rec, deadline: sent.Add(r.cfg.Timeout)}
		r.pending[round]++
	}
	if r.pending[round] == 0 {
		if firstErr == nil {
			firstErr = errors.New("no probe could be sent")
		}
		return fmt.Errorf("send probes: %w", firstErr)
	}
	return nil
}

func (r *run) handle(rep Reply, onRound func(*Trace)) {
	in, ok := r.inflight[rep.Seq]
	if !ok {
		r.tr.Stray++
		return
	}
	delete(r.inflight, rep.Seq)
	rec := in.rec
	rec.Reply = &rep
	r.worst = max(r.worst, rep.Received.Sub(rec.Sent))
	switch {
	case rep.Kind.FromDestination():
		if r.destTTL == 0 || rec.TTL < r.destTTL {
			r.destTTL = rec.TTL
		}
		grace := rep.Received.Add(max(MinGrace, 2*r.worst))
		for _, o := range r.inflight {
			if o.rec.Round == rec.Round && grace.Before(o.deadline) {
				o.deadline = grace
			}
		}
	case rep.Kind.Filtering():
		if r.unreachTL == 0 || rec.TTL < r.unreachTL {
			r.unreachTL = rec.TTL
		}
	}
	r.finish(rec.Round, onRound)
}

// expire counts every probe past its deadline as lost.
func (r *run) expire(now time.Time, onRound func(*Trace)) {
	for seq, in := range r.inflight {
		if now.Before(in.deadline) {
			continue
		}
		delete(r.inflight, seq)
		r.finish(in.rec.Round, onRound)
	}
}

func (r *run) finish(round int, onRound func(*Trace)) {
	r.pending[round]--
	if r.pending[round] > 0 {
		return
	}
	r.done[round] = true
	if onRound != nil {
		r.snapshot()
		onRound(r.tr)
	}
}

func (r *run) earliestDeadline() time.Time {
	var t time.Time
	for _, in := range r.inflight {
		if t.IsZero() || in.deadline.Before(t) {
			t = in.deadline
		}
	}
	return t
}

// snapshot recomputes the trace's records and hops from the completed
// rounds.
func (r *run) snapshot() {
	tr := r.tr
	tr.DestTTL = r.destTTL
	tr.Rounds = 0
	for _, d := range r.done {
		if d {
			tr.Rounds++
		}
	}
	switch {
	case tr.Rounds == 0:
		tr.End = EndNoRounds
	case r.destTTL > 0:
		tr.End = EndReached
	case r.unreachTL > 0:
		tr.End = EndUnreachable
	default:
		tr.End = EndMaxTTL
	}
	limit := r.limit()
	tr.Probes = tr.Probes[:0]
	for _, rec := range r.all {
		if r.done[rec.Round] && rec.TTL <= limit {
			tr.Probes = append(tr.Probes, *rec)
		}
	}
	classifyForwardLoss(tr.Probes)
	tr.Hops = buildHops(tr, limit, r.t.Names)
}

// classifyForwardLoss marks each lost probe whose every deeper probe of the
// same round was lost as well.
func classifyForwardLoss(ps []ProbeRecord) {
	// deepestAnswer[round] is the deepest TTL answered in that round.
	deepestAnswer := map[int]int{}
	for _, p := range ps {
		if p.Reply != nil && p.TTL > deepestAnswer[p.Round] {
			deepestAnswer[p.Round] = p.TTL
		}
	}
	for i := range ps {
		p := &ps[i]
		p.ForwardLoss = p.Reply == nil && deepestAnswer[p.Round] < p.TTL
	}
}
