package metrics

import (
	"cmp"
	"slices"
	"sync"

	"github.com/netdx/netdx/internal/promql"
	"github.com/netdx/netdx/internal/promtext"
)

// Def describes one metric netdx exports. docs/prometheus.md lists them,
// generated from Defs. Definitions are plain data: nothing is built for
// them when netdx starts.
type Def struct {
	promtext.Desc
	// Serve is true for metrics of netdx's own health that only `netdx
	// serve` exports.
	Serve bool
}

const (
	counter = promtext.Counter
	gauge   = promtext.Gauge
)

// defs is every definition: the ones exported and documented. A metric
// missing here is refused when emitted, as a registry refuses a metric it
// was not told of.
var defs = []*Def{
	mBuildInfo, mReportTS, mWindow, mFinding, mFindings, mCheck, mSkipped,
	mNetstat, mNetstatGauge, mSoftProcessed, mSoftDropped, mSoftSqueezed, mSoftRPS, mSoftFlowLimit, mSoftBacklog,
	mIfaceInfo, mIfaceLineRate, mIfaceMTU, mIfaceTxQLen, mIfaceSpeed, mIfaceQueues, mIfaceCarrier, mIfaceStat,
	mRing, mRingMax, mChannels, mChannelsMax, mOffload, mNICDrops,
	mQdiscBytes, mQdiscPackets, mQdiscDrops, mQdiscOver, mQdiscRequeues, mQdiscBacklog, mQdiscQlen,
	mSysctl, mSysctlInfo, mListenQueue, mListenBacklog, mListenDrops, mTCPConns, mTCPLimited,
	mSockets, mSockMemPages, mSockMemBytes, mCtEntries, mCtLimit, mCtBuckets, mCtStat,
	mMPTCPEnabled, mMPTCPInfo, mMPTCPLimit, mMPTCPEndpoint, mMPTCPConns, mMPTCPSubflows,
	mTraceInfo, mTraceTS, mTraceRounds, mTraceReached, mTraceDestHop,
	mHopLoss, mHopRateLimited, mHopSent, mHopRecv, mHopRTTAvg, mHopRTTBest, mHopRTTWorst, mHopRTTP50, mHopRTTP95, mHopRTTStdev, mHopJitter,
	mCollectorDur, mCollectorOK, mCollectorFail, mSamples, mSampleDur, mSampleTS, mEvaluations, mEvaluationTS,
	mTraceRuns, mTraceFailures, mTraceDuration, mTraceSuccessTS,
	mDrops, mDropsUnplaced, mDropsSource,
}

var (
	listedOnce sync.Once
	listedSet  map[*Def]bool
)

// listed says whether d is in defs; the set is built on first use.
func listed(d *Def) bool {
	listedOnce.Do(func() {
		listedSet = make(map[*Def]bool, len(defs))
		for _, d := range defs {
			listedSet[d] = true
		}
	})
	return listedSet[d]
}

