package collectors

import (
	"errors"
	"io/fs"
	"strings"
	"syscall"
	"testing"
)

// TestMalformed: every parser names the file and line of bad input and
// returns a ParseError, never panics.
func TestMalformed(t *testing.T) {
	for _, tc := range []struct {
		name  string
		parse func(string) error
		in    string
		line  int
		msg   string
	}{
		{"netstat count mismatch", netstatP, "TcpExt: A B C\nTcpExt: 1 2\n", 2, "3 names but 2 values"},
		{"netstat section mismatch", netstatP, "TcpExt: A\nIpExt: 1\n", 2, "does not follow its header"},
		{"netstat header alone", netstatP, "TcpExt: A B\n", 1, "without a value line"},
		{"netstat not a number", netstatP, "Tcp: A B\nTcp: 1 x\n", 2, `Tcp.B: "x"`},
		{"snmp6 three fields", snmp6P, "Ip6InReceives 1\nIp6InDiscards 1 2\n", 2, "got 3 fields"},
		{"snmp6 no section", snmp6P, "InReceives 1\n", 1, "no section prefix"},
		{"softnet too few columns", softnetP, "00000001 00000002 00000003 00000004 00000005\n", 1, "5 columns"},
		{"softnet not hex", softnetP, strings.Repeat("00000001 ", 11) + "\n" + strings.Repeat("0000zz01 ", 11) + "\n", 2, "column 1"},
		{"softnet empty", softnetP, "", 0, "empty file"},
		{"netdev no header", netdevP, "only one line\n", 1, "no header"},
		{"netdev short row", netdevP, netDevHeader + "  eth0: 1 2 3\n", 3, "3 values for 16 columns"},
		{"conntrack short row", conntrackP, "entries found\n00000001\n", 2, "1 values for 2 columns"},
		{"conntrack not hex", conntrackP, "entries found\n00000001 zz\n", 2, `found: "zz"`},
		{"udp header without drops", udpP, "  sl  local_address rem_address\n", 1, `does not end with "drops"`},
		{"udp bad address", udpP, udpHeader + "   0: 0100007Q:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000 0 0 1 2 0 0\n", 2, "bad socket line"},
		{"udp short line", udpP, udpHeader + "   0: 0100007F:0035\n", 2, "2 fields"},
		{"sockstat odd pairs", sockstatP, "TCP: inuse 1 orphan\n", 1, "do not pair up"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.parse(tc.in)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a ParseError", err)
			}
			if pe.Path != "/proc/test" || pe.Line != tc.line || !strings.Contains(pe.Error(), tc.msg) {
				t.Errorf("got %q (line %d), want line %d containing %q", pe.Error(), pe.Line, tc.line, tc.msg)
			}
			if sk := skipFor("x", err); sk.Kind != SkipError || sk.Source != "/proc/test" || sk.Fix == "" {
				t.Errorf("skip = %+v", sk)
			}
		})
	}
}

const netDevHeader = "Inter-|   Receive                                                |  Transmit\n" +
	" face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n"

const udpHeader = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n"

func netstatP(s string) error { return parseNetstat(strings.NewReader(s), "/proc/test", NetCounters{}) }
func snmp6P(s string) error   { return parseSnmp6(strings.NewReader(s), "/proc/test", NetCounters{}) }
func softnetP(s string) error {
	_, err := parseSoftnet(strings.NewReader(s), "/proc/test")
	return err
}
func netdevP(s string) error {
	_, err := parseNetDev(strings.NewReader(s), "/proc/test")
	return err
}
func conntrackP(s string) error {
	_, _, err := parseConntrackStat(strings.NewReader(s), "/proc/test")
	return err
}
func udpP(s string) error {
	_, _, err := parseProcUDP(strings.NewReader(s), "/proc/test")
	return err
}
func sockstatP(s string) error {
	return parseSockstat(strings.NewReader(s), "/proc/test", NetCounters{})
}

