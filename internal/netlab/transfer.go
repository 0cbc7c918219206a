package netlab

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// WaitTCPClosed waits until no TCP socket in n with local or remote port
// port is in a state other than TIME_WAIT or CLOSE (listeners count as
// open): every segment of the connections on that port has been sent and
// acknowledged. It reads /proc/net/tcp and tcp6 inside n.
func (n *NS) WaitTCPClosed(ctx context.Context, port uint16) error {
	for {
		open := 0
		for _, name := range []string{"tcp", "tcp6"} {
			b, err := n.ReadNetFile(name)
			if err != nil {
				return err
			}
			open += openSockets(b, port)
		}
		if open == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d TCP sockets on port %d in %s still open: %w", open, port, n.Name, ctx.Err())
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// openSockets counts the sockets of a /proc/net/tcp table on port whose
// state is neither TIME_WAIT (06) nor CLOSE (07).
func openSockets(table []byte, port uint16) int {
	sc := bufio.NewScanner(bytes.NewReader(table))
	sc.Scan() // header
	want := fmt.Sprintf(":%04X", port)
	n := 0
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 {
			continue
		}
		if !strings.HasSuffix(f[1], want) && !strings.HasSuffix(f[2], want) {
			continue
		}
		if st, err := strconv.ParseUint(f[3], 16, 8); err == nil && st != 6 && st != 7 {
			n++
		}
	}
	return n
}

// TransferSpec is a bulk TCP transfer from a path's prober to its target
// through one router whose relay impairs the data, recorded at both ends.
type TransferSpec struct {
	// V6 sends over IPv6; VXLAN through a VXLAN tunnel (VNI 42) between
	// prober and target whose outer packets cross the router.
	V6, VXLAN bool
	// Impair is the router's impairment; its Match is set to the
	// transfer's data segments (inside the tunnel's outer packets with
	// VXLAN).
	Impair Impairment
	// NoOffload turns TSO and GSO off on the prober's interface, so its
	// recording holds wire-size segments only.
	NoOffload bool
	Size      int64
	Port      uint16
	// Dir receives sender.pcap (the prober's interface) and
	// receiver.pcap (the target's).
	Dir string
}

// RecordedTransfer is a finished transfer, its recordings and its truth.
type RecordedTransfer struct {
	Transfer
	SenderPcap, ReceiverPcap string
	SenderRec, ReceiverRec   RecordStats
	// Kernel is the change in the prober's (the sender's) counters over
	// the transfer, ReceiverKernel in the target's; Relay what the
	// router's relay did.
	Kernel, ReceiverKernel Counters
	Relay                  RelayStats
}

// RecordTransfer builds a path prober — router — target, runs the transfer
// while recording both ends, waits until the connection has closed on both
// sides and the relay holds nothing, then reads the truth and stops the
// recordings. It fails the test when a recording lost a frame or the
// relay's queue a packet.
func RecordTransfer(t testing.TB, spec TransferSpec) *RecordedTransfer {
	t.Helper()
	imp := spec.Impair
	imp.Match = TCPDataTo(spec.Port)
	if spec.VXLAN {
		imp.Match = VXLANInner(imp.Match)
	}
	p := NewPath(t, PathSpec{Routers: []RouterSpec{{Impair: imp}}})
	dst := p.TargetAddr.V4
	if spec.VXLAN {
		vx := NewVXLAN(t, p.Prober, p.Target, p.ProberAddr.V4, p.TargetAddr.V4, 42)
		dst = vx.B.V4
		if spec.V6 {
			dst = vx.B.V6
		}
	} else if spec.V6 {
		dst = p.TargetAddr.V6
	}
	if spec.NoOffload {
		if err := p.Prober.SetOffloads(p.ProberIface, false); err != nil {
			t.Fatal(err)
		}
	}
	r := &RecordedTransfer{SenderPcap: filepath.Join(spec.Dir, "sender.pcap"),
		ReceiverPcap: filepath.Join(spec.Dir, "receiver.pcap")}
	snd, err := p.Prober.Record(p.ProberIface, r.SenderPcap, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer snd.Stop()
	rcv, err := p.Target.Record(p.TargetIface, r.ReceiverPcap, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rcv.Stop()
	before, err := p.Prober.Counters()
	if err != nil {
		t.Fatal(err)
	}
	rbefore, err := p.Target.Counters()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if r.Transfer, err = BulkTCP(ctx, p.Prober, p.Target, netip.AddrPortFrom(dst, spec.Port), spec.Size); err != nil {
		t.Fatal(err)
	}
	// The last ACKs (a D-SACK among them) may still be on their way: the
	// truth is read once nothing of the connection is left anywhere.
	for _, ns := range []*NS{p.Prober, p.Target} {
		if err := ns.WaitTCPClosed(ctx, spec.Port); err != nil {
			t.Fatal(err)
		}
	}
	r.Relay = p.Hops[0][0].Relay.Settled(2 * time.Second)
	if r.Relay.QueueDropped != 0 {
		t.Fatalf("the relay's TUN queue dropped %d packets before the relay read them: a loss its counts miss", r.Relay.QueueDropped)
	}
	after, err := p.Prober.Counters()
	if err != nil {
		t.Fatal(err)
	}
	r.Kernel = after.Sub(before)
	rafter, err := p.Target.Counters()
	if err != nil {
		t.Fatal(err)
	}
	r.ReceiverKernel = rafter.Sub(rbefore)
	if r.SenderRec, err = snd.Stop(); err != nil {
		t.Fatal(err)
	}
	if r.ReceiverRec, err = rcv.Stop(); err != nil {
		t.Fatal(err)
	}
	for name, st := range map[string]RecordStats{"sender": r.SenderRec, "receiver": r.ReceiverRec} {
		if st.Drops != 0 || st.Written != st.Kernel {
			t.Fatalf("%s recording incomplete: %+v", name, st)
		}
	}
	return r
}
