package collectors

import "testing"

func TestClassifyStat(t *testing.T) {
	for _, tc := range []struct {
		name  string
		queue int
		dir   string
		drop  bool
		kind  string
		xdp   bool
	}{
		// ixgbe
		{"rx_missed_errors", -1, "rx", true, "ring", false},
		{"rx_no_buffer_count", -1, "rx", true, "ring", false},
		{"rx_fifo_errors", -1, "rx", true, "ring", false},
		{"tx_restart_queue", -1, "tx", false, "tx_pressure", false},
		{"tx_busy", -1, "tx", false, "tx_pressure", false},
		{"tx_timeout_count", -1, "tx", false, "tx_pressure", false},
		{"rx_queue_3_packets", 3, "rx", false, "", false},
		// igb / igc
		{"rx_queue_1_drops", 1, "rx", true, "ring", false},
		{"rx_queue_0_alloc_failed", 0, "rx", true, "ring", false},
		{"tx_queue_2_restart", 2, "tx", false, "tx_pressure", false},
		// i40e / ice
		{"rx-5.packets", 5, "rx", false, "", false},
		{"port.rx_dropped", -1, "rx", true, "port", false},
		{"port.rx_discards", -1, "rx", true, "port", false},
		{"port.tx_dropped_link_down", -1, "tx", true, "port", false},
		{"rx_dropped", -1, "rx", true, "ring", false},
		// mlx5
		{"rx_out_of_buffer", -1, "rx", true, "ring", false},
		{"rx_discards_phy", -1, "rx", true, "port", false},
		{"tx_discards_phy", -1, "tx", true, "port", false},
		{"rx_buff_alloc_err", -1, "rx", true, "ring", false},
		{"rx_steer_missed_packets", -1, "rx", true, "other", false},
		{"rx7_buff_alloc_err", 7, "rx", true, "ring", false},
		{"tx3_dropped", 3, "tx", true, "tx", false},
		{"rx2_xdp_drop", 2, "rx", false, "", true},
		{"rx_bytes_phy", -1, "rx", false, "", false},
		// virtio_net, old and renamed forms
		{"rx_queue_0_drops", 0, "rx", true, "ring", false},
		{"rx_queue_0_xdp_drops", 0, "rx", false, "", true},
		{"rx0_drops", 0, "rx", true, "ring", false},
		{"tx0_kicks", 0, "tx", false, "", false},
		{"tx_queue_0_xdp_tx_drops", 0, "tx", false, "", true},
		// ena
		{"bw_in_allowance_exceeded", -1, "rx", true, "allowance", false},
		{"pps_allowance_exceeded", -1, "", true, "allowance", false},
		{"queue_4_rx_refil_partial", 4, "rx", false, "", false},
		{"queue_2_tx_queue_stop", 2, "tx", false, "tx_pressure", false},
		// veth
		{"peer_ifindex", -1, "", false, "", false},
		{"rx_queue_0_xdp_redirect", 0, "rx", false, "", true},
	} {
		c := ClassifyStat(tc.name)
		if c.Queue != tc.queue || c.Dir != tc.dir || c.Drop != tc.drop || c.Kind != tc.kind || c.XDP != tc.xdp {
			t.Errorf("ClassifyStat(%q) = %+v, want queue %d dir %q drop %v kind %q xdp %v",
				tc.name, c, tc.queue, tc.dir, tc.drop, tc.kind, tc.xdp)
		}
	}
}
