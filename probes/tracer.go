package probes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sort"
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

// probeState is one probe sent and what became of it so far.
type probeState struct {
	rec      ProbeRecord
	settled  bool
	deadline time.Time
	// echo is set on an echo witness: a request to this hop's address.
	echo bool
}

// run is the state of one trace.
type run struct {
	t   *Tracer
	cfg Config
	tr  *Trace
	// all holds every probe sent, settled or not, in send order; byTTL
	// the same per TTL, indexed by round.
	all      []*probeState
	byTTL    map[int][]*probeState
	inflight map[uint16]*probeState
	seq      uint16
	// settledPrefix counts, per TTL, the leading probes already settled.
	settledPrefix map[int]int
	// echoes holds, per TTL, the echo witnesses sent to its responder's
	// own address while the trace places loss.
	echoes map[int][]*probeState
	// sentRounds counts the rounds sent in fixed-interval mode.
	sentRounds int
	destTTL    int
	unreachTL  int
	// worst is the longest round trip seen so far.
	worst time.Duration
	// owner is the address that last answered at each TTL: the
	// responder whose budget a probe to that TTL spends.
	owner map[int]netip.Addr
	fits  map[netip.Addr]*fitCache
	// rounds is the number of complete rounds last reported; changed is
	// set when a probe settled since the last snapshot handed out.
	rounds   int
	changed  bool
	lastView time.Time
	// localising is set while a paced trace goes on to place loss;
	// stopped once it may send no more; recheck until the probes in
	// flight when it stopped have settled.
	localising, stopped, recheck bool
	lastCheck                    time.Time
}

// fitCache is a responder's fitted budget, refitted when one of its
// probes settles.
type fitCache struct {
	f     fit
	prior Budget
	dirty bool
}

// MinGrace is how long a round's other probes may still wait once the
// destination has answered that round, with a fixed interval: their
// deadline shrinks to the destination's answer plus the larger of MinGrace
// and twice the slowest round trip seen so far, as Trippy's grace period
// does. A hop that rate-limits its answers then costs a round this much,
// not the whole timeout.
const MinGrace = 100 * time.Millisecond

// viewEvery is how often a paced trace hands out a snapshot while probes
// settle between complete rounds (rate-limited TTLs make rounds slow).
const viewEvery = 500 * time.Millisecond

// localiseMargin is how long before the caller's deadline a trace that
// localises loss stops sending: the last probes' timeout.
const localiseMargin = DefaultTimeout

// pollEvery is how often a paced trace looks for TTLs due a probe.
const pollEvery = 20 * time.Millisecond

// Run traces cfg.Target. With a fixed cfg.Interval it sends a round of
// probes every interval, one per TTL, all at once; otherwise each TTL's
// probes go out as its responder's ICMP budget allows (see Budget), at
// most one per PaceInterval. It stops after cfg.Count rounds (more when
// cfg.Localise lets it place loss) or when ctx ends; onRound, when not
// nil, gets a snapshot after every completed round and, while probes
// settle between rounds, every viewEvery. The returned trace holds what
// was measured even when ctx ended early; the error is non-nil only when
// probing could not work at all.
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
	r := &run{t: t, cfg: cfg, inflight: map[uint16]*probeState{}, byTTL: map[int][]*probeState{},
		owner: map[int]netip.Addr{}, fits: map[netip.Addr]*fitCache{}, settledPrefix: map[int]int{},
		echoes: map[int][]*probeState{}}
	r.tr = &Trace{Config: cfg, Network: t.Net.Kind(), Started: t.Now(), End: EndNoRounds, Paced: cfg.Interval == 0}

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
		switch {
		case r.tr.Paced:
			runErr = r.sendDue(ctx, now)
		case r.moreRounds() && !now.Before(nextRound):
			runErr = r.sendRound(ctx)
			nextRound = nextRound.Add(cfg.Interval)
			if now.After(nextRound) {
				// Sending fell behind (a slow machine, a stopped
				// process): do not burst to catch up.
				nextRound = now.Add(cfg.Interval)
			}
		}
		if runErr != nil {
			break
		}
		// Replies already received are handled before any probe is
		// expired: when this process ran late (a loaded machine, a
		// stopped process), a reply waiting in the queue came in
		// time and its probe is not lost.
		r.drain(replies)
		r.expire(now)
		r.progress(ctx, now, onRound)
		if !r.moreToSend() && len(r.inflight) == 0 {
			break
		}
		wake := r.earliestDeadline()
		next := nextRound
		if r.tr.Paced {
			next = now.Add(pollEvery)
		}
		if r.moreToSend() && (wake.IsZero() || next.Before(wake)) {
			wake = next
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
			r.handle(rep)
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
	if r.tr.Localised.Extended && r.tr.Localised.Limit == 0 {
		r.tr.Localised.Limit = r.tr.Ended.Sub(r.tr.Started)
	}
	r.snapshot()
	if runErr != nil && len(r.tr.Probes) == 0 {
		return r.tr, runErr
	}
	if runErr != nil {
		t.Log.Warn("trace stopped early", "err", runErr)
	}
	return r.tr, nil
}

