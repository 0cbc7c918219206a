package caps

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestEffectiveMatchesStatus checks capget against the kernel's other
// account of the same set, the CapEff line of /proc/self/status.
func TestEffectiveMatchesStatus(t *testing.T) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	_, rest, ok := strings.Cut(string(b), "CapEff:")
	if !ok {
		t.Fatalf("no CapEff line in:\n%s", b)
	}
	line, _, _ := strings.Cut(rest, "\n")
	want, err := strconv.ParseUint(strings.TrimSpace(line), 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Effective()
	if err != nil {
		t.Fatal(err)
	}
	if uint64(got) != want {
		t.Errorf("capget says %#x, /proc/self/status %#x", uint64(got), want)
	}
}

func TestNames(t *testing.T) {
	for _, tc := range []struct {
		set   Set
		names []string
	}{
		{1 << 13, []string{"CAP_NET_RAW"}},
		{0x1ffffffffff, []string{"CAP_NET_RAW", "CAP_NET_ADMIN", "CAP_SYS_ADMIN", "CAP_DAC_READ_SEARCH", "CAP_SYS_PTRACE", "CAP_BPF", "CAP_PERFMON"}},
		{0, []string{}},
	} {
		if got := tc.set.Names(); strings.Join(got, ",") != strings.Join(tc.names, ",") {
			t.Errorf("%#x: names %v, want %v", uint64(tc.set), got, tc.names)
		}
	}
	if NetRaw.String() != "CAP_NET_RAW" || Cap(40).String() != "CAP_40" {
		t.Errorf("names: %s %s", NetRaw, Cap(40))
	}
}
