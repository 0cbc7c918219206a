package capture

import (
	"time"

	"github.com/netdx/netdx/capture/decode"
)

// Evidence of sending order: TCP timestamps, IPv4 IDs, and the round trip,
// which bounds how soon a retransmission can arrive.

// IPv4 IDs are a 16-bit counter on most senders: per connection (Linux),
// per host (Windows, so other traffic moves it too) or random (BSDs, macOS
// for some packets), and 0 on some. Two IDs are compared as a sequence only
// while the counter cannot have gone half-way round between them.
const (
	// idMargin is how far the counter may have moved for a comparison to
	// be trusted: a quarter of its range.
	idMargin = 1 << 14
	// idHorizonUnknown bounds comparisons before any rate was measured.
	idHorizonUnknown = int64(time.Second)
	// The counter's rate is measured over at least idRateMin and at most
	// idRateMax: long enough not to be a burst's line rate, short enough
	// that the counter cannot have wrapped unseen (655,360 IDs a second).
	idRateMin = int64(time.Millisecond)
	idRateMax = int64(100 * time.Millisecond)
)

// tsID tracks the newest timestamp and, for new data, the IPv4 ID
// progression that makes IDs usable as evidence, and the counter's rate.
func (d *tcpDir) tsID(p stamp, at int64, fresh bool) {
	if p.hasTS && (!d.tsSeen || int32(p.ts-d.maxTS) > 0) {
		d.tsSeen, d.maxTS = true, p.ts
	}
	if !p.v4 {
		return
	}
	id := p.id
	if !d.idSeen {
		d.idAnchor, d.idAnchorAt = id, at
	} else {
		if fresh {
			d.idPair++
			if delta := int64(id - d.lastID); delta >= 1 && delta <= max(64, d.lastSegs+1) && d.idComparable(at-d.lastIDAt) {
				d.idGood++
			}
		}
		if dt := at - d.idAnchorAt; dt >= idRateMin {
			if rate := uint64(id-d.idAnchor) * uint64(time.Second) / uint64(dt); dt <= idRateMax && rate > d.idRate {
				d.idRate = rate
				d.idHorizon = int64(idMargin * uint64(time.Second) / rate)
			}
			d.idAnchor, d.idAnchorAt = id, at
		}
	}
	if fresh || !d.idSeen || !d.idComparable(at-d.lastIDAt) || int16(id-d.lastID) > 0 {
		d.lastID, d.lastIDAt = id, at
	}
	d.idSeen = true
	d.lastSegs = int64(segments(int64(p.payload), d.maxSeg))
}

// idComparable says two IPv4 IDs of this endpoint dt apart can be
// compared as a sequence: at the fastest rate the counter was seen moving,
// it cannot have moved idMargin in that time (1 s before a rate is known).
func (d *tcpDir) idComparable(dt int64) bool {
	dt = max(dt, -dt)
	if d.idRate == 0 {
		return dt <= idHorizonUnknown
	}
	return dt <= d.idHorizon
}

// idReliable says this endpoint's IPv4 IDs go up by one per packet often
// enough to order any two of its packets: at least 3 consecutive new
// segments did (a random ID does so by chance once in a thousand), and 90%
// of all.
func (d *tcpDir) idReliable() bool {
	return d.idGood >= 3 && d.idGood*10 >= d.idPair*9
}

// creatorOf describes packet p, which jumps gap bytes over data not seen,
// as the creator of a hole. Its IPv4 ID bounds those of the hole's
// originals from above: a counter gave them the values just below, within
// idSpan. When the ID also follows the sender's previous one closely, the
// counter is seen at work across the gap (crPrev): a hole filler with an
// ID after the creator's was sent after it. Both hold from the first
// segments on, before the sender's IDs have shown a long progression.
func (f *flow) creatorOf(d *tcpDir, p *decode.Packet, at int64, gap int64) creator {
	c := creator{at: at, idx: d.w.n, size: int32(p.Payload)}
	if p.TCP.HasTS {
		c.ts, c.flags = p.TCP.TSval, c.flags|crTS
	}
	if p.Version == 4 {
		span := min(64+2*int64(segments(gap, d.maxSeg)), idMargin)
		c.id, c.idSpan, c.flags = p.IPID, uint16(span), c.flags|crID
		if d.idSeen && d.idComparable(at-d.lastIDAt) {
			if k := int64(p.IPID - d.lastID); k >= 1 && k <= span {
				c.prevID, c.flags = d.lastID, c.flags|crPrev
			}
		}
	}
	for i := p.NLayers - 1; i >= 0; i-- {
		l := &p.Layers[i]
		if !l.Kind.IsTunnel() {
			continue
		}
		switch {
		case l.HasSeq:
			c.outer, c.flags = uint64(l.Seq), c.flags|crGRE
		case l.HasIPID:
			c.outer, c.flags = uint64(l.IPID), c.flags|crOutID
		}
		break
	}
	return c
}