// moreRounds reports whether another fixed-interval round should be sent.
func (r *run) moreRounds() bool {
	return r.cfg.Count == 0 || r.sentRounds < r.cfg.Count
}

// target is how many probes each TTL gets in paced mode, 0 for no limit.
func (r *run) target() int {
	if r.localising {
		return 0
	}
	return r.cfg.Count
}

// moreToSend reports whether any probe is still to be sent.
func (r *run) moreToSend() bool {
	if !r.tr.Paced {
		return r.moreRounds()
	}
	if r.stopped {
		return false
	}
	n := r.target()
	if n == 0 {
		return true
	}
	for ttl := r.cfg.FirstTTL; ttl <= r.limit(); ttl++ {
		if len(r.byTTL[ttl]) < n {
			return true
		}
	}
	return false
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

// send sends one probe for ttl and records it.
func (r *run) send(ctx context.Context, ttl int, over bool) (bool, error) {
	p := Probe{Seq: r.seq, TTL: ttl}
	if _, busy := r.inflight[p.Seq]; busy {
		// 65536 probes in flight: wait rather than confuse replies.
		return false, nil
	}
	r.seq++
	sent := r.t.Now()
	if err := r.t.Net.Send(ctx, p); err != nil {
		r.t.Log.Debug("send probe", "ttl", ttl, "err", err)
		return false, err
	}
	ps := &probeState{rec: ProbeRecord{Seq: p.Seq, Round: len(r.byTTL[ttl]), TTL: ttl, Sent: sent, OverBudget: over},
		deadline: sent.Add(r.cfg.Timeout)}
	r.all = append(r.all, ps)
	r.byTTL[ttl] = append(r.byTTL[ttl], ps)
	r.inflight[p.Seq] = ps
	return true, nil
}

// sendRound sends one probe to every TTL up to the limit.
func (r *run) sendRound(ctx context.Context) error {
	r.sentRounds++
	var firstErr error
	n := 0
	for ttl := r.cfg.FirstTTL; ttl <= r.limit(); ttl++ {
		ok, err := r.send(ctx, ttl, false)
		if err != nil && firstErr == nil {
			firstErr = err
		}
		if ok {
			n++
		}
	}
	if n == 0 {
		if firstErr == nil {
			firstErr = errors.New("no probe could be sent")
		}
		return fmt.Errorf("send probes: %w", firstErr)
	}
	return nil
}

// sendDue sends, in paced mode, a probe to every TTL that is due one: it
// has fewer than its target, its last probe left at least PaceInterval
// ago, and its responder's budget has a token (or may be explored).
func (r *run) sendDue(ctx context.Context, now time.Time) error {
	if r.stopped {
		return nil
	}
	n := r.target()
	var firstErr error
	sent, tried := 0, 0
	for ttl := r.cfg.FirstTTL; ttl <= r.limit(); ttl++ {
		ps := r.byTTL[ttl]
		if n > 0 && len(ps) >= n {
			continue
		}
		if len(ps) > 0 && now.Sub(ps[len(ps)-1].rec.Sent) < PaceInterval {
			continue
		}
		over := false
		if addr, ok := r.owner[ttl]; ok {
			within, explore := r.budgetAllows(addr, now)
			if !within && !explore {
				continue
			}
			over = !within
		}
		tried++
		ok, err := r.send(ctx, ttl, over)
		if err != nil && firstErr == nil {
			firstErr = err
		}
		if ok {
			sent++
		}
	}
	if tried > 0 && sent == 0 && len(r.inflight) == 0 && firstErr != nil {
		return fmt.Errorf("send probes: %w", firstErr)
	}
	r.sendEchoes(ctx, now)
	return nil
}

// echoTTL is the TTL of echo witnesses: enough for any hop of the trace.
const echoTTL = 64

// sendEchoes sends, while an ICMP trace places loss, an echo request to
// the address of every hop before the destination, one per PaceInterval
// each: a second witness of loss up to that hop, which routers answer
// from their data plane without spending their time-exceeded budget.
func (r *run) sendEchoes(ctx context.Context, now time.Time) {
	if !r.localising || r.cfg.Method != ICMP {
		return
	}
	for ttl := r.cfg.FirstTTL; ttl < r.limit(); ttl++ {
		addr, ok := r.owner[ttl]
		if !ok || addr == r.cfg.Target {
			continue
		}
		es := r.echoes[ttl]
		if len(es) > 0 && now.Sub(es[len(es)-1].rec.Sent) < PaceInterval {
			continue
		}
		p := Probe{Seq: r.seq, TTL: echoTTL, To: addr}
		if _, busy := r.inflight[p.Seq]; busy {
			return
		}
		r.seq++
		sent := r.t.Now()
		if err := r.t.Net.Send(ctx, p); err != nil {
			r.t.Log.Debug("send echo witness", "to", addr, "err", err)
			continue
		}
		ps := &probeState{rec: ProbeRecord{Seq: p.Seq, Round: len(es), TTL: ttl, Sent: sent}, deadline: sent.Add(r.cfg.Timeout), echo: true}
		r.echoes[ttl] = append(es, ps)
		r.inflight[p.Seq] = ps
	}
}

// outcomes lists the probes that spent (or would have spent) addr's
// budget, in send order: those it answered, and those unanswered so far
// at a TTL it answers for.
func (r *run) outcomes(addr netip.Addr) ([]outcome, []*probeState) {
	var outs []outcome
	var states []*probeState
	for _, ps := range r.all[r.windowStart():] {
		rep := ps.rec.Reply
		if rep != nil && rep.From != addr {
			continue
		}
		if rep == nil && r.ownerOf(ps.rec.TTL) != addr {
			continue
		}
		outs = append(outs, outcome{at: ps.rec.Sent, settled: ps.settled, answer: rep != nil})
		states = append(states, ps)
	}
	return outs, states
}

// fitWindow is how far back a responder's probes are replayed to fit its
// budget: a rate limit is a property of now, and a trace that runs for
// hours must not replay all of them after every answer. Probes older than
// that keep the classification they last had.
const fitWindow = time.Minute

// windowStart is the index in r.all of the first probe sent within
// fitWindow of the last one.
func (r *run) windowStart() int {
	if len(r.all) == 0 {
		return 0
	}
	from := r.all[len(r.all)-1].rec.Sent.Add(-fitWindow)
	return sort.Search(len(r.all), func(i int) bool { return !r.all[i].rec.Sent.Before(from) })
}

// ownerOf is the responder a probe to ttl reaches: the destination from
// its TTL on, otherwise the last address that answered at ttl.
func (r *run) ownerOf(ttl int) netip.Addr {
	if r.destTTL > 0 && ttl >= r.destTTL {
		if a, ok := r.owner[r.destTTL]; ok {
			return a
		}
	}
	return r.owner[ttl]
}

// fitOf returns addr's budget, refitted when one of its probes settled.
func (r *run) fitOf(addr netip.Addr) (fit, []outcome, []*probeState) {
	outs, states := r.outcomes(addr)
	c := r.fits[addr]
	if c == nil {
		return fit{}, outs, states
	}
	if c.dirty {
		var settled []outcome
		for _, o := range outs {
			if o.settled {
				settled = append(settled, o)
			}
		}
		c.f = fitBudget(settled, c.prior)
		c.dirty = false
	}
	return c.f, outs, states
}

// budgetAllows says whether addr's budget has a whole token now (within),
// and, when it does not, whether a probe may go anyway to learn whether
// the budget is larger (explore): only one at a time, and none once one
// went unanswered: the budget is then confirmed.
func (r *run) budgetAllows(addr netip.Addr, now time.Time) (within, explore bool) {
	f, outs, _ := r.fitOf(addr)
	if f.budget.Free() {
		return true, false
	}
	res := f.budget.replay(f.start, outs)
	if f.budget.tokensAt(res, now) >= 1+float64(budgetSlack)/float64(f.budget.Interval) {
		return true, false
	}
	for i := range outs {
		if res.over[i] && (!outs[i].settled || !outs[i].answer) {
			return false, false
		}
	}
	return false, true
}

func (r *run) handle(rep Reply) {
	ps, ok := r.inflight[rep.Seq]
	if !ok {
		r.tr.Stray++
		return
	}
	delete(r.inflight, rep.Seq)
	rec := &ps.rec
	rec.Reply = &rep
	if ps.echo {
		r.settle(ps)
		return
	}
	r.owner[rec.TTL] = rep.From
	c := r.fits[rep.From]
	if c == nil {
		c = &fitCache{}
		r.fits[rep.From] = c
	}
	c.prior = priorBudget(rep.Kind)
	r.worst = max(r.worst, rep.Received.Sub(rec.Sent))
	switch {
	case rep.Kind.FromDestination():
		if r.destTTL == 0 || rec.TTL < r.destTTL {
			r.destTTL = rec.TTL
		}
		if r.tr.Paced {
			break
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
	r.settle(ps)
}

// settle marks a probe answered or lost and its responder's fit stale.
func (r *run) settle(ps *probeState) {
	ps.settled = true
	r.changed = true
	if ps.echo {
		return
	}
	for _, a := range []netip.Addr{r.ownerOf(ps.rec.TTL), r.owner[ps.rec.TTL]} {
		if c := r.fits[a]; c != nil {
			c.dirty = true
		}
	}
}

// drain handles every reply already queued, without waiting.
func (r *run) drain(replies <-chan Reply) {
	for {
		select {
		case rep := <-replies:
			r.handle(rep)
		default:
			return
		}
	}
}

// expire counts every probe past its deadline as lost.
func (r *run) expire(now time.Time) {
	for seq, ps := range r.inflight {
		if now.Before(ps.deadline) {
			continue
		}
		delete(r.inflight, seq)
		r.settle(ps)
	}
}

// completeRounds counts the rounds whose every probe up to the limit has
// settled.
func (r *run) completeRounds() int {
	n := -1
	for ttl := r.cfg.FirstTTL; ttl <= r.limit(); ttl++ {
		ps, k := r.byTTL[ttl], r.settledPrefix[ttl]
		for k < len(ps) && ps[k].settled {
			k++
		}
		r.settledPrefix[ttl] = k
		if n < 0 || k < n {
			n = k
		}
	}
	return max(n, 0)
}

// progress hands out snapshots and, in paced mode, decides whether to go
// on placing loss.
func (r *run) progress(ctx context.Context, now time.Time, onRound func(*Trace)) {
	rounds := r.completeRounds()
	if onRound != nil && r.changed && (rounds > r.rounds || (r.tr.Paced && now.Sub(r.lastView) >= viewEvery)) {
		r.rounds = rounds
		r.lastView = now
		r.snapshot()
		r.changed = false
		onRound(r.tr)
	}
	r.rounds = max(r.rounds, rounds)
	if !r.tr.Paced || r.cfg.Localise <= 0 || r.cfg.Count == 0 {
		return
	}
	// The time allowed: Localise from the start or, when the caller set
	// a deadline (--timeout), up to a moment before it, so the report
	// still prints.
	limit := r.tr.Started.Add(r.cfg.Localise)
	if d, ok := ctx.Deadline(); ok {
		limit = d.Add(-localiseMargin)
	}
	if !r.localising {
		if rounds < r.cfg.Count || len(r.inflight) > 0 {
			return
		}
		r.snapshot()
		if !needsPlacing(r.tr) || !now.Before(limit) {
			return
		}
		r.localising = true
		r.tr.Localised = Localisation{Extended: true, Limit: limit.Sub(r.tr.Started)}
		r.lastCheck = now
		return
	}
	if r.stopped {
		// The probes still in flight when it stopped may unsettle
		// what they settled: look again once they have, and go on if
		// time is left.
		if len(r.inflight) > 0 || !r.recheck || !now.Before(limit) {
			return
		}
		r.recheck = false
		r.snapshot()
		if needsPlacing(r.tr) {
			r.stopped = false
			r.tr.Localised.Took = 0
		}
		return
	}
	if now.Sub(r.lastCheck) < viewEvery {
		return
	}
	r.lastCheck = now
	r.snapshot()
	if r.tr.Onset.Placed {
		r.tr.Localised.Took = now.Sub(r.tr.Started)
	}
	if !needsPlacing(r.tr) || !now.Before(limit) {
		r.stopped, r.recheck = true, true
	}
}

func (r *run) earliestDeadline() time.Time {
	var t time.Time
	for _, ps := range r.inflight {
		if t.IsZero() || ps.deadline.Before(t) {
			t = ps.deadline
		}
	}
	return t
}

// snapshot recomputes the trace's records and hops from the settled
// probes, classifying the unanswered ones the responders' fitted budgets
// explain.
func (r *run) snapshot() {
	tr := r.tr
	tr.DestTTL = r.destTTL
	tr.Rounds = r.completeRounds()
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
	budgets := map[netip.Addr]Budget{}
	for _, ps := range r.all[r.windowStart():] {
		ps.rec.Limited = false
	}
	for addr := range r.fits {
		f, outs, states := r.fitOf(addr)
		budgets[addr] = f.budget
		for i, lim := range f.limitedMisses(outs) {
			if lim {
				states[i].rec.Limited = true
			}
		}
	}
	tr.Probes = tr.Probes[:0]
	for _, ps := range r.all {
		if ps.settled && ps.rec.TTL <= limit {
			tr.Probes = append(tr.Probes, ps.rec)
		}
	}
	classifyForwardLoss(tr.Probes)
	tr.Hops = buildHops(tr, limit, r.t.Names, budgets)
	for i := range tr.Hops {
		tr.Hops[i].Echo = echoWitness(r.echoes[tr.Hops[i].TTL])
	}
	tr.Onset = LocateOnset(tr)
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
		p.ForwardLoss = p.Reply == nil && !p.Limited && deepestAnswer[p.Round] < p.TTL
	}
}

// echoWitness counts a hop's settled echo witnesses; a budget fitted to
// them (echo replies start free) explains the ones a router that limits
// its echo replies left unanswered.
func echoWitness(es []*probeState) EchoWitness {
	var e EchoWitness
	var outs []outcome
	for _, ps := range es {
		if !ps.settled {
			continue
		}
		e.Sent++
		if ps.rec.Reply != nil {
			e.Recv++
		}
		outs = append(outs, outcome{at: ps.rec.Sent, settled: true, answer: ps.rec.Reply != nil})
	}
	for _, lim := range fitBudget(outs, Budget{}).limitedMisses(outs) {
		if lim {
			e.Limited++
		}
	}
	return e
}
