package capture

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// sharedCaptures locates the real captures: $NETDX_SHARED/captures, or
// ../shared/captures next to the module root. Tests skip when absent.
func sharedCaptures(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("NETDX_SHARED")
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			t.Fatal(err)
		}
		for d := wd; ; d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				dir = filepath.Join(d, "..", "shared")
				break
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	dir = filepath.Join(dir, "captures")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("real captures not found at %s (set NETDX_SHARED): %v", dir, err)
	}
	return dir
}

func analyzeFile(t *testing.T, path string) (*Result, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return Analyze(context.Background(), f, Options{Name: filepath.Base(path)})
}

// sharedFiles lists every capture under dir, one and two folders down
// (audit/pcap-2.1 holds the pcap 2.1 files).
func sharedFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	for _, pattern := range []string{"*/*.pcap*", "*/*/*.pcap*"} {
		m, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Fatalf("no captures in %s", dir)
	}
	return files
}

// Every real capture is read to its end without an error (the damaged
// ones included: their damage is inside frames), and decodes as expected.
func TestRealCaptures(t *testing.T) {
	dir := sharedCaptures(t)
	files := sharedFiles(t, dir)
	results := map[string]*Result{}
	for _, path := range files {
		res, err := analyzeFile(t, path)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		if !res.Complete || res.Packets == 0 {
			t.Errorf("%s: complete %v packets %d", path, res.Complete, res.Packets)
		}
		results[filepath.Base(path)] = res
	}
	tunnel := func(file, kind string, id uint32, flows uint64) {
		t.Helper()
		res := results[file]
		if res == nil {
			t.Errorf("%s: missing", file)
			return
		}
		for _, tn := range res.Tunnels {
			if tn.Kind == kind && tn.ID == id && tn.Flows == flows {
				return
			}
		}
		var got []string
		for _, tn := range res.Tunnels {
			got = append(got, tn.Kind+" "+strconv.FormatUint(uint64(tn.ID), 10)+" flows "+strconv.FormatUint(tn.Flows, 10))
		}
		t.Errorf("%s: no %s tunnel %d with %d flows; have %v", file, kind, id, flows, got)
	}
	tunnel("vxlan.pcap", "vxlan", 100, 2)
	tunnel("vxlan_port_8472.pcap", "vxlan", 100, 2)
	tunnel("tunnels_vxlan-encapsulated-http.pcap", "vxlan", 1, 1)
	tunnel("geneve.pcap", "geneve", 10, 1)
	tunnel("geneve.pcap", "geneve", 11, 1)
	tunnel("tunnels_geneve-47101.pcap", "geneve", 4242, 1)
	tunnel("bigtcp-ipv6-geneve-ipv6.pcap", "geneve", 5001, 1)
	tunnel("bigtcp-ipv4-vxlan-ipv4.pcap", "vxlan", 5001, 1)
	tunnel("tunnels_gre-aruba.pcap", "gre", 0, 23)
	tunnel("tunnels_4in4.pcap", "4in4", 0, 1)
	tunnel("tunnels_4in6.pcap", "4in6", 0, 1)
	tunnel("tunnels_6in4.pcap", "6in4", 0, 1)
	tunnel("tunnels_6in6.pcap", "6in6", 0, 1)
	tunnel("02-sunrise-sunset-esp.pcap", "esp", 0, 0)
	tunnel("espudp1.pcap", "esp", 0, 0)

	// BIG TCP and TSO frames: IP total length 0, true size from the frame.
	for file, want := range map[string]uint64{"bigtcp-ipv4-vxlan-ipv4.pcap": 80000, "ipv4_tcp_http_xml_tso.pcap": 1976} {
		if res := results[file]; res == nil || len(res.Flows) != 1 || res.Flows[0].Dir[0].PayloadBytes != want {
			t.Errorf("%s: payload bytes, want %d", file, want)
		}
	}
	if res := results["q-in-q.pcap"]; res != nil {
		var kinds []string
		for _, e := range res.Flows[0].Encap {
			kinds = append(kinds, e.Kind+" "+strconv.FormatUint(uint64(e.ID), 10))
		}
		if strings.Join(kinds, ",") != "vlan 13,vlan 10" {
			t.Errorf("q-in-q: encapsulation %v", kinds)
		}
	}
	if res := results["linux_dlt_sll2.pcap"]; res == nil || res.OtherIPPackets != 4 || res.NonIPPackets != 2 {
		t.Errorf("linux_dlt_sll2: four ICMP packets and an ARP and a RARP over SLL2")
	}
	if res := results["mpls-traceroute.pcap"]; res == nil || res.UDPPackets != 9 || res.Flows[0].Encap[0].Kind != "mpls" && res.Flows[1].Encap[0].Kind != "mpls" {
		t.Errorf("mpls-traceroute: UDP probes under MPLS")
	}
	// Retransmission cases, judged as Wireshark's expert info would be
	// where it is right: three fast retransmissions after SACKed
	// duplicate ACKs at a sender-side capture.
	if res := results["tcp_retransmit-fast009.pcap"]; res != nil {
		d := res.Totals.TCP
		if d.Retransmission.Packets != 3 || d.Retransmission.Fast != 3 || d.Retransmission.Spurious != 0 || d.LostSegments != 0 {
			t.Errorf("fast009: %+v lost %d", d.Retransmission, d.LostSegments)
		}
	}
	// The timeout case retransmits a request the server had acknowledged:
	// netdx proves it spurious by the ACK.
	if res := results["tcp_retransmit-timeout.pcapng"]; res != nil {
		r := res.Totals.TCP.Retransmission
		if r.Packets != 1 || r.Timeout != 1 || r.Spurious != 1 || r.ByACK != 1 {
			t.Errorf("retransmit-timeout: %+v", r)
		}
	}
	// Frames damaged on purpose decode as far as they go.
	if res := results["tcp_header_heapoverflow.pcap"]; res == nil || len(res.Undecoded) != 1 || !strings.HasPrefix(res.Undecoded[0].Reason, "tcp:") {
		t.Errorf("tcp_header_heapoverflow: undecoded %v", res.Undecoded)
	}
	if res := results["gre-heapoverflow-1.pcap"]; res == nil || res.TCPPackets != 0 {
		t.Errorf("gre-heapoverflow-1: %+v", res)
	}
	// The first fragment of a UDP datagram to the VXLAN port 8472 (from
	// ESP's 4500): decoded as far as the snap length lets it.
	if res := results["esp_truncated.pcap"]; res == nil || res.UDPPackets != 1 || len(res.Undecoded) != 1 ||
		res.Undecoded[0].Reason != "vxlan: header not captured (snap length)" {
		t.Errorf("esp_truncated: %+v", res)
	}
	// One SSH connection whose directions travel in Geneve VNIs 10 and 11:
	// one flow, seen in both.
	if res := results["geneve.pcap"]; res != nil {
		f := onlyTCP(t, res)
		if f.Dir[0].Packets == 0 || f.Dir[1].Packets == 0 || len(f.OtherEncaps) != 1 {
			t.Errorf("geneve: one flow in two VNIs, got %+v", f)
		}
	}
	// A pcap 2.1 file: NFS over UDP, 128 packets.
	if res := results["suricata-nfs3-01.pcap"]; res == nil || res.Packets != 128 || res.UDPPackets != 128 {
		t.Errorf("suricata-nfs3-01 (pcap 2.1): %+v", res)
	}
	if res := results["tcp_reassembly.pcap"]; res == nil || res.Overlong != 5 {
		t.Errorf("tcp_reassembly: five frames trimmed below their IP length")
	}
}

