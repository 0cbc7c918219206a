package collectors

import "encoding/binary"

// TCPInfo holds the fields of struct tcp_info (include/uapi/linux/tcp.h)
// netdx reads, as sock_diag's INET_DIAG_INFO attribute carries it. The
// kernel appends fields release after release and sends its own struct's
// size, so Len says which fields this kernel has: a field past Len is
// absent, left zero, and Has reports false for it. Distributions backport
// fields, so presence is judged by length, never by kernel version.
//
// Counters are cumulative since the connection opened; times are in
// microseconds unless named otherwise; the rest are values at the moment
// of the dump. A dump holds one per connection, so the struct keeps only
// what the per-connection view uses.
type TCPInfo struct {
	// Len is the number of bytes of struct tcp_info the kernel sent; 0
	// when the socket had none.
	Len int

	State   uint8
	CAState uint8 // TCP_CA_Open 0, Disorder 1, CWR 2, Recovery 3, Loss 4
	// Retransmits is the number of consecutive RTOs of the segment now
	// at the head of the queue (tcpi_retransmits), Backoff the RTO's
	// exponential backoff.
	Retransmits, Backoff uint8
	// AppLimited says the last delivery-rate sample was taken while the
	// application, not the network, limited the sending (4.9).
	AppLimited bool

	RTO, SndMSS uint32
	// Lost and Retrans are segments now: presumed lost, and retransmitted
	// and not yet acknowledged.
	Lost, Retrans        uint32
	RTT, RTTVar          uint32 // smoothed round-trip time and its variation
	SndSsthresh, SndCwnd uint32 // segments
	// TotalRetrans counts the segments retransmitted (32 bits: it wraps).
	TotalRetrans uint32

	BytesAcked, BytesReceived uint64 // 4.1
	SegsOut                   uint32 // 4.2; every segment, pure ACKs included
	// NotsentBytes is data written by the application and not yet sent
	// (4.6); MinRTT the lowest RTT seen.
	NotsentBytes, MinRTT uint32
	// DataSegsOut counts segments sent carrying data, retransmissions
	// included (4.6).
	DataSegsOut  uint32
	DeliveryRate uint64 // bytes per second (4.9)
	// BusyTime is the time the connection had data to send or in flight;
	// RwndLimited and SndbufLimited the parts of it spent stalled by the
	// peer's receive window and by this socket's send buffer (4.10).
	BusyTime, RwndLimited, SndbufLimited uint64
	// BytesSent counts data bytes sent, retransmissions included;
	// BytesRetrans the retransmitted ones (4.19).
	BytesSent, BytesRetrans uint64
	// DSACKDups counts segments the peer reported received twice (D-SACK):
	// retransmissions that were not needed. ReordSeen counts reordering
	// events the sender detected (4.19).
	DSACKDups, ReordSeen uint32
	RcvOOOPack           uint32 // out-of-order segments received (5.4)
	SndWnd               uint32 // the peer's advertised window, bytes (5.4)
	// TotalRTO counts retransmission timeouts, TotalRTORecoveries the
	// recoveries they started, TotalRTOTime the milliseconds spent in
	// them (6.7; 16-bit counts wrap).
	TotalRTO, TotalRTORecoveries uint16
	TotalRTOTime                 uint32
}

// TCPInfoField names a field of struct tcp_info by the offset where it
// ends: the kernel sent it when its struct is at least that long.
type TCPInfoField int

