package collectors

import (
	"context"
	"testing"
	"time"

	"github.com/netdx/netdx/internal/mptcplab"
)

// BenchmarkMPTCPCollect is one MPTCP collection in a lab namespace with two
// endpoints: sysctls, the path manager over generic netlink, the MPTCP
// sock_diag dump and the interface list; with a connection, also the TCP
// dump that finds its two subflows.
func BenchmarkMPTCPCollect(b *testing.B) {
	ctx := context.Background()
	w := mptcplab.NewTwoWAN(b)
	if err := w.ConfigureBonding(); err != nil {
		b.Fatal(err)
	}
	src := &Sources{ProcPath: "/proc"}
	loop := func(b *testing.B) {
		err := w.Client.Do(func() error {
			for b.Loop() {
				if err := (mptcpCollector{}).Collect(ctx, src, &Snapshot{}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.Run("no-connections", loop)
	conn, err := w.Connect(ctx, 8080)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	if err := mptcplab.Wait(ctx, 10*time.Second, "two subflows", func() (bool, error) {
		snap := collectMPTCPIn(b, w.Client)
		c, err := mptcpOnlyConn(snap)
		return err == nil && len(c.Subflows) == 2, nil
	}); err != nil {
		b.Fatal(err)
	}
	b.Run("one-connection", loop)
	w.PlainConns(b, 9090, 1000)
	b.Run("one-connection-1000-plain-tcp", loop)
}

// BenchmarkMPTCPDecode is the decoding part alone, over the recording.
func BenchmarkMPTCPDecode(b *testing.B) {
	raw := mptcpRecording(b, "bonded")
	for b.Loop() {
		if _, errs := decodeMPTCP(raw); len(errs) != 0 {
			b.Fatal(errs)
		}
	}
}