// The WireGuard trace's data counters run 0–973 and 0–225 in their main
// sessions with no gap, reordering or replay: a clean control.
func TestRealWireGuardCounters(t *testing.T) {
	res, err := analyzeFile(t, filepath.Join(sharedCaptures(t), "wireguard", "8-trace.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Packets != 1222 || len(res.Tunnels) != 1 || res.Tunnels[0].Kind != "wireguard" {
		t.Fatalf("packets %d tunnels %d", res.Packets, len(res.Tunnels))
	}
	ranges := map[int64]bool{}
	for _, d := range res.Tunnels[0].Dir {
		if d.Seq == nil || d.Seq.Lost != 0 || d.Seq.Reorder.Reordered != 0 || d.Seq.Replays != 0 || d.Seq.Duplicates != 0 {
			t.Errorf("counters %+v", d.Seq)
		}
		for _, s := range d.SessionList {
			if s.FirstSeq == 0 && s.Packets == uint64(s.LastSeq+1) {
				ranges[s.LastSeq] = true
			}
		}
	}
	if !ranges[973] || !ranges[225] {
		t.Errorf("sessions %v, want 0–973 and 0–225", ranges)
	}
}

// Stored files that are not captures give ErrFormat.
func TestRealNonCapture(t *testing.T) {
	_, err := analyzeFile(t, filepath.Join(sharedCaptures(t), "README.md"))
	if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "README.md: file header at byte offset 0") {
		t.Errorf("error %v", err)
	}
}

