package drops

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// DefaultMaxEntries bounds the kernel's aggregation map: rows of reason ×
// namespace × interface × protocol × socket. 16,384 rows of 32-byte keys
// and per-CPU counts take about 2 MiB on a 2-CPU machine (preallocated);
// drops that would need more rows are counted as MapFull.
const DefaultMaxEntries = 16384

// Options configure a Source. The zero value is right for a host.
type Options struct {
	// Kinds are the sources to try, in order; nil tries Kinds. KindNone
	// is always the last resort.
	Kinds []Kind
	// TraceFS is the tracefs mount; "" looks at /sys/kernel/tracing and
	// /sys/kernel/debug/tracing.
	TraceFS string
	// MaxEntries bounds the kernel map; 0 means DefaultMaxEntries.
	MaxEntries int
	// NetnsDir holds the named namespaces (default /run/netns); ProcDir
	// is /proc, read to name the namespaces of processes.
	NetnsDir, ProcDir string
}

// Source counts drops from the best source the kernel and the process's
// privileges allow.
type Source struct {
	opts     Options
	kind     Kind
	failures []Failure
	reasons  *Reasons
	started  time.Time
	// Attach is how long Start took to load and attach the winner.
	Attach time.Duration

	maps    *maps
	prog    *ebpf.Program
	link    link.Link
	perfFD  int // the tracepoint's perf event the BPF program hangs on
	perf    *perfReader
	namer   *namer
	socks   *sockets
	rules   *rules
	closers []func() error
}

// New makes a Source; nothing is loaded until Start.
func New(opts Options) *Source {
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = DefaultMaxEntries
	}
	if opts.NetnsDir == "" {
		opts.NetnsDir = "/run/netns"
	}
	if opts.ProcDir == "" {
		opts.ProcDir = "/proc"
	}
	if opts.Kinds == nil {
		opts.Kinds = Kinds
	}
	return &Source{opts: opts, kind: KindNone, perfFD: -1}
}

// Start tries the sources in order and starts the first that works; the
// others' failures are kept (Failures). It fails only when ctx is done:
// without any source the Source counts nothing, as KindNone.
func (s *Source) Start(ctx context.Context) error {
	memlock := false
	for _, k := range s.opts.Kinds {
		if err := ctx.Err(); err != nil {
			return err
		}
		if k == KindNone {
			break
		}
		if !memlock {
			raiseMemlock()
			memlock = true
		}
		t0 := time.Now()
		err := s.try(ctx, k)
		if err == nil {
			if s.namer != nil {
				s.baselineRules()
			}
			s.kind, s.Attach, s.started = k, time.Since(t0), time.Now()
			return nil
		}
		s.closeAll()
		s.failures = append(s.failures, Failure{Kind: k, Err: err, Need: need(k, err)})
	}
	s.kind, s.started = KindNone, time.Now()
	return nil
}

func (s *Source) try(ctx context.Context, k Kind) error {
	switch k {
	case KindBTF:
		return s.startBTF()
	case KindTracepoint:
		return s.startTracepoint()
	case KindPerf:
		return s.startPerf(ctx)
	}
	return fmt.Errorf("unknown source %q", k)
}

// Kind is the source in use.
func (s *Source) Kind() Kind { return s.kind }

// Failures says why the sources before Kind were not used.
func (s *Source) Failures() []Failure { return s.failures }

// Reasons are the running kernel's reason names, nil for KindNone.
func (s *Source) Reasons() *Reasons { return s.reasons }

