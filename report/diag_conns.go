package report

import "github.com/netdx/netdx/collectors"

// DiagConnections is the per-connection TCP view of diag: what held the
// namespace's connections back over the window, from each one's tcp_info
// in the two samples, with the worst connections of each limit.
type DiagConnections struct {
	// WindowSeconds is the time between the two dumps; 0 with one sample,
	// when every count covers its connection's life so far.
	WindowSeconds float64 `json:"window_seconds"`
	// Conns counts the connections carrying data (established or closing)
	// at the second sample that the filter matched.
	Conns int `json:"conns"`
	// New counts those opened during the window: their counts cover their
	// whole life.
	New int `json:"new"`
	// Closed counts the connections of the first sample gone by the
	// second; what they did in between is unknown.
	Closed int `json:"closed"`
	// NoInfo counts connections the kernel sent no tcp_info for.
	NoInfo int `json:"no_info,omitempty"`
	// Filter is --conn as given; absent for none.
	Filter string `json:"filter,omitempty"`
	// Limits has a group for each limit that held at least one connection
	// back, in the order retransmitting, reordering, rwnd_limited,
	// sndbuf_limited, app_limited; empty when none did.
	Limits []DiagConnLimit `json:"limits"`
}

// DiagConnLimit is the connections one limit held back.
type DiagConnLimit struct {
	// Limit is retransmitting (segments resent), reordering (segments
	// delivered out of order), rwnd_limited (the peer's receive window was
	// full), sndbuf_limited (this socket's send buffer was full) or
	// app_limited (the application sent less than the connection could
	// carry).
	Limit string `json:"limit"`
	// Count is how many connections this limit held back, listed or not.
	Count int `json:"count"`
	// Conns are the worst of them (--conn-top at most), worst first: most
	// segments resent, most reordering events, longest stalled, most bytes
	// sent.
	Conns []DiagConn `json:"conns"`
	// More counts the others.
	More int `json:"more"`
}

// DiagConn is one TCP connection over the window: its counts in the
// window, its state at the second sample, and what limited it. A field
// the kernel's tcp_info lacks is absent.
type DiagConn struct {
	// Local is this host's address:port.
	Local string `json:"local"`
	// Remote is the peer's address:port.
	Remote string `json:"remote"`
	// State is the TCP state (established, fin-wait-1, close-wait...).
	State string `json:"state"`
	// Cookie is the socket's kernel cookie, which stays the same for its
	// life.
	Cookie uint64 `json:"cookie"`
	// Inode is the socket's inode; 0 once no process holds it.
	Inode uint64 `json:"inode"`
	// UID is the socket owner's user id.
	UID uint32 `json:"uid"`
	// Process holds the socket, when found through /proc/*/fd.
	Process *DiagProcess `json:"process,omitempty"`
	// New is true when the connection opened during the window (or there
	// was one sample): its counts cover its whole life.
	New bool `json:"new,omitempty"`
	// Limits are every limit the connection is listed under.
	Limits []string `json:"limits"`
	// DataSegsOut is the data segments sent in the window, retransmissions
	// included (Linux 4.6+).
	DataSegsOut *uint64 `json:"data_segs_out,omitempty"`
	// RetransSegs is the segments retransmitted in the window
	// (tcpi_total_retrans).
	RetransSegs uint64 `json:"retrans_segs"`
	// RetransPct is RetransSegs against DataSegsOut, in percent.
	RetransPct *float64 `json:"retrans_pct,omitempty"`
	// RTOs counts retransmission timeouts in the window (Linux 6.7+): none
	// while segments were resent means fast recovery did the resending.
	RTOs *uint64 `json:"rtos,omitempty"`
	// DSACKDups counts retransmissions the peer reported it already had
	// (spurious), in the window.
	DSACKDups *uint64 `json:"dsack_dups,omitempty"`
	// ReordSeen counts reordering events in the window.
	ReordSeen *uint64 `json:"reord_seen,omitempty"`
	// SpuriousPct is DSACKDups against RetransSegs, in percent.
	SpuriousPct *float64 `json:"spurious_pct,omitempty"`
	// BytesSent is the bytes sent in the window, retransmissions included.
	BytesSent *uint64 `json:"bytes_sent,omitempty"`
	// BytesReceived is the bytes received in the window.
	BytesReceived *uint64 `json:"bytes_received,omitempty"`
	// RwndLimitedPct is the share of the busy time the peer's receive
	// window stalled the sender, in percent.
	RwndLimitedPct *float64 `json:"rwnd_limited_pct,omitempty"`
	// SndbufLimitedPct is the share of the busy time this socket's send
	// buffer stalled the sender, in percent.
	SndbufLimitedPct *float64 `json:"sndbuf_limited_pct,omitempty"`
	// BusyPct is the time the connection had data to send or in flight,
	// against the window, in percent; absent for a new connection.
	BusyPct *float64 `json:"busy_pct,omitempty"`
	// RTTMs is the smoothed round-trip time at the second sample, in ms.
	RTTMs float64 `json:"rtt_ms"`
	// MinRTTMs is the lowest round-trip time seen, in ms.
	MinRTTMs *float64 `json:"min_rtt_ms,omitempty"`
	// RTOMs is the retransmission timeout at the second sample, in ms.
	RTOMs float64 `json:"rto_ms"`
	// CAState is the congestion state: open, disorder, cwr, recovery, loss.
	CAState string `json:"ca_state"`
	// SndCwnd is the congestion window, in segments.
	SndCwnd uint32 `json:"snd_cwnd"`
	// NotsentBytes is data written and not yet sent.
	NotsentBytes *uint32 `json:"notsent_bytes,omitempty"`
	// DeliveryRateBps is the last delivery-rate sample, in bits per second.
	DeliveryRateBps *float64 `json:"delivery_rate_bps,omitempty"`
	// AppLimited says the application limited that sample.
	AppLimited *bool `json:"app_limited,omitempty"`
	// RecvQBytes is data received and not yet read by the application.
	RecvQBytes uint32 `json:"recv_q_bytes"`
	// SendQBytes is data sent and not yet acknowledged by the peer.
	SendQBytes uint32 `json:"send_q_bytes"`
	// SndBufBytes is the socket's send buffer.
	SndBufBytes *uint32 `json:"sndbuf_bytes,omitempty"`
	// RcvBufBytes is the socket's receive buffer.
	RcvBufBytes *uint32 `json:"rcvbuf_bytes,omitempty"`
}

