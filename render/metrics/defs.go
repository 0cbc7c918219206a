package metrics

import (
	"sort"

	"github.com/netdx/netdx/internal/promql"

	"github.com/prometheus/client_golang/prometheus"
)

// Def describes one metric netdx exports. docs/prometheus.md lists them,
// generated from Defs.
type Def struct {
	Name   string
	Type   string // "counter" or "gauge"
	Labels []string
	Help   string
	// Serve is true for metrics of netdx's own health that only `netdx
	// serve` exports.
	Serve bool

	desc *prometheus.Desc
	vt   prometheus.ValueType
}

var defs []*Def

func def(name, typ, help string, labels ...string) *Def {
	d := &Def{Name: name, Type: typ, Labels: labels, Help: help, vt: prometheus.GaugeValue}
	if typ == "counter" {
		d.vt = prometheus.CounterValue
	}
	d.desc = prometheus.NewDesc(name, help, labels, nil)
	defs = append(defs, d)
	return d
}

func counter(name, help string, labels ...string) *Def { return def(name, "counter", help, labels...) }
func gauge(name, help string, labels ...string) *Def   { return def(name, "gauge", help, labels...) }

// serveOnly marks a definition as serve's own.
func serveOnly(d *Def) *Def { d.Serve = true; return d }

// Defs returns every metric definition, sorted by name.
func Defs() []Def {
	out := make([]Def, len(defs))
	for i, d := range defs {
		out[i] = *d
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// The report's own metrics.
var (
	mBuildInfo = gauge("netdx_build_info", "Always 1; the labels identify the netdx build.", "version", "commit", "goversion")
	mReportTS  = gauge("netdx_report_timestamp_seconds", "When the report these metrics come from was finished (Unix time).")
	mWindow    = gauge("netdx_report_window_seconds", "Time between the two host samples the findings were judged over; absent before the first window completes.")
	mFinding   = gauge(promql.MetricFinding, "1 for each finding of the latest evaluation; a finding that no longer stands disappears.", "id", "severity", "subject")
	mFindings  = gauge("netdx_findings", "Number of findings of the latest evaluation at each severity.", "severity")
	mCheck     = gauge("netdx_check", "1 for each check of the latest evaluation; status is ok, finding or not_checked.", "source", "layer", "name", "status")
	mSkipped   = gauge("netdx_source_skipped", "1 for each source netdx could not read; reason is permission, unsupported, absent or error.", "source", "reason")
)

// Host counters and settings.
var (
	mNetstat        = counter(promql.MetricNetstat, "Every counter of /proc/net/netstat, snmp and snmp6 by the kernel's section and name.", "section", "name")
	mNetstatGauge   = gauge("netdx_netstat", "Levels and settings of /proc/net/snmp (Tcp.CurrEstab, Tcp.RtoMin, Ip.Forwarding, ...).", "section", "name")
	mSoftProcessed  = counter("netdx_softnet_processed_packets_total", "Packets processed by the CPU's receive softirq (softnet_stat column 1).", "cpu")
	mSoftDropped    = counter(promql.MetricSoftnetDropped, "Packets dropped because the CPU's input backlog (net.core.netdev_max_backlog) was full.", "cpu")
	mSoftSqueezed   = counter(promql.MetricSoftnetSqueeze, "Receive softirq runs that ended with work left because the budget ran out.", "cpu")
	mSoftRPS        = counter("netdx_softnet_received_rps_packets_total", "Packets steered to the CPU by RPS/RFS.", "cpu")
	mSoftFlowLimit  = counter(promql.MetricSoftnetFlowLim, "Packets dropped by the RPS flow limit.", "cpu")
	mSoftBacklog    = gauge("netdx_softnet_backlog_packets", "Packets in the CPU's input and process queues now (5.10+).", "cpu")
	mIfaceInfo      = gauge("netdx_interface_info", "Always 1; the labels describe the interface.", "interface", "kind", "operstate", "master", "driver", "duplex")
	mIfaceLineRate  = gauge(promql.MetricIfaceLineRate, "1 when the interface's speed is a physical line rate (hardware), 0 for a virtual device's nominal speed.", "interface")
	mIfaceMTU       = gauge("netdx_interface_mtu_bytes", "Interface MTU.", "interface")
	mIfaceTxQLen    = gauge("netdx_interface_tx_queue_length_packets", "Interface txqueuelen.", "interface")
	mIfaceSpeed     = gauge(promql.MetricIfaceSpeed, "Negotiated link speed, when the driver reports one.", "interface")
	mIfaceQueues    = gauge("netdx_interface_queues", "Number of device queues.", "interface", "direction")
	mIfaceCarrier   = counter(promql.MetricIfaceCarrier, "Link up/down transitions (sysfs carrier_changes).", "interface")
	mIfaceStat      = counter(promql.MetricIfaceStat, "Every interface counter by its rtnl_link_stats64 name (rx_packets, rx_bytes, rx_dropped, rx_missed_errors, ...).", "interface", "stat")
	mRing           = gauge("netdx_nic_ring_entries", "Current descriptor ring size (ethtool -g).", "interface", "direction")
	mRingMax        = gauge("netdx_nic_ring_max_entries", "Largest descriptor ring size the driver allows.", "interface", "direction")
	mChannels       = gauge("netdx_nic_channels", "Current queue (channel) count by type (ethtool -l).", "interface", "type")
	mChannelsMax    = gauge("netdx_nic_channels_max", "Largest queue count by type the driver allows.", "interface", "type")
	mOffload        = gauge("netdx_nic_offload_enabled", "1 when the offload (rx-gro, rx-lro, tx-tcp-segmentation, ...) is active.", "interface", "feature")
	mNICDrops       = counter(promql.MetricNICDrops, "Driver statistics (ethtool -S) that count drops, by the driver's name, queue (empty: device-wide), direction and kind (ring, port, tx, allowance, other).", "interface", "stat", "queue", "direction", "kind")
	mQdiscBytes     = counter("netdx_qdisc_sent_bytes_total", "Bytes the qdisc sent.", "interface", "kind", "handle", "parent")
	mQdiscPackets   = counter(promql.MetricQdiscSent, "Packets the qdisc sent (32-bit in the kernel).", "interface", "kind", "handle", "parent")
	mQdiscDrops     = counter(promql.MetricQdiscDropped, "Packets the qdisc dropped (32-bit in the kernel).", "interface", "kind", "handle", "parent")
	mQdiscOver      = counter("netdx_qdisc_overlimits_total", "Times the qdisc was over its limit (32-bit in the kernel).", "interface", "kind", "handle", "parent")
	mQdiscRequeues  = counter(promql.MetricQdiscRequeued, "Packets the driver refused and the qdisc requeued (32-bit in the kernel).", "interface", "kind", "handle", "parent")
	mQdiscBacklog   = gauge(promql.MetricQdiscBacklog, "Bytes queued in the qdisc now.", "interface", "kind", "handle", "parent")
	mQdiscQlen      = gauge(promql.MetricQdiscQlen, "Packets queued in the qdisc now.", "interface", "kind", "handle", "parent")
	mSysctl         = gauge(promql.MetricSysctl, "Numeric settings netdx reads, one series per integer (index 0, 1, 2 of tcp_mem, ...).", "name", "index")
	mSysctlInfo     = gauge("netdx_sysctl_info", "Always 1; textual settings (tcp_congestion_control, default_qdisc, ...).", "name", "value")
	mListenQueue    = gauge("netdx_tcp_listen_queue_connections", "Connections waiting for accept() on the listening address now (summed over its sockets).", "address", "process")
	mListenBacklog  = gauge("netdx_tcp_listen_backlog_connections", "Accept queue limit of the listening address (summed over its sockets).", "address", "process")
	mListenDrops    = counter("netdx_tcp_listen_dropped_connections_total", "Connections the listening sockets dropped since they were created (SK_MEMINFO_DROPS).", "address", "process")
	mSockets        = gauge(promql.MetricSockstat, "Sockets by protocol and state (/proc/net/sockstat and sockstat6: inuse, orphan, tw, alloc, used).", "protocol", "state")
	mSockMemPages   = gauge(promql.MetricSockstatMem, "Memory the protocol's sockets hold, in pages (compare with net.ipv4.tcp_mem and udp_mem).", "protocol")
	mSockMemBytes   = gauge("netdx_sockstat_memory_bytes", "Memory the protocol holds in bytes (FRAG reassembly).", "protocol")
	mCtEntries      = gauge(promql.MetricConntrackCount, "Connections tracked by netfilter (nf_conntrack_count).")
	mCtLimit        = gauge(promql.MetricConntrackMax, "Limit of the conntrack table (nf_conntrack_max).")
	mCtBuckets      = gauge("netdx_conntrack_buckets", "Size of the conntrack hash table (nf_conntrack_buckets).")
	mCtStat         = counter(promql.MetricConntrackStat, "Statistics of /proc/net/stat/nf_conntrack summed over CPUs (drop, early_drop, insert_failed, invalid, ...; 32-bit per CPU in the kernel).", "stat")
	mMPTCPEnabled   = gauge("netdx_mptcp_enabled", "1 when net.mptcp.enabled is on.")
	mMPTCPInfo      = gauge(promql.MetricMPTCPInfo, "Always 1; the path manager and scheduler new MPTCP connections get.", "path_manager", "scheduler")
	mMPTCPLimit     = gauge(promql.MetricMPTCPLimit, "Limits of the in-kernel path manager (subflows, add_addr_accepted).", "limit")
	mMPTCPEndpoint  = gauge(promql.MetricMPTCPEndpoint, "Always 1; one series per path manager endpoint, flags comma-separated.", "id", "address", "interface", "flags")
	mMPTCPConns     = gauge("netdx_mptcp_connections", "Established MPTCP connections.")
	mMPTCPSubflows  = gauge("netdx_mptcp_subflows", "Live subflows of the established MPTCP connections, initial ones included.")
	mTraceInfo      = gauge("netdx_trace_info", "Always 1; how the target was traced.", "target", "ip", "method", "sockets")
	mTraceTS        = gauge("netdx_trace_timestamp_seconds", "When the latest trace of the target ended (Unix time).", "target")
	mTraceRounds    = gauge("netdx_trace_rounds", "Rounds (probes per hop) of the latest trace.", "target")
	mTraceReached   = gauge("netdx_trace_destination_reached", "1 when the destination answered in the latest trace.", "target")
	mTraceDestHop   = gauge("netdx_trace_destination_hop", "Hop (TTL) at which the destination answered.", "target")
	mHopLoss        = gauge("netdx_trace_hop_loss_ratio", "Share of the latest trace's probes at the hop that got no answer (0-1), leaving out those its ICMP rate limit explains.", "target", "hop", "address")
	mHopRateLimited = gauge("netdx_trace_hop_rate_limited_probes", "Unanswered probes of the latest trace at the hop that its ICMP rate limit explains: not loss.", "target", "hop", "address")
	mHopSent        = gauge("netdx_trace_hop_sent_probes", "Probes the latest trace sent at the hop.", "target", "hop", "address")
	mHopRecv        = gauge("netdx_trace_hop_received_probes", "Answers the latest trace got at the hop.", "target", "hop", "address")
	mHopRTTAvg      = gauge("netdx_trace_hop_rtt_avg_seconds", "Mean round trip time at the hop.", "target", "hop", "address")
	mHopRTTBest     = gauge("netdx_trace_hop_rtt_best_seconds", "Shortest round trip time at the hop.", "target", "hop", "address")
	mHopRTTWorst    = gauge("netdx_trace_hop_rtt_worst_seconds", "Longest round trip time at the hop.", "target", "hop", "address")
	mHopRTTP50      = gauge("netdx_trace_hop_rtt_p50_seconds", "Median round trip time at the hop (nearest rank).", "target", "hop", "address")
	mHopRTTP95      = gauge("netdx_trace_hop_rtt_p95_seconds", "95th percentile round trip time at the hop (nearest rank).", "target", "hop", "address")
	mHopRTTStdev    = gauge("netdx_trace_hop_rtt_stdev_seconds", "Standard deviation of the round trip times at the hop.", "target", "hop", "address")
	mHopJitter      = gauge("netdx_trace_hop_jitter_seconds", "Mean absolute difference between consecutive round trip times at the hop.", "target", "hop", "address")
	mCollectorDur   = serveOnly(gauge("netdx_collector_duration_seconds", "How long the collector took in the latest host sample.", "collector"))
	mCollectorOK    = serveOnly(gauge("netdx_collector_last_success_timestamp_seconds", "When the collector last ran without failing (Unix time); a source skipped for lack of support or privilege is not a failure.", "collector"))
	mCollectorFail  = serveOnly(counter("netdx_collector_failures_total", "Host samples in which the collector failed.", "collector"))
	mSamples        = serveOnly(counter("netdx_host_samples_total", "Host samples taken."))
	mSampleDur      = serveOnly(gauge("netdx_host_sample_duration_seconds", "How long the latest host sample took."))
	mSampleTS       = serveOnly(gauge("netdx_host_last_sample_timestamp_seconds", "When the latest host sample was taken (Unix time)."))
	mEvaluations    = serveOnly(counter("netdx_evaluations_total", "Evaluations of the rules."))
	mEvaluationTS   = serveOnly(gauge("netdx_last_evaluation_timestamp_seconds", "When the rules were last evaluated (Unix time)."))
	mTraceRuns      = serveOnly(counter("netdx_trace_runs_total", "Traces of the target run.", "target"))
	mTraceFailures  = serveOnly(counter("netdx_trace_failures_total", "Traces of the target that failed (resolution, sockets).", "target"))
	mTraceDuration  = serveOnly(gauge("netdx_trace_duration_seconds", "How long the latest trace of the target took.", "target"))
	mTraceSuccessTS = serveOnly(gauge("netdx_trace_last_success_timestamp_seconds", "When a trace of the target last completed (Unix time).", "target"))
)