func TestNetDevExtraColumn(t *testing.T) {
	// A future kernel adding a column is read by name, not position.
	in := "Inter-|   Receive |  Transmit\n" +
		" face |bytes packets drop nohandler|bytes packets drop\n" +
		"  eth0: 10 2 1 7 20 3 0\n"
	m, err := parseNetDev(strings.NewReader(in), "/proc/net/dev")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{"rx_bytes": 10, "rx_packets": 2, "rx_dropped": 1, "rx_nohandler": 7, "tx_bytes": 20, "tx_packets": 3, "tx_dropped": 0}
	for k, v := range want {
		if m["eth0"][k] != v {
			t.Errorf("%s = %d, want %d", k, m["eth0"][k], v)
		}
	}
}

func TestSoftnetExtraColumns(t *testing.T) {
	// 16 columns from a kernel newer than this code: the known ones are read.
	row := "0000000a 00000001 00000002 00000000 00000000 00000000 00000000 00000000 00000000 00000003 00000004 00000005 00000007 00000000 00000000 00000009\n"
	cpus, err := parseSoftnet(strings.NewReader(row), "/proc/net/softnet_stat")
	if err != nil {
		t.Fatal(err)
	}
	c := cpus[0]
	if c.Columns != 16 || c.CPU != 7 || *c.FlowLimitCount != 4 || *c.ReceivedRPS != 3 || *c.BacklogLen != 5 {
		t.Errorf("row = %+v", c)
	}
}

func TestParseHexAddr(t *testing.T) {
	for in, want := range map[string]string{
		"0100007F:0035":                         "127.0.0.1:53",
		"00000000:0202":                         "0.0.0.0:514",
		"00000000000000000000000000000000:0035": "[::]:53",
		"0000000000000000FFFF00000100007F:1F90": "127.0.0.1:8080",
		"B80D0120000000000000000001000000:01BB": "[2001:db8::1]:443",
	} {
		got, err := parseHexAddr(in)
		if err != nil || got != want {
			t.Errorf("parseHexAddr(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestDelta(t *testing.T) {
	for _, tc := range []struct {
		name          string
		f             func(a, b uint64) (uint64, bool)
		before, after uint64
		want          uint64
		reset         bool
	}{
		{"64 grows", Delta64, 10, 25, 15, false},
		{"64 reset", Delta64, 1000, 7, 7, true},
		{"32 grows", Delta32, 10, 25, 15, false},
		{"32 wraps", Delta32, 0xFFFFFFF0, 0x10, 0x20, false},
		{"32 reset", Delta32, 0x80000000, 5, 5, true},
		{"32 reset from small", Delta32, 1000, 7, 7, true},
	} {
		d, r := tc.f(tc.before, tc.after)
		if d != tc.want || r != tc.reset {
			t.Errorf("%s: got %d %v, want %d %v", tc.name, d, r, tc.want, tc.reset)
		}
	}
}

func TestConntrackDeltaWraps(t *testing.T) {
	b := &Conntrack{Columns: []string{"entries", "drop"}, PerCPU: [][]uint64{{5, 0xFFFFFFFE}, {5, 10}}}
	a := &Conntrack{Columns: []string{"entries", "drop"}, PerCPU: [][]uint64{{6, 3}, {6, 12}}}
	d, reset, ok := ConntrackDelta(b, a, "drop")
	if !ok || reset || d != 5+2 {
		t.Errorf("delta = %d %v %v, want 7", d, reset, ok)
	}
	if _, _, ok := ConntrackDelta(b, a, "clashres"); ok {
		t.Error("a column both lack has a delta")
	}
}

func TestSourceErrorClassification(t *testing.T) {
	for errno, kind := range map[syscall.Errno]SkipKind{
		syscall.EACCES: SkipPermission, syscall.EPERM: SkipPermission, syscall.EOPNOTSUPP: SkipUnsupported,
		syscall.ENOENT: SkipAbsent, syscall.ENODEV: SkipAbsent, syscall.EIO: SkipError,
	} {
		s := skipFor("x", &SourceError{Source: "/proc/net/netstat", Err: errno})
		if s.Kind != kind || s.Source != "/proc/net/netstat" {
			t.Errorf("%v: %+v, want %s", errno, s, kind)
		}
	}
	if !errors.Is(&SourceError{Err: syscall.EACCES}, fs.ErrPermission) {
		t.Error("EACCES is not fs.ErrPermission")
	}
}