// NewDiagConnections converts the per-connection view; nil gives nil.
func NewDiagConnections(h *collectors.TCPHealth) *DiagConnections {
	if h == nil {
		return nil
	}
	out := &DiagConnections{WindowSeconds: Round(h.WindowSeconds, 3), Conns: h.Conns, New: h.New, Closed: h.Closed,
		NoInfo: h.NoInfo, Filter: h.Filter, Limits: make([]DiagConnLimit, 0, len(h.Limits))}
	for _, g := range h.Limits {
		l := DiagConnLimit{Limit: string(g.Limit), Count: len(g.Conns) + g.More, More: g.More, Conns: make([]DiagConn, 0, len(g.Conns))}
		for _, c := range g.Conns {
			l.Conns = append(l.Conns, NewDiagConn(c))
		}
		out.Limits = append(out.Limits, l)
	}
	return out
}

// NewDiagConn converts one connection of the view.
func NewDiagConn(c *collectors.TCPConnHealth) DiagConn {
	pct := func(r *float64) *float64 {
		if r == nil {
			return nil
		}
		v := Round(*r*100, 3)
		return &v
	}
	ms := func(us uint32) float64 { return Round(float64(us)/1000, 3) }
	d := DiagConn{Local: c.Local.String(), Remote: c.Remote.String(), State: c.State, Cookie: c.Cookie, Inode: c.Inode,
		UID: c.UID, New: c.New, Limits: make([]string, 0, len(c.Limits)),
		DataSegsOut: c.DataSegsOut, RetransSegs: c.RetransSegs, RetransPct: pct(c.RetransShare), RTOs: c.RTOs,
		DSACKDups: c.DSACKDups, ReordSeen: c.ReordSeen, SpuriousPct: pct(c.SpuriousShare),
		BytesSent: c.BytesSent, BytesReceived: c.BytesRecv,
		RwndLimitedPct: pct(c.RwndShare), SndbufLimitedPct: pct(c.SndbufShare), BusyPct: pct(c.BusyShare),
		RTTMs: ms(c.RTTUs), RTOMs: ms(c.RTOUs), CAState: c.CAState, SndCwnd: c.SndCwnd, NotsentBytes: c.NotsentBytes,
		AppLimited: c.AppLimited, RecvQBytes: c.RecvQ, SendQBytes: c.SendQ, SndBufBytes: c.SndBuf, RcvBufBytes: c.RcvBuf}
	for _, l := range c.Limits {
		d.Limits = append(d.Limits, string(l))
	}
	if c.Process != nil {
		d.Process = &DiagProcess{PID: c.Process.PID, Comm: c.Process.Comm}
	}
	if c.MinRTTUs != nil {
		v := ms(*c.MinRTTUs)
		d.MinRTTMs = &v
	}
	if c.DeliveryRate != nil {
		v := Round(float64(*c.DeliveryRate)*8, 3)
		d.DeliveryRateBps = &v
	}
	return d
}
