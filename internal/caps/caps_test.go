package caps

import (
	"os"
	"testing"
)

// TestEffectiveMatchesStatus checks capget against the kernel's other
// account of the same set, /proc/self/status.
func TestEffectiveMatchesStatus(t *testing.T) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	want, ok := ParseStatus(string(b))
	if !ok {
		t.Fatalf("no CapEff line in:\n%s", b)
	}
	got, err := Effective()
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("capget says %#x, /proc/self/status %#x", uint64(got), uint64(want))
	}
}

func TestParseStatus(t *testing.T) {
	for _, tc := range []struct {
		in    string
		want  Set
		ok    bool
		names []string
	}{
		{"Name:\tx\nCapEff:\t0000000000002000\n", 1 << 13, true, []string{"CAP_NET_RAW"}},
		{"CapEff:\t000001ffffffffff\n", 0x1ffffffffff, true, []string{"CAP_NET_RAW", "CAP_NET_ADMIN", "CAP_SYS_ADMIN", "CAP_DAC_READ_SEARCH", "CAP_SYS_PTRACE"}},
		{"CapEff:\t0000000000000000\n", 0, true, []string{}},
		{"CapEff:\tzz\n", 0, false, nil},
		{"CapPrm:\t0\n", 0, false, nil},
	} {
		got, ok := ParseStatus(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseStatus(%q) = %#x, %v; want %#x, %v", tc.in, uint64(got), ok, uint64(tc.want), tc.ok)
		}
		if tc.ok && len(got.Names()) != len(tc.names) {
			t.Errorf("%q: names %v, want %v", tc.in, got.Names(), tc.names)
		}
	}
	if NetRaw.String() != "CAP_NET_RAW" || NetRaw.Lower() != "cap_net_raw" || Cap(40).String() != "CAP_40" {
		t.Errorf("names: %s %s %s", NetRaw, NetRaw.Lower(), Cap(40))
	}
}
