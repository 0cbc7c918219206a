package drops

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/cilium/ebpf/btf"
)

// TestNeed pins what each kind of refusal says would enable a source.
func TestNeed(t *testing.T) {
	denied := &fs.PathError{Op: "open", Path: "/sys/kernel/tracing/events/skb/kfree_skb/id", Err: syscall.EACCES}
	for _, tc := range []struct {
		kind Kind
		err  error
		want string
	}{
		{KindBTF, fmt.Errorf("create the drops map: %w", syscall.EPERM), "CAP_BPF and CAP_PERFMON"},
		{KindTracepoint, fmt.Errorf("load: %w", syscall.EPERM), "CAP_BPF and CAP_PERFMON"},
		{KindPerf, os.NewSyscallError("perf_event_open", syscall.EACCES), "kernel.perf_event_paranoid=-1"},
		{KindPerf, fmt.Errorf("%w at /x: %w", errNoTracefs, fs.ErrNotExist), "mount -t tracefs"},
		{KindTracepoint, denied, "gid=GROUP"},
		{KindBTF, fmt.Errorf("kernel BTF: %w", btf.ErrNotSupported), "CONFIG_DEBUG_INFO_BTF"},
		{KindBTF, fmt.Errorf("%w: BTF has no enum skb_drop_reason", ErrNoReasons), "Linux 5.17"},
		{KindBTF, errors.New("verifier says no"), ""},
	} {
		got := need(tc.kind, tc.err)
		if (tc.want == "" && got != "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s after %v: need %q, want one saying %q", tc.kind, tc.err, got, tc.want)
		}
	}
}
