package drops

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf/btf"
)

var update = flag.Bool("update", false, "regenerate testdata/reasons.btf and testdata/kfree_skb.format from this kernel (root)")

// The fixtures come from the kernel the tests were written on (6.18):
//
//	go test ./drops -run TestReasonFixtures -update
//
// writes the two drop-reason enums of /sys/kernel/btf/vmlinux, alone, as
// raw BTF, and copies the kfree_skb format file from a tracefs it
// mounts for the purpose.
const (
	btfFixture    = "testdata/reasons.btf"
	formatFixture = "testdata/kfree_skb.format"
)

func TestReasonFixtures(t *testing.T) {
	if *update {
		writeFixtures(t)
	}
	raw, err := os.ReadFile(btfFixture)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := btf.LoadSpecFromReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	fromBTF, err := ReasonsFromBTF(spec)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(formatFixture)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	format, err := ParseFormat(f)
	if err != nil {
		t.Fatal(err)
	}
	fromFormat := format.Reasons
	for _, tc := range []struct {
		v          uint32
		btf, trace string
	}{
		{0, "SKB_NOT_DROPPED_YET", "UNKNOWN_0"},
		{1, "SKB_CONSUMED", "UNKNOWN_1"},
		{2, "NOT_SPECIFIED", "NOT_SPECIFIED"},
		{3, "NO_SOCKET", "NO_SOCKET"},
		{12, "NETFILTER_DROP", "NETFILTER_DROP"},
		{64, "QDISC_DROP", "QDISC_DROP"},
		// SKB_CSUM is a name, not a prefix and a name.
		{75, "SKB_CSUM", "SKB_CSUM"},
		{999, "UNKNOWN_999", "UNKNOWN_999"},
		{2<<16 | 5, "OPENVSWITCH+5", "SUBSYS_2+5"},
		{1<<16 | 1, "MAC80211_UNUSABLE+1", "SUBSYS_1+1"},
		// SKB_DROP_REASON_SUBSYS_NUM is a count, not a subsystem.
		{3<<16 | 1, "SUBSYS_3+1", "SUBSYS_3+1"},
	} {
		if got := fromBTF.Name(tc.v); got != tc.btf {
			t.Errorf("BTF names %#x %q, want %q", tc.v, got, tc.btf)
		}
		if got := fromFormat.Name(tc.v); got != tc.trace {
			t.Errorf("format names %#x %q, want %q", tc.v, got, tc.trace)
		}
	}
	// Both lists come from one kernel: every reason the format names,
	// BTF names the same.
	for v, name := range fromFormat.core {
		if fromBTF.core[v] != name {
			t.Errorf("reason %d: format %q, BTF %q", v, name, fromBTF.core[v])
		}
	}
	if fromFormat.Len() < 100 || fromBTF.Len() != fromFormat.Len()+2 {
		t.Errorf("%d names from BTF, %d from the format", fromBTF.Len(), fromFormat.Len())
	}
	want := map[string]Field{"reason": {Offset: 36, Size: 4}, "protocol": {Offset: 32, Size: 2}, "rx_sk": {Offset: 24, Size: 8}}
	for name, fld := range want {
		if format.Fields[name] != fld {
			t.Errorf("field %s %+v, want %+v", name, format.Fields[name], fld)
		}
	}
}

// TestKernelReasonsAgree checks the running kernel's two lists against
// each other, when tracefs can be mounted.
func TestKernelReasonsAgree(t *testing.T) {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		t.Skipf("skipped: no kernel BTF: %v", err)
	}
	fromBTF, err := ReasonsFromBTF(spec)
	if err != nil {
		t.Skipf("skipped: %v", err)
	}
	tp, err := openTracepoint(tracefsFor(t, false))
	if err != nil {
		t.Fatal(err)
	}
	for v, name := range tp.format.Reasons.core {
		if fromBTF.core[v] != name {
			t.Errorf("reason %d: format %q, BTF %q", v, name, fromBTF.core[v])
		}
	}
}

func writeFixtures(t *testing.T) {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		t.Fatal(err)
	}
	var types []btf.Type
	for _, name := range []string{"skb_drop_reason", "skb_drop_reason_subsys"} {
		var e *btf.Enum
		if err := spec.TypeByName(name, &e); err != nil {
			t.Fatal(err)
		}
		types = append(types, e)
	}
	b, err := btf.NewBuilder(types, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := b.Marshal(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(btfFixture, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	format, err := os.ReadFile(filepath.Join(tracefsFor(t, false), "events/skb/kfree_skb/format"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(formatFixture, format, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestParseFormatErrors(t *testing.T) {
	good, err := os.ReadFile(formatFixture)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, text, want string
	}{
		{"no reason field (before 5.17)", strings.Replace(string(good), "reason;", "other;", 1), "no reason field"},
		{"no symbolic list", strings.Replace(string(good), "__print_symbolic(REC->reason,", "(", 1), "no __print_symbolic"},
		{"bad offset", strings.Replace(string(good), "offset:36", "offset:x", 1), "format line"},
		{"unterminated pair", string(good[:bytes.LastIndexByte(good, '}')]), "unterminated"},
		{"empty", "", "no reason field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseFormat(strings.NewReader(tc.text))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

// FuzzParseFormat: a format file parses to a reason field and at least
// one name, or to an error; never a panic.
func FuzzParseFormat(f *testing.F) {
	if b, err := os.ReadFile(formatFixture); err == nil {
		f.Add(string(b))
	}
	f.Add("field:int reason;\toffset:1;\tsize:4;\tsigned:0;\nprint fmt: \"\", __print_symbolic(REC->reason, { 0x2, \"X\" })")
	f.Fuzz(func(t *testing.T, s string) {
		fm, err := ParseFormat(strings.NewReader(s))
		if err != nil {
			return
		}
		if _, ok := fm.Fields["reason"]; !ok || fm.Reasons.Len() == 0 {
			t.Fatalf("parsed without a reason field or names: %+v", fm)
		}
	})
}