// Defs returns every metric definition, sorted by name.
func Defs() []Def {
	out := make([]Def, len(defs))
	for i, d := range defs {
		out[i] = *d
	}
	slices.SortFunc(out, func(a, b Def) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// The report's own metrics.
var (
	mBuildInfo = &Def{Desc: promtext.Desc{Name: "netdx_build_info", Type: gauge, Labels: []string{"version", "commit", "goversion"}, Help: "Always 1; the labels identify the netdx build."}}
	mReportTS  = &Def{Desc: promtext.Desc{Name: "netdx_report_timestamp_seconds", Type: gauge, Help: "When the report these metrics come from was finished (Unix time)."}}
	mWindow    = &Def{Desc: promtext.Desc{Name: "netdx_report_window_seconds", Type: gauge, Help: "Time between the two host samples the findings were judged over; absent before the first window completes."}}
	mFinding   = &Def{Desc: promtext.Desc{Name: promql.MetricFinding, Type: gauge, Labels: []string{"id", "severity", "subject"}, Help: "1 for each finding of the latest evaluation; a finding that no longer stands disappears."}}
	mFindings  = &Def{Desc: promtext.Desc{Name: "netdx_findings", Type: gauge, Labels: []string{"severity"}, Help: "Number of findings of the latest evaluation at each severity."}}
	mCheck     = &Def{Desc: promtext.Desc{Name: "netdx_check", Type: gauge, Labels: []string{"source", "layer", "name", "status"}, Help: "1 for each check of the latest evaluation; status is ok, finding or not_checked."}}
	mSkipped   = &Def{Desc: promtext.Desc{Name: "netdx_source_skipped", Type: gauge, Labels: []string{"source", "reason"}, Help: "1 for each source netdx could not read; reason is permission, unsupported, absent or error."}}
)

// Host counters and settings.
var (
	mNetstat        = &Def{Desc: promtext.Desc{Name: promql.MetricNetstat, Type: counter, Labels: []string{"section", "name"}, Help: "Every counter of /proc/net/netstat, snmp and snmp6 by the kernel's section and name."}}
	mNetstatGauge   = &Def{Desc: promtext.Desc{Name: "netdx_netstat", Type: gauge, Labels: []string{"section", "name"}, Help: "Levels and settings of /proc/net/snmp (Tcp.CurrEstab, Tcp.RtoMin, Ip.Forwarding, ...)."}}
	mSoftProcessed  = &Def{Desc: promtext.Desc{Name: "netdx_softnet_processed_packets_total", Type: counter, Labels: []string{"cpu"}, Help: "Packets processed by the CPU's receive softirq (softnet_stat column 1)."}}
	mSoftDropped    = &Def{Desc: promtext.Desc{Name: promql.MetricSoftnetDropped, Type: counter, Labels: []string{"cpu"}, Help: "Packets dropped because the CPU's input backlog (net.core.netdev_max_backlog) was full."}}
	mSoftSqueezed   = &Def{Desc: promtext.Desc{Name: promql.MetricSoftnetSqueeze, Type: counter, Labels: []string{"cpu"}, Help: "Receive softirq runs that ended with work left because the budget ran out."}}
	mSoftRPS        = &Def{Desc: promtext.Desc{Name: "netdx_softnet_received_rps_packets_total", Type: counter, Labels: []string{"cpu"}, Help: "Packets steered to the CPU by RPS/RFS."}}
	mSoftFlowLimit  = &Def{Desc: promtext.Desc{Name: promql.MetricSoftnetFlowLim, Type: counter, Labels: []string{"cpu"}, Help: "Packets dropped by the RPS flow limit."}}
	mSoftBacklog    = &Def{Desc: promtext.Desc{Name: "netdx_softnet_backlog_packets", Type: gauge, Labels: []string{"cpu"}, Help: "Packets in the CPU's input and process queues now (5.10+)."}}
	mIfaceInfo      = &Def{Desc: promtext.Desc{Name: "netdx_interface_info", Type: gauge, Labels: []string{"interface", "kind", "operstate", "master", "driver", "duplex"}, Help: "Always 1; the labels describe the interface."}}
	mIfaceLineRate  = &Def{Desc: promtext.Desc{Name: promql.MetricIfaceLineRate, Type: gauge, Labels: []string{"interface"}, Help: "1 when the interface's speed is a physical line rate (hardware), 0 for a virtual device's nominal speed."}}
	mIfaceMTU       = &Def{Desc: promtext.Desc{Name: "netdx_interface_mtu_bytes", Type: gauge, Labels: []string{"interface"}, Help: "Interface MTU."}}
	mIfaceTxQLen    = &Def{Desc: promtext.Desc{Name: "netdx_interface_tx_queue_length_packets", Type: gauge, Labels: []string{"interface"}, Help: "Interface txqueuelen."}}
	mIfaceSpeed     = &Def{Desc: promtext.Desc{Name: promql.MetricIfaceSpeed, Type: gauge, Labels: []string{"interface"}, Help: "Negotiated link speed, when the driver reports one."}}
	mIfaceQueues    = &Def{Desc: promtext.Desc{Name: "netdx_interface_queues", Type: gauge, Labels: []string{"interface", "direction"}, Help: "Number of device queues."}}
	mIfaceCarrier   = &Def{Desc: promtext.Desc{Name: promql.MetricIfaceCarrier, Type: counter, Labels: []string{"interface"}, Help: "Link up/down transitions (sysfs carrier_changes)."}}
	mIfaceStat      = &Def{Desc: promtext.Desc{Name: promql.MetricIfaceStat, Type: counter, Labels: []string{"interface", "stat"}, Help: "Every interface counter by its rtnl_link_stats64 name (rx_packets, rx_bytes, rx_dropped, rx_missed_errors, ...)."}}
	mRing           = &Def{Desc: promtext.Desc{Name: "netdx_nic_ring_entries", Type: gauge, Labels: []string{"interface", "direction"}, Help: "Current descriptor ring size (ethtool -g)."}}
	mRingMax        = &Def{Desc: promtext.Desc{Name: "netdx_nic_ring_max_entries", Type: gauge, Labels: []string{"interface", "direction"}, Help: "Largest descriptor ring size the driver allows."}}
	mChannels       = &Def{Desc: promtext.Desc{Name: "netdx_nic_channels", Type: gauge, Labels: []string{"interface", "type"}, Help: "Current queue (channel) count by type (ethtool -l)."}}
	mChannelsMax    = &Def{Desc: promtext.Desc{Name: "netdx_nic_channels_max", Type: gauge, Labels: []string{"interface", "type"}, Help: "Largest queue count by type the driver allows."}}
	mOffload        = &Def{Desc: promtext.Desc{Name: "netdx_nic_offload_enabled", Type: gauge, Labels: []string{"interface", "feature"}, Help: "1 when the offload (rx-gro, rx-lro, tx-tcp-segmentation, ...) is active."}}
	mNICDrops       = &Def{Desc: promtext.Desc{Name: promql.MetricNICDrops, Type: counter, Labels: []string{"interface", "stat", "queue", "direction", "kind"}, Help: "Driver statistics (ethtool -S) that count drops, by the driver's name, queue (empty: device-wide), direction and kind (ring, port, tx, allowance, other)."}}
	mQdiscBytes     = &Def{Desc: promtext.Desc{Name: "netdx_qdisc_sent_bytes_total", Type: counter, Labels: []string{"interface", "kind", "handle", "parent"}, Help: "Bytes the qdisc sent."}}
	mQdiscPackets   = &Def{Desc: promtext.Desc{Name: promql.MetricQdiscSent, Type: counter, Labels: []string{"interface", "kind", "handle", "parent"}, Help: "Packets the qdisc sent (32-bit in the kernel)."}}
	mQdiscDrops     = &Def{Desc: promtext.Desc{Name: promql.MetricQdiscDropped, Type: counter, Labels: []string{"interface", "kind", "handle", "parent"}, Help: "Packets the qdisc dropped (32-bit in the kernel)."}}
	mQdiscOver      = &Def{Desc: promtext.Desc{Name: "netdx_qdisc_overlimits_total", Type: counter, Labels: []string{"interface", "kind", "handle", "parent"}, Help: "Times the qdisc was over its limit (32-bit in the kernel)."}}
	mQdiscRequeues  = &Def{Desc: promtext.Desc{Name: promql.MetricQdiscRequeued, Type: counter, Labels: []string{"interface", "kind", "handle", "parent"}, Help: "Packets the driver refused and the qdisc requeued (32-bit in the kernel)."}}
	mQdiscBacklog   = &Def{Desc: promtext.Desc{Name: promql.MetricQdiscBacklog, Type: gauge, Labels: []string{"interface", "kind", "handle", "parent"}, Help: "Bytes queued in the qdisc now."}}
	mQdiscQlen      = &Def{Desc: promtext.Desc{Name: promql.MetricQdiscQlen, Type: gauge, Labels: []string{"interface", "kind", "handle", "parent"}, Help: "Packets queued in the qdisc now."}}
	mSysctl         = &Def{Desc: promtext.Desc{Name: promql.MetricSysctl, Type: gauge, Labels: []string{"name", "index"}, Help: "Numeric settings netdx reads, one series per integer (index 0, 1, 2 of tcp_mem, ...)."}}
	mSysctlInfo     = &Def{Desc: promtext.Desc{Name: "netdx_sysctl_info", Type: gauge, Labels: []string{"name", "value"}, Help: "Always 1; textual settings (tcp_congestion_control, default_qdisc, ...)."}}
	mListenQueue    = &Def{Desc: promtext.Desc{Name: "netdx_tcp_listen_queue_connections", Type: gauge, Labels: []string{"address", "process"}, Help: "Connections waiting for accept() on the listening address now (summed over its sockets)."}}
	mListenBacklog  = &Def{Desc: promtext.Desc{Name: "netdx_tcp_listen_backlog_connections", Type: gauge, Labels: []string{"address", "process"}, Help: "Accept queue limit of the listening address (summed over its sockets)."}}
	mListenDrops    = &Def{Desc: promtext.Desc{Name: "netdx_tcp_listen_dropped_connections_total", Type: counter, Labels: []string{"address", "process"}, Help: "Connections the listening sockets dropped since they were created (SK_MEMINFO_DROPS)."}}
	mTCPConns       = &Def{Desc: promtext.Desc{Name: "netdx_tcp_connections", Type: gauge, Help: "TCP connections carrying data (established or closing) at the second sample, those --conn matched."}}
	mTCPLimited     = &Def{Desc: promtext.Desc{Name: "netdx_tcp_connections_limited", Type: gauge, Labels: []string{"limit"}, Help: "TCP connections a limit held back over the window, from each one's tcp_info: retransmitting, reordering, rwnd_limited, sndbuf_limited, app_limited. Counts only: connections are not labels."}}
	mSockets        = &Def{Desc: promtext.Desc{Name: promql.MetricSockstat, Type: gauge, Labels: []string{"protocol", "state"}, Help: "Sockets by protocol and state (/proc/net/sockstat and sockstat6: inuse, orphan, tw, alloc, used)."}}
	mSockMemPages   = &Def{Desc: promtext.Desc{Name: promql.MetricSockstatMem, Type: gauge, Labels: []string{"protocol"}, Help: "Memory the protocol's sockets hold, in pages (compare with net.ipv4.tcp_mem and udp_mem)."}}
	mSockMemBytes   = &Def{Desc: promtext.Desc{Name: "netdx_sockstat_memory_bytes", Type: gauge, Labels: []string{"protocol"}, Help: "Memory the protocol holds in bytes (FRAG reassembly)."}}
	mCtEntries      = &Def{Desc: promtext.Desc{Name: promql.MetricConntrackCount, Type: gauge, Help: "Connections tracked by netfilter (nf_conntrack_count)."}}
	mCtLimit        = &Def{Desc: promtext.Desc{Name: promql.MetricConntrackMax, Type: gauge, Help: "Limit of the conntrack table (nf_conntrack_max)."}}
	mCtBuckets      = &Def{Desc: promtext.Desc{Name: "netdx_conntrack_buckets", Type: gauge, Help: "Size of the conntrack hash table (nf_conntrack_buckets)."}}
	mCtStat         = &Def{Desc: promtext.Desc{Name: promql.MetricConntrackStat, Type: counter, Labels: []string{"stat"}, Help: "Statistics of /proc/net/stat/nf_conntrack summed over CPUs (drop, early_drop, insert_failed, invalid, ...; 32-bit per CPU in the kernel)."}}
	mMPTCPEnabled   = &Def{Desc: promtext.Desc{Name: "netdx_mptcp_enabled", Type: gauge, Help: "1 when net.mptcp.enabled is on."}}
	mMPTCPInfo      = &Def{Desc: promtext.Desc{Name: promql.MetricMPTCPInfo, Type: gauge, Labels: []string{"path_manager", "scheduler"}, Help: "Always 1; the path manager and scheduler new MPTCP connections get."}}
	mMPTCPLimit     = &Def{Desc: promtext.Desc{Name: promql.MetricMPTCPLimit, Type: gauge, Labels: []string{"limit"}, Help: "Limits of the in-kernel path manager (subflows, add_addr_accepted)."}}
	mMPTCPEndpoint  = &Def{Desc: promtext.Desc{Name: promql.MetricMPTCPEndpoint, Type: gauge, Labels: []string{"id", "address", "interface", "flags"}, Help: "Always 1; one series per path manager endpoint, flags comma-separated."}}
	mMPTCPConns     = &Def{Desc: promtext.Desc{Name: "netdx_mptcp_connections", Type: gauge, Help: "Established MPTCP connections."}}
	mMPTCPSubflows  = &Def{Desc: promtext.Desc{Name: "netdx_mptcp_subflows", Type: gauge, Help: "Live subflows of the established MPTCP connections, initial ones included."}}
	mTraceInfo      = &Def{Desc: promtext.Desc{Name: "netdx_trace_info", Type: gauge, Labels: []string{"target", "ip", "method", "sockets"}, Help: "Always 1; how the target was traced."}}
	mTraceTS        = &Def{Desc: promtext.Desc{Name: "netdx_trace_timestamp_seconds", Type: gauge, Labels: []string{"target"}, Help: "When the latest trace of the target ended (Unix time)."}}
	mTraceRounds    = &Def{Desc: promtext.Desc{Name: "netdx_trace_rounds", Type: gauge, Labels: []string{"target"}, Help: "Rounds (probes per hop) of the latest trace."}}
	mTraceReached   = &Def{Desc: promtext.Desc{Name: "netdx_trace_destination_reached", Type: gauge, Labels: []string{"target"}, Help: "1 when the destination answered in the latest trace."}}
	mTraceDestHop   = &Def{Desc: promtext.Desc{Name: "netdx_trace_destination_hop", Type: gauge, Labels: []string{"target"}, Help: "Hop (TTL) at which the destination answered."}}
	mHopLoss        = &Def{Desc: promtext.Desc{Name: "netdx_trace_hop_loss_ratio", Type: gauge, Labels: []string{"target", "hop", "address"}, Help: "Share of the latest trace's probes at the hop that got no answer (0-1), leaving out those its ICMP rate limit explains."}}
	mHopRateLimited = &Def{Desc: promtext.Desc{Name: "netdx_trace_hop_rate_limited_probes", Type: gauge, Labels: []string{"target", "hop", "address"}, Help: "Unanswered probes of the latest trace at the hop that its ICMP rate limit explains: not loss."}}
	mHopSent        = &Def{Desc: promtext.Desc{Name: "netdx_trace_hop_sent_probes", Type: gauge, Labels: []string{"target", "hop", "address"}, Help: "Probes the latest trace sent at the hop."}}
	mHopRecv        = &Def{Desc: promtext.Desc{Name: "netdx_trace_hop_received_probes", Type: gauge, Labels: []string{"target", "hop", "address"}, Help: "Answers the latest trace got at the hop."}}
	mHopRTTAvg      = &Def{Desc: promtext.Desc{Name: "netdx_trace_hop_rtt_avg_seconds", Type: gauge, Labels: []string{"target", "hop", "address"}, Help: "Mean round trip time at the hop."}}
	mHopRTTBest     = &Def{Desc: promtext.Desc{Name: "netdx_trace_hop_rtt_best_seconds", Type: gauge, Labels: []string{"target", "hop", "address"}, Help: "Shortest round trip time at the hop."}}
	mHopRTTWorst    = &Def{Desc: promtext.Desc{Name: "netdx_trace_hop_rtt_worst_seconds", Type: gauge, Labels: []string{"target", "hop", "address"}, Help: "Longest round trip time at the hop."}}
	mHopRTTP50      = &Def{Desc: promtext.Desc{Name: "netdx_trace_hop_rtt_p50_seconds", Type: gauge, Labels: []string{"target", "hop", "address"}, Help: "Median round trip time at the hop (nearest rank)."}}
	mHopRTTP95      = &Def{Desc: promtext.Desc{Name: "netdx_trace_hop_rtt_p95_seconds", Type: gauge, Labels: []string{"target", "hop", "address"}, Help: "95th percentile round trip time at the hop (nearest rank)."}}
	mHopRTTStdev    = &Def{Desc: promtext.Desc{Name: "netdx_trace_hop_rtt_stdev_seconds", Type: gauge, Labels: []string{"target", "hop", "address"}, Help: "Standard deviation of the round trip times at the hop."}}
	mHopJitter      = &Def{Desc: promtext.Desc{Name: "netdx_trace_hop_jitter_seconds", Type: gauge, Labels: []string{"target", "hop", "address"}, Help: "Mean absolute difference between consecutive round trip times at the hop."}}
	mCollectorDur   = &Def{Serve: true, Desc: promtext.Desc{Name: "netdx_collector_duration_seconds", Type: gauge, Labels: []string{"collector"}, Help: "How long the collector took in the latest host sample."}}
	mCollectorOK    = &Def{Serve: true, Desc: promtext.Desc{Name: "netdx_collector_last_success_timestamp_seconds", Type: gauge, Labels: []string{"collector"}, Help: "When the collector last ran without failing (Unix time); a source skipped for lack of support or privilege is not a failure."}}
	mCollectorFail  = &Def{Serve: true, Desc: promtext.Desc{Name: "netdx_collector_failures_total", Type: counter, Labels: []string{"collector"}, Help: "Host samples in which the collector failed."}}
	mSamples        = &Def{Serve: true, Desc: promtext.Desc{Name: "netdx_host_samples_total", Type: counter, Help: "Host samples taken."}}
	mSampleDur      = &Def{Serve: true, Desc: promtext.Desc{Name: "netdx_host_sample_duration_seconds", Type: gauge, Help: "How long the latest host sample took."}}
	mSampleTS       = &Def{Serve: true, Desc: promtext.Desc{Name: "netdx_host_last_sample_timestamp_seconds", Type: gauge, Help: "When the latest host sample was taken (Unix time)."}}
	mEvaluations    = &Def{Serve: true, Desc: promtext.Desc{Name: "netdx_evaluations_total", Type: counter, Help: "Evaluations of the rules."}}
	mEvaluationTS   = &Def{Serve: true, Desc: promtext.Desc{Name: "netdx_last_evaluation_timestamp_seconds", Type: gauge, Help: "When the rules were last evaluated (Unix time)."}}
	mTraceRuns      = &Def{Serve: true, Desc: promtext.Desc{Name: "netdx_trace_runs_total", Type: counter, Labels: []string{"target"}, Help: "Traces of the target run."}}
	mTraceFailures  = &Def{Serve: true, Desc: promtext.Desc{Name: "netdx_trace_failures_total", Type: counter, Labels: []string{"target"}, Help: "Traces of the target that failed (resolution, sockets)."}}
	mTraceDuration  = &Def{Serve: true, Desc: promtext.Desc{Name: "netdx_trace_duration_seconds", Type: gauge, Labels: []string{"target"}, Help: "How long the latest trace of the target took."}}
	mTraceSuccessTS = &Def{Serve: true, Desc: promtext.Desc{Name: "netdx_trace_last_success_timestamp_seconds", Type: gauge, Labels: []string{"target"}, Help: "When a trace of the target last completed (Unix time)."}}
)