func (s *Source) startBTF() error {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return fmt.Errorf("kernel BTF: %w", err)
	}
	if s.reasons, err = ReasonsFromBTF(spec); err != nil {
		return err
	}
	kf, err := resolveFields(spec)
	if err != nil {
		return err
	}
	if err := s.newMaps(); err != nil {
		return err
	}
	s.prog, err = ebpf.NewProgramWithOptions(&ebpf.ProgramSpec{
		Name: "netdx_drops", Type: ebpf.Tracing, AttachType: ebpf.AttachTraceRawTp, AttachTo: "kfree_skb",
		Instructions: btfProgram(kf, s.maps), License: programLicense,
	}, ebpf.ProgramOptions{KernelTypes: spec})
	if err != nil {
		return fmt.Errorf("load the tp_btf/kfree_skb program: %w", err)
	}
	s.closers = append(s.closers, s.prog.Close)
	s.link, err = link.AttachTracing(link.TracingOptions{Program: s.prog, AttachType: ebpf.AttachTraceRawTp})
	if err != nil {
		return fmt.Errorf("attach to tp_btf/kfree_skb: %w", err)
	}
	s.closers = append(s.closers, s.link.Close)
	s.namer = newNamer(s.opts.NetnsDir, s.opts.ProcDir)
	s.socks = newSockets(s.opts.ProcDir)
	s.rules = newRules()
	return nil
}

// baselineRules reads the nftables rules of netdx's namespace and of
// the named ones, so NETFILTER_DROP counts can be set against the rules'
// counters over the same time.
func (s *Source) baselineRules() {
	self := s.namer.lookup(s.namer.self, s.namer.selfInode)
	s.rules.baseline(Netns{Cookie: s.namer.self, Inode: s.namer.selfInode, Current: true, Host: self.host}, "")
	for cookie, info := range s.namer.named() {
		s.rules.baseline(Netns{Cookie: cookie, Name: info.name}, info.path)
	}
}

// readRules reads the rules of every namespace with NETFILTER_DROP
// drops that netdx can enter.
func (s *Source) readRules(ds []Drop) ([]Rule, error) {
	seen := map[uint64]bool{}
	var out []Rule
	var errs []error
	for _, d := range ds {
		if d.Reason != "NETFILTER_DROP" || d.Netns.Cookie == 0 || seen[d.Netns.Cookie] {
			continue
		}
		seen[d.Netns.Cookie] = true
		path := ""
		if !d.Netns.Current {
			info := s.namer.lookup(d.Netns.Cookie, d.Netns.Inode)
			if info == nil || info.path == "" {
				continue
			}
			path = info.path
		}
		rs, err := s.rules.read(d.Netns, path)
		if err != nil {
			errs = append(errs, fmt.Errorf("nftables rules of namespace %s: %w", d.Netns, err))
			continue
		}
		out = append(out, rs...)
	}
	sortRules(out)
	return out, errors.Join(errs...)
}

// programLicense: the programs call bpf_probe_read_kernel, which the
// kernel offers only to GPL-compatible programs; "Dual BSD/GPL" is one
// (include/linux/license.h). It covers the instructions loaded into the
// kernel, not netdx.
const programLicense = "Dual BSD/GPL"

func (s *Source) startTracepoint() error {
	tp, err := openTracepoint(s.opts.TraceFS)
	if err != nil {
		return err
	}
	s.reasons = kernelReasons(tp.format)
	layout, err := layoutOf(tp.format)
	if err != nil {
		return err
	}
	if err := s.newMaps(); err != nil {
		return err
	}
	s.prog, err = ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "netdx_drops_tp", Type: ebpf.TracePoint,
		Instructions: tracepointProgram(layout.reason, layout.protocol, s.maps), License: programLicense,
	})
	if err != nil {
		return fmt.Errorf("load the skb/kfree_skb tracepoint program: %w", err)
	}
	s.closers = append(s.closers, s.prog.Close)
	// A tracepoint's BPF program runs on every CPU, whatever the CPU of
	// the perf event it is attached through.
	fd, err := openTracepointEvent(tp.id, 0)
	if err != nil {
		return err
	}
	s.perfFD = fd
	s.closers = append(s.closers, func() error { return unix.Close(fd) })
	if err := unix.IoctlSetInt(fd, unix.PERF_EVENT_IOC_SET_BPF, s.prog.FD()); err != nil {
		return os.NewSyscallError("attach to skb/kfree_skb (PERF_EVENT_IOC_SET_BPF)", err)
	}
	if err := unix.IoctlSetInt(fd, unix.PERF_EVENT_IOC_ENABLE, 0); err != nil {
		return os.NewSyscallError("enable skb/kfree_skb", err)
	}
	return nil
}