// The audit captures of issue 16, each a class of real capture netdx read
// wrong (more of each class are held back), with the figures their
// evidence supports.
func TestRealAuditCaptures(t *testing.T) {
	dir := filepath.Join(sharedCaptures(t), "audit")
	get := func(name string) *Result {
		t.Helper()
		res, err := analyzeFile(t, filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return res
	}
	// D1: ACKs captured before the GRO'd segments they cover.
	tot := get("smb_smb3_multichannel.pcap").Totals.TCP
	if r := tot.Retransmission; r.Packets > 2 || r.Spurious > 2 || tot.NotCapturedSegments > 2 {
		t.Errorf("smb_smb3_multichannel: retransmitted %d spurious %d not captured %d, want at most 2 each",
			r.Packets, r.Spurious, tot.NotCapturedSegments)
	}
	// D2: a GRE key per direction, the outer packets fragmented.
	res := get("erspan.pcap")
	if res.Totals.TCP.LostSegments > 5 || res.Totals.TCPFlows != 5 {
		t.Errorf("erspan: lost %d in %d TCP flows, want at most 5 in 5", res.Totals.TCP.LostSegments, res.Totals.TCPFlows)
	}
	// D3: reordered originals whose IPv4 IDs prove the order.
	if r := get("suricata-tls-subjectaltname.pcap").Totals.TCP.Retransmission; r.Packets > 62 {
		t.Errorf("suricata-tls-subjectaltname: retransmitted %d, want at most 62", r.Packets)
	}
	// D5: SYN/ACKs with two ISNs on one 4-tuple (TFO test traffic).
	if tot := get("suricata-tcp-fastopen-10-syn-data-ignore.pcap").Totals.TCP; tot.NotCapturedSegments >= 1000 {
		t.Errorf("suricata-tcp-fastopen-10-syn-data-ignore: not captured %d, want fewer than 1000", tot.NotCapturedSegments)
	}
	// D6: a fuzzed capture.
	if tot := get("modbus_fuzz-72.pcap").Totals.TCP; tot.LostSegments >= 1000 || tot.NotCapturedSegments >= 1000 || tot.Anomalies == 0 {
		t.Errorf("modbus_fuzz-72: lost %d not captured %d anomalies %d, want fewer than 1000 and some anomalies",
			tot.LostSegments, tot.NotCapturedSegments, tot.Anomalies)
	}
	// D4: timeout retransmissions seconds apart with a host-wide IPv4 ID
	// counter (zeek-traces).
	res, err := analyzeFile(t, filepath.Join(filepath.Dir(dir), "zeek-traces", "http_206_example_b.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Flows {
		if f.Server.Port() != 80 || f.Client.Port() != 3254 {
			continue
		}
		if d := &f.Dir[1]; d.Retransmission.Packets < 105 || d.LateDuplicates != 0 {
			t.Errorf("http_206_example_b: server retransmitted %d late duplicates %d, want at least 105 and 0",
				d.Retransmission.Packets, d.LateDuplicates)
		}
	}
}