// judge decides whether a segment filling a hole is the late original or
// a retransmission, comparing it with the hole's creator (the first packet
// sent after the hole's data). The original was sent before the creator,
// a retransmission after it:
//  1. TCP timestamps: an older TSval than the creator's is the original, a
//     newer one a retransmission (equal ticks say nothing);
//  2. IPv4 IDs, compared within the counter's horizon: when this sender's
//     IDs go up by one per packet, either way; otherwise an ID just below
//     the creator's (within its idSpan: a random ID lands there once in
//     hundreds) is the original, and one after it a retransmission when
//     the creator's ID followed the sender's previous one closely;
//  3. timing: a retransmission is sent only after an acknowledgement of
//     later data (duplicate ACKs, SACK, RACK) or a timer, so it cannot
//     arrive less than one round trip after the creator: sooner is the
//     original; later is taken for a retransmission.
//
// Without any of these (no timestamps, IPv4 IDs that are 0, random or
// absent, no round trip) ok is false: the segment is undecided.
func (f *flow) judge(d *tcpDir, p *decode.Packet, c creator, at int64) (late bool, by evidence, ok bool) {
	if p.TCP.HasTS && c.flags&crTS != 0 {
		switch dt := int32(p.TCP.TSval - c.ts); {
		case dt < 0:
			return true, byTSval, true
		case dt > 0:
			return false, byTSval, true
		}
	}
	if p.Version == 4 && c.flags&crID != 0 && d.idComparable(at-c.at) {
		if d.idReliable() {
			switch di := int16(p.IPID - c.id); {
			case di < 0:
				return true, byIPID, true
			case di > 0:
				return false, byIPID, true
			}
		}
		if k := c.id - p.IPID; k >= 1 && k <= c.idSpan {
			return true, byIPID, true
		}
		if k := p.IPID - c.id; c.flags&crPrev != 0 && k >= 1 && k <= idMargin {
			return false, byIPID, true
		}
	}
	if rtt := f.tcp.pathRTT(); rtt > 0 {
		return at-c.at < int64(rtt), byTiming, true
	}
	return false, 0, false
}

// older says packet p was sent before the newest packet seen from this
// endpoint: its timestamp or (reliable, comparable) IPv4 ID is behind.
func (d *tcpDir) older(p *decode.Packet, at int64) bool {
	if p.TCP.HasTS && d.tsSeen {
		return int32(p.TCP.TSval-d.maxTS) < 0
	}
	return p.Version == 4 && d.idSeen && d.idReliable() && d.idComparable(at-d.lastIDAt) && int16(p.IPID-d.lastID) < 0
}

// pathRTT is a lower bound of the whole round trip between the
// endpoints, the shortest the flow showed: the handshake's or the sum of
// the two directions' shortest data round trips from the capture point. 0
// when unknown. When a SYN or SYN/ACK was sent again, each half of the
// handshake is timed from the last copy sent before its answer: the
// answer may belong to an earlier copy (Karn's rule), which makes the
// half shorter than the truth, never longer; timed from the first copy it
// could be seconds too long, and every late retransmission would pass for
// a late original.
func (t *tcpFlow) pathRTT() time.Duration {
	var rtt time.Duration
	if t.handshake {
		rtt = time.Duration(max(t.synAckAt-t.synAt, 0) + max(t.ackAt-t.lastSynAckAt, 0))
	}
	if t.d[0].st.RTT.Samples > 0 && t.d[1].st.RTT.Samples > 0 {
		if s := t.d[0].st.RTT.Min + t.d[1].st.RTT.Min; rtt == 0 || s < rtt {
			rtt = s
		}
	}
	return rtt
}