func (s *Source) startPerf(ctx context.Context) error {
	tp, err := openTracepoint(s.opts.TraceFS)
	if err != nil {
		return err
	}
	s.reasons = kernelReasons(tp.format)
	pr, err := openPerfReader(tp)
	if err != nil {
		return err
	}
	s.perf = pr
	s.closers = append(s.closers, pr.close)
	return pr.start(ctx)
}

// kernelReasons prefers the names in BTF, which also name the
// subsystems, to the format file's.
func kernelReasons(f *Format) *Reasons {
	if spec, err := btf.LoadKernelSpec(); err == nil {
		if r, err := ReasonsFromBTF(spec); err == nil {
			return r
		}
	}
	return f.Reasons
}

func (s *Source) newMaps() error {
	m, err := newMaps(s.opts.MaxEntries)
	if err != nil {
		return err
	}
	s.maps = m
	s.closers = append(s.closers, m.Close)
	return nil
}

// closeAll releases what a failed or finished source holds, newest first.
func (s *Source) closeAll() error {
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i]())
	}
	s.closers, s.maps, s.prog, s.link, s.perf, s.perfFD, s.namer, s.socks, s.rules = nil, nil, nil, nil, nil, -1, nil, nil, nil
	return errors.Join(errs...)
}

// Close detaches and frees everything.
func (s *Source) Close() error { return s.closeAll() }

// Snapshot is the drops counted since Start. Two snapshots make a window
// with Window.Sub.
func (s *Source) Snapshot() (Window, error) {
	w := Window{Kind: s.kind, Failures: s.failures, Start: s.started, End: time.Now()}
	if s.reasons != nil {
		w.Names = s.reasons.From
	}
	var counts map[key]uint64
	var err error
	switch {
	case s.maps != nil:
		counts, w.Overflow.MapFull, err = s.maps.read()
	case s.perf != nil:
		counts, w.Overflow.Lost = s.perf.snapshot()
	default:
		return w, nil
	}
	if err != nil {
		return w, err
	}
	w.Drops = make([]Drop, 0, len(counts))
	for k, n := range counts {
		w.Drops = append(w.Drops, s.drop(k, n))
	}
	sortDrops(w.Drops)
	if s.socks != nil {
		w.SocketsErr = s.socks.name(w.Drops, func(n Netns) string {
			if info := s.namer.lookup(n.Cookie, n.Inode); info != nil && !info.current {
				return info.path
			}
			return ""
		})
	}
	if s.rules != nil {
		w.Rules, w.RulesErr = s.readRules(w.Drops)
	}
	return w, nil
}

// drop makes a row from a key, with names.
func (s *Source) drop(k key, n uint64) Drop {
	d := Drop{
		Reason: s.reasons.Name(k.reason), RawReason: k.reason,
		Netns:   Netns{Cookie: k.cookie, Inode: k.inum},
		Ifindex: int(k.ifindex), EtherType: k.ether, IPProto: k.ipProto, Via: k.via, Count: n,
	}
	if k.sock != 0 {
		d.Socket = &Socket{Inode: k.sock}
	}
	if s.namer != nil {
		if info := s.namer.lookup(k.cookie, k.inum); info != nil {
			d.Netns.Name, d.Netns.Process, d.Netns.Current, d.Netns.Host = info.name, info.process, info.current, info.host
			d.Interface = s.namer.ifname(k.cookie, info, k.ifindex)
		}
	}
	return d
}

// readBatch is the number of rows read per system call.
const readBatch = 256