// Fields that arrived after the original struct, with the first mainline
// kernel that has them.
const (
	TCPInfoTotalRetrans  TCPInfoField = 104 // 2.6.12: everything up to total_retrans
	TCPInfoPacingRate    TCPInfoField = 120 // 3.15: pacing_rate, max_pacing_rate
	TCPInfoBytesAcked    TCPInfoField = 136 // 4.1: bytes_acked, bytes_received
	TCPInfoSegsOut       TCPInfoField = 144 // 4.2: segs_out, segs_in
	TCPInfoDataSegsOut   TCPInfoField = 160 // 4.6: notsent_bytes, min_rtt, data_segs_in/out
	TCPInfoDeliveryRate  TCPInfoField = 168 // 4.9: delivery_rate, delivery_rate_app_limited
	TCPInfoBusyTime      TCPInfoField = 192 // 4.10: busy_time, rwnd_limited, sndbuf_limited
	TCPInfoDelivered     TCPInfoField = 200 // 4.18: delivered, delivered_ce
	TCPInfoBytesRetrans  TCPInfoField = 224 // 4.19: bytes_sent, bytes_retrans, dsack_dups, reord_seen
	TCPInfoRcvOOOPack    TCPInfoField = 232 // 5.4: rcv_ooopack, snd_wnd
	TCPInfoRcvWnd        TCPInfoField = 240 // 6.2: rcv_wnd, rehash
	TCPInfoTotalRTO      TCPInfoField = 248 // 6.7: total_rto, total_rto_recoveries, total_rto_time
	sizeofTCPInfoDecoded              = int(TCPInfoTotalRTO)
)

// Has reports whether the kernel sent field f.
func (i *TCPInfo) Has(f TCPInfoField) bool { return i.Len >= int(f) }

// TCP congestion-avoidance states (tcpi_ca_state), by number.
var tcpCAStateNames = [...]string{"open", "disorder", "cwr", "recovery", "loss"}

// CAStateName names the congestion state ("recovery", "loss"); "" when
// unknown.
func (i *TCPInfo) CAStateName() string {
	if int(i.CAState) < len(tcpCAStateNames) {
		return tcpCAStateNames[i.CAState]
	}
	return ""
}

// decodeTCPInfo decodes the INET_DIAG_INFO attribute into i, which must
// be zero. A shorter struct (an older kernel) leaves the missing fields
// zero; a longer one (a newer kernel) has fields netdx does not read yet.
// A struct too short to hold even the original fields is not tcp_info:
// Len stays 0.
func decodeTCPInfo(i *TCPInfo, b []byte) {
	if len(b) < int(TCPInfoTotalRetrans) {
		return
	}
	i.Len = len(b)
	if len(b) < sizeofTCPInfoDecoded {
		var buf [sizeofTCPInfoDecoded]byte
		copy(buf[:], b)
		b = buf[:]
	}
	u32 := func(off int) uint32 { return binary.NativeEndian.Uint32(b[off:]) }
	u64 := func(off int) uint64 { return binary.NativeEndian.Uint64(b[off:]) }
	i.State, i.CAState, i.Retransmits, i.Backoff = b[0], b[1], b[2], b[4]
	i.AppLimited = b[7]&1 != 0
	i.RTO, i.SndMSS = u32(8), u32(16)
	i.Lost, i.Retrans = u32(32), u32(36)
	i.RTT, i.RTTVar, i.SndSsthresh, i.SndCwnd = u32(68), u32(72), u32(76), u32(80)
	i.TotalRetrans = u32(100)
	i.BytesAcked, i.BytesReceived = u64(120), u64(128)
	i.SegsOut = u32(136)
	i.NotsentBytes, i.MinRTT, i.DataSegsOut = u32(144), u32(148), u32(156)
	i.DeliveryRate = u64(160)
	i.BusyTime, i.RwndLimited, i.SndbufLimited = u64(168), u64(176), u64(184)
	i.BytesSent, i.BytesRetrans, i.DSACKDups, i.ReordSeen = u64(200), u64(208), u32(216), u32(220)
	i.RcvOOOPack, i.SndWnd = u32(224), u32(228)
	i.TotalRTO, i.TotalRTORecoveries = binary.NativeEndian.Uint16(b[240:]), binary.NativeEndian.Uint16(b[242:])
	i.TotalRTOTime = u32(244)
}
