package capture

import "time"

// add folds direction o into d: counters add up, round trips merge.
func (d *Direction) add(o *Direction) {
	d.Packets += o.Packets
	d.Bytes += o.Bytes
	d.Duplicates += o.Duplicates
	d.DataPackets += o.DataPackets
	d.Segments += o.Segments
	d.GSOFrames += o.GSOFrames
	d.PayloadBytes += o.PayloadBytes
	d.UniqueBytes += o.UniqueBytes
	d.Retransmission.add(&o.Retransmission)
	if o.Reorder != nil {
		if d.Reorder == nil {
			d.Reorder = &Reorder{}
		}
		d.Reorder.add(o.Reorder)
	}
	d.LostSegments += o.LostSegments
	d.LostBytes += o.LostBytes
	d.NotCapturedSegments += o.NotCapturedSegments
	d.NotCapturedBytes += o.NotCapturedBytes
	d.LateDuplicates += o.LateDuplicates
	d.Anomalies += o.Anomalies
	d.Decided.add(&o.Decided)
	d.DupACKs += o.DupACKs
	d.SACKPackets += o.SACKPackets
	d.DSACKs += o.DSACKs
	d.ZeroWindows += o.ZeroWindows
	d.ZeroWindowTime += o.ZeroWindowTime
	d.WindowFull += o.WindowFull
	d.KeepAlives += o.KeepAlives
	d.WindowProbes += o.WindowProbes
	d.RTT.merge(&o.RTT)
	d.Outer.Underlay += o.Outer.Underlay
	d.Outer.BeforeEncap += o.Outer.BeforeEncap
	d.Outer.Unknown += o.Outer.Unknown
	d.FirstData = earliest(d.FirstData, o.FirstData)
	if o.LastData.After(d.LastData) {
		d.LastData = o.LastData
	}
	d.DeliveredFirst = earliest(d.DeliveredFirst, o.DeliveredFirst)
	if o.DeliveredLast.After(d.DeliveredLast) {
		d.DeliveredLast = o.DeliveredLast
	}
}

func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	}
	return b
}

func (r *Retransmission) add(o *Retransmission) {
	r.Packets += o.Packets
	r.Frames += o.Frames
	r.Bytes += o.Bytes
	r.Timeout += o.Timeout
	r.Fast += o.Fast
	r.Spurious += o.Spurious
	r.ByACK += o.ByACK
	r.ByDSACK += o.ByDSACK
	r.ByLateOriginal += o.ByLateOriginal
	r.AfterReordering += o.AfterReordering
	r.FullSize += o.FullSize
	r.Repeated += o.Repeated
	r.SYN += o.SYN
}

func (x *Decisions) add(o *Decisions) {
	x.ReorderedByTSval += o.ReorderedByTSval
	x.ReorderedByIPID += o.ReorderedByIPID
	x.ReorderedByTiming += o.ReorderedByTiming
	x.RetransmittedByTSval += o.RetransmittedByTSval
	x.RetransmittedByIPID += o.RetransmittedByIPID
	x.RetransmittedByTiming += o.RetransmittedByTiming
	x.Undecided += o.Undecided
}

func (r *RTT) merge(o *RTT) {
	if o.Samples == 0 {
		return
	}
	if r.Samples == 0 || o.Min < r.Min {
		r.Min = o.Min
	}
	r.Max = max(r.Max, o.Max)
	r.Samples += o.Samples
	r.sum += o.sum
	r.Mean = r.sum / time.Duration(r.Samples)
}