// read sums the per-CPU counts of every row and of the map-full counter.
// Rows are read in batches (BPF_MAP_LOOKUP_BATCH, Linux 5.6), one by one
// on kernels without it.
func (m *maps) read() (map[key]uint64, uint64, error) {
	cpus, err := ebpf.PossibleCPU()
	if err != nil {
		return nil, 0, err
	}
	out := map[key]uint64{}
	keys := make([][keySize]byte, readBatch)
	vals := make([]uint64, readBatch*cpus)
	var cursor ebpf.MapBatchCursor
	for {
		n, err := m.counts.BatchLookup(&cursor, keys, vals, nil)
		for i := range n {
			k, kerr := decodeKey(keys[i][:])
			if kerr != nil {
				return nil, 0, kerr
			}
			out[k] = sum(vals[i*cpus : (i+1)*cpus])
		}
		if errors.Is(err, ebpf.ErrNotSupported) {
			out, err = m.readEach()
			if err == nil {
				break
			}
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			break
		}
		if err != nil {
			return nil, 0, fmt.Errorf("read the drops map: %w", err)
		}
	}
	var full []uint64
	if err := m.full.Lookup(uint32(0), &full); err != nil {
		return nil, 0, fmt.Errorf("read the map-full counter: %w", err)
	}
	return out, sum(full), nil
}

// readEach reads the rows one by one.
func (m *maps) readEach() (map[key]uint64, error) {
	out := map[key]uint64{}
	var kb [keySize]byte
	var vals []uint64
	it := m.counts.Iterate()
	for it.Next(&kb, &vals) {
		k, err := decodeKey(kb[:])
		if err != nil {
			return nil, err
		}
		out[k] = sum(vals)
	}
	return out, it.Err()
}

func sum(vals []uint64) uint64 {
	var n uint64
	for _, v := range vals {
		n += v
	}
	return n
}

// need names what would enable source k after it failed with err.
func need(k Kind, err error) string {
	var tracefsDenied bool
	var pe *fs.PathError
	if errors.As(err, &pe) && strings.Contains(pe.Path, "events/skb/kfree_skb") && errors.Is(err, fs.ErrPermission) {
		tracefsDenied = true
	}
	switch {
	case errors.Is(err, ErrNoReasons):
		return "Linux 5.17 or later (kfree_skb drop reasons)"
	case errors.Is(err, errNoTracefs):
		return "tracefs mounted: mount -t tracefs nodev /sys/kernel/tracing"
	case tracefsDenied:
		return "read access to tracefs events/skb/kfree_skb (root, or tracefs mounted with gid=GROUP of the user)"
	case k == KindBTF && errors.Is(err, btf.ErrNotSupported):
		return "a kernel with BTF (CONFIG_DEBUG_INFO_BTF=y, /sys/kernel/btf/vmlinux)"
	case errors.Is(err, fs.ErrPermission) && k == KindPerf:
		return "CAP_PERFMON, or kernel.perf_event_paranoid=-1 (now " + paranoid() + ")"
	case errors.Is(err, fs.ErrPermission):
		return "CAP_BPF and CAP_PERFMON (or root)"
	}
	return ""
}

func paranoid() string {
	b, err := os.ReadFile("/proc/sys/kernel/perf_event_paranoid")
	if err != nil {
		return "unreadable"
	}
	return strings.TrimSpace(string(b))
}

// raiseMemlock lifts RLIMIT_MEMLOCK before the first BPF object is made:
// kernels before 5.11 charge BPF memory to it (later ones to the cgroup,
// where the limit changes nothing). Without CAP_SYS_RESOURCE it fails and
// the limit stays; a map too large for it then fails to load and says so.
// cilium/ebpf's rlimit package does the same after probing the kernel, a
// probe its init runs in every netdx process, BPF or not.
func raiseMemlock() {
	_ = unix.Setrlimit(unix.RLIMIT_MEMLOCK, &unix.Rlimit{Cur: unix.RLIM_INFINITY, Max: unix.RLIM_INFINITY})
}
